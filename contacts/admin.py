from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from compliance.services import consent_status_changed
from tenants.admin_scoping import TenantScopedAdmin, request_tenant
from tenants.models import Tenant

from .importing import ImportFileError
from .models import ConsentStatus, Contact, ContactImport, ImportStatus, Tag
from .phone import InvalidPhoneNumber, phone_normalize, timezone_for_number, timezone_is_valid
from .services import contact_import_start


@admin.register(Tag)
class TagAdmin(TenantScopedAdmin):
    list_display = ("name",)
    search_fields = ("name",)


class TagFilter(admin.SimpleListFilter):
    """Filter by tag, offering only the viewer's tenant's tags."""

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = Tag.objects.all()
        tenant = request_tenant(request)
        if tenant is not None:
            tags = tags.filter(tenant=tenant)
        return [(str(t.pk), t.name) for t in tags.order_by("name")[:200]]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(tags__pk=int(self.value()))
        return queryset


class ContactAdminForm(forms.ModelForm):
    """Normalizes the number to E.164 (in the tenant's country) and refuses duplicates, naming the field."""

    class Meta:
        model = Contact
        fields = [
            "tenant",
            "phone_number",
            "first_name",
            "last_name",
            "email",
            "timezone",
            "tags",
            "consent_status",
            "consent_source",
            "consent_at",
            "consent_text",
            "custom_fields",
        ]

    def clean(self):
        data = super().clean()
        tenant = data.get("tenant") or getattr(self, "request_tenant", None) or getattr(self.instance, "tenant", None)
        raw = data.get("phone_number")
        if raw and tenant is not None:
            try:
                number = phone_normalize(raw, default_country=tenant.default_country)
            except InvalidPhoneNumber as exc:
                self.add_error("phone_number", str(exc))
            else:
                data["phone_number"] = number
                clash = Contact.objects.filter(tenant=tenant, phone_number=number).exclude(pk=self.instance.pk)
                if clash.exists():
                    self.add_error("phone_number", "A contact with this phone number already exists.")
        zone = data.get("timezone")
        if zone and not timezone_is_valid(zone):
            self.add_error("timezone", f"{zone!r} is not an IANA time zone such as America/New_York.")
        return data


@admin.register(Contact)
class ContactAdmin(TenantScopedAdmin):
    list_display = ("phone_number", "first_name", "last_name", "tag_list", "consent_status", "timezone", "created_at")
    list_filter = ("consent_status", TagFilter, "created_at")
    search_fields = ("phone_number", "first_name", "last_name", "email")
    filter_horizontal = ("tags",)
    readonly_fields = ("created_at", "updated_at")
    change_list_template = "admin/contacts/contact/change_list.html"
    form = ContactAdminForm
    fieldsets = (
        (None, {"fields": ("tenant", "phone_number", "first_name", "last_name", "email", "timezone", "tags")}),
        ("Consent", {"fields": ("consent_status", "consent_source", "consent_at", "consent_text")}),
        ("More", {"fields": ("custom_fields", "created_at", "updated_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            return self.fieldsets
        first = dict(self.fieldsets[0][1])
        first["fields"] = tuple(f for f in first["fields"] if f != "tenant")
        return ((None, first),) + self.fieldsets[1:]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tags")

    @admin.display(description="tags")
    def tag_list(self, obj: Contact) -> str:
        return ", ".join(t.name for t in obj.tags.all())

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        tenant = request_tenant(request)

        class Scoped(form):
            request_tenant = tenant

        phone = Scoped.base_fields.get("phone_number")
        if phone is not None:
            phone.help_text = "Any format; national numbers are read in the tenant's default country."
        return Scoped

    def save_model(self, request, obj, form, change):
        if not obj.timezone:
            obj.timezone = timezone_for_number(obj.phone_number)
        before = Contact.objects.filter(pk=obj.pk).values_list("consent_status", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        # The consent ledger, and a revocation's suppression, as through every other door.
        consent_status_changed(
            tenant=obj.tenant,
            contact=obj,
            before=before or ConsentStatus.UNKNOWN,
            after=obj.consent_status,
            source="admin",
        )


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A CSV with a header row: phone_number (required), first_name, last_name, email, "
        "timezone, tags (separated by ;), consent_status, consent_source, consent_at, consent_text; "
        "other columns become custom fields. UTF-8; Excel's 'CSV UTF-8' is fine."
    )
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.all(), required=False)


@admin.register(ContactImport)
class ContactImportAdmin(TenantScopedAdmin):
    """Uploads and their progress. Adding one is uploading a CSV; large files run in a worker."""

    list_display = ("__str__", "progress", "created", "updated", "error_count", "created_at")
    list_filter = ("status",)
    exclude = ("data",)
    readonly_fields = (
        "file_name",
        "status",
        "total_rows",
        "processed_rows",
        "created",
        "updated",
        "error_count",
        "failure",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("data")

    @admin.display(description="progress")
    def progress(self, obj: ContactImport) -> str:
        return format_html('<progress max="100" value="{}"></progress> {}%', obj.percent, obj.percent)

    def has_change_permission(self, request, obj=None):
        return False  # an import is a record; a new file is a new import

    def has_add_permission(self, request):
        return TenantScopedAdmin.has_change_permission(self, request)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            return self._forbidden()
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if not request.user.is_superuser:
            del form.fields["tenant"]
        if request.method == "POST" and form.is_valid():
            tenant = form.cleaned_data.get("tenant") if request.user.is_superuser else request.user.tenant
            if tenant is None:
                form.add_error("tenant", "Pick the tenant to import into.")
            else:
                upload = form.cleaned_data["file"]
                try:
                    job = contact_import_start(
                        tenant=tenant,
                        fileobj=upload,
                        file_name=upload.name,
                        user=request.user,
                        inline_if_small=True,
                    )
                except ImportFileError as exc:
                    form.add_error("file", str(exc))
                else:
                    messages.info(request, "Import started." if job.status != ImportStatus.DONE else "Imported.")
                    return HttpResponseRedirect(reverse("admin:contacts_contactimport_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import contacts from CSV",
            "form": form,
            "opts": self.model._meta,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/contacts/contactimport/upload.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        if job is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_view_permission(request, job):
            return self._forbidden()
        context = {
            **self.admin_site.each_context(request),
            "title": str(job),
            "job": job,
            "opts": self.model._meta,
            "running": job.status in (ImportStatus.PENDING, ImportStatus.RUNNING),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/contacts/contactimport/progress.html", context)

    def _forbidden(self):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
