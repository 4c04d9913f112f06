"""Message templates in the admin: a name, a body, a link and media picked from the library (no JSON)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from campaigns.authoring import CampaignError
from campaigns.models import MessageTemplate
from campaigns.msgtemplates import template_check, template_create, template_update
from media.models import MediaFile
from media.widgets import MediaPicker
from tenants.admin_scoping import TenantScopedAdmin, request_tenant
from tenants.models import Tenant


class MessageTemplateForm(forms.ModelForm):
    """Checked by ``campaigns.msgtemplates`` as a campaign's message is; errors land on their fields."""

    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        required=False,
        strip=False,
        help_text="Merge fields as in a campaign: {{first_name|there}}, any custom field ({{city}}), {{link}}.",
    )
    media_files = forms.ModelMultipleChoiceField(
        queryset=MediaFile.objects.none(), required=False, widget=MediaPicker, label="Media"
    )
    request_tenant: Tenant | None = None

    class Meta:
        model = MessageTemplate
        fields = ["tenant", "name", "body", "link_url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["media_files"] = list(self.instance.media or [])

    def clean(self):
        data = super().clean()
        tenant = self.request_tenant or data.get("tenant") or getattr(self.instance, "tenant", None)
        if tenant is None:
            return data
        given = {
            "name": data.get("name") or "",
            "body": data.get("body") or "",
            "link_url": data.get("link_url") or "",
            "media": [m.pk for m in data.get("media_files") or []],
        }
        try:  # checked only: save_model writes it through the service
            template_check(tenant=tenant, exclude_pk=self.instance.pk, **given)
        except CampaignError as exc:
            for name, messages in exc.errors.items():
                name = "media_files" if name == "media" else name
                self.add_error(name if name in self.fields else None, messages)
        self.given = given
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(TenantScopedAdmin):
    form = MessageTemplateForm
    list_display = ("name", "body", "updated_at")
    search_fields = ("name", "body")
    readonly_fields = ("created_by", "created_at", "updated_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        tenant = request_tenant(request)
        library = MediaFile.objects.all() if tenant is None else MediaFile.objects.filter(tenant=tenant)
        if obj is not None:
            library = library.filter(tenant_id=obj.tenant_id)

        class Scoped(form):
            request_tenant = tenant

        old = Scoped.base_fields["media_files"]
        Scoped.base_fields["media_files"] = forms.ModelMultipleChoiceField(
            queryset=library, required=False, widget=MediaPicker, label=old.label
        )
        return Scoped

    def get_fieldsets(self, request, obj=None):
        main = ["name", "body", "link_url", "media_files"]
        if request.user.is_superuser:
            main.insert(0, "tenant")
        if obj is not None and not self.has_change_permission(request, obj):
            main = ["name", "body", "link_url"]
        return ((None, {"fields": main}), ("Record", {"fields": list(self.readonly_fields), "classes": ("collapse",)}))

    def save_model(self, request, obj, form, change):
        given = form.given
        if change:
            saved = template_update(template=obj, **given)
        else:
            tenant = request_tenant(request) or form.cleaned_data.get("tenant")
            saved = template_create(tenant=tenant, user=request.user, **given)
        form.instance = saved
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # media ids live on the row
