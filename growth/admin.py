"""Keywords and sign-up forms in the admin, tenant-scoped; each with its QR code (SVG, PNG) to download, a form with
its public address and the snippet to embed it."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from tenants.admin_scoping import TenantScopedAdmin, request_tenant

from .models import Keyword, SignupForm
from .qr import FORMATS, qr_image
from .selectors import embed_snippet, keyword_number, keyword_sms_link, signup_form_url
from .services import keyword_word_clean, tags_clean


class KeywordAdminForm(forms.ModelForm):
    tenant_for_check = None  # set per request by KeywordAdmin.get_form (a superuser picks the tenant in the form)

    class Meta:
        model = Keyword
        fields = ("tenant", "word", "auto_reply", "tags", "ask_consent", "sms_number", "active")

    def clean(self):
        cleaned = super().clean()
        tenant = self.tenant_for_check or cleaned.get("tenant")
        word = cleaned.get("word")
        if tenant is not None and word is not None:
            try:
                cleaned["word"] = keyword_word_clean(tenant=tenant, word=word, keyword_id=self.instance.pk)
            except ValidationError as exc:
                self.add_error(None, exc)
        cleaned["tags"] = tags_clean(cleaned.get("tags") or [])
        return cleaned


class _QrAdmin(TenantScopedAdmin):
    """``<id>/qr.svg`` and ``<id>/qr.png``: the row's QR code, for whoever may see the row (another tenant's: 404)."""

    qr_name = "qr"

    def qr_data(self, obj) -> str:
        raise NotImplementedError

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path(
                "<path:object_id>/qr.<str:fmt>",
                self.admin_site.admin_view(self.qr_view),
                name="{}_{}_qr".format(*info),
            ),
            *super().get_urls(),
        ]

    def qr_view(self, request, object_id, fmt):
        obj = self.get_object(request, object_id)
        if obj is None or fmt not in FORMATS or not self.has_view_permission(request, obj):
            raise Http404
        data = self.qr_data(obj)
        if not data:
            raise Http404
        response = HttpResponse(qr_image(data, fmt=fmt), content_type=FORMATS[fmt])
        response["Content-Disposition"] = f'attachment; filename="{self.qr_filename(obj)}.{fmt}"'
        return response

    def qr_filename(self, obj) -> str:
        return f"{self.qr_name}-{obj.pk}"

    def _qr_links(self, obj):
        info = self.model._meta.app_label, self.model._meta.model_name
        svg = reverse("admin:{}_{}_qr".format(*info), args=[obj.pk, "svg"])
        png = reverse("admin:{}_{}_qr".format(*info), args=[obj.pk, "png"])
        return format_html(
            '<img src="{}" width="180" height="180" alt="QR code"><br>'
            '<a href="{}" download>Download SVG</a> (print, any size) · <a href="{}" download>Download PNG</a>',
            svg,
            svg,
            png,
        )


@admin.register(Keyword)
class KeywordAdmin(_QrAdmin):
    form = KeywordAdminForm
    list_display = ("word", "auto_reply_preview", "tags_list", "ask_consent", "active", "updated_at")
    list_filter = ("active", "ask_consent")
    search_fields = ("word", "auto_reply")
    readonly_fields = ("qr_code",)
    fieldsets = (
        (None, {"fields": ("word", "auto_reply", "tags", "ask_consent", "active")}),
        ("QR code", {"fields": ("sms_number", "qr_code")}),
    )
    qr_name = "keyword"

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.tenant_for_check = request_tenant(request)
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            fieldsets = ((None, {"fields": ("tenant",)}), *fieldsets)
        return fieldsets

    def qr_data(self, obj) -> str:
        return keyword_sms_link(obj) if keyword_number(obj) else ""

    def qr_filename(self, obj) -> str:
        return f"keyword-{obj.word}"

    @admin.display(description="auto-reply")
    def auto_reply_preview(self, obj):
        return obj.auto_reply[:80]

    @admin.display(description="tags")
    def tags_list(self, obj):
        return ", ".join(obj.tags)

    @admin.display(description="QR code")
    def qr_code(self, obj):
        if obj is None or obj.pk is None:
            return "Save the keyword to get its QR code."
        if not keyword_number(obj):
            return "The tenant sends through a Messaging Service: enter the number people text this keyword to."
        return format_html(
            "{}<br>Opens a text to {} with {} filled in.", self._qr_links(obj), keyword_number(obj), obj.word
        )


class SignupFormAdminForm(forms.ModelForm):
    class Meta:
        model = SignupForm
        fields = (
            "tenant",
            "slug",
            "title",
            "intro",
            "ask_first_name",
            "ask_last_name",
            "ask_email",
            "custom_fields",
            "tags",
            "disclosure_text",
            "success_text",
            "double_opt_in",
            "active",
        )

    def clean(self):
        cleaned = super().clean()
        cleaned["tags"] = tags_clean(cleaned.get("tags") or [])
        cleaned["custom_fields"] = tags_clean(cleaned.get("custom_fields") or [])
        return cleaned


@admin.register(SignupForm)
class SignupFormAdmin(_QrAdmin):
    form = SignupFormAdminForm
    list_display = ("title", "slug", "double_opt_in", "active", "public_link", "updated_at")
    list_filter = ("active", "double_opt_in")
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("public_address", "embed", "qr_code", "disclosure_version")
    fieldsets = (
        (None, {"fields": ("title", "slug", "intro", "active")}),
        ("Fields", {"fields": ("ask_first_name", "ask_last_name", "ask_email", "custom_fields", "tags")}),
        ("Consent", {"fields": ("disclosure_text", "disclosure_version", "double_opt_in", "success_text")}),
        ("Share", {"fields": ("public_address", "embed", "qr_code")}),
    )
    qr_name = "form"

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            fieldsets = ((None, {"fields": ("tenant",)}), *fieldsets)
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        tenant = request_tenant(request)

        def clean_slug(self):
            slug = self.cleaned_data["slug"]
            owner = tenant or self.cleaned_data.get("tenant") or getattr(self.instance, "tenant", None)
            if owner is not None:
                taken = SignupForm.objects.filter(tenant=owner, slug=slug).exclude(pk=self.instance.pk)
                if taken.exists():
                    raise ValidationError("You already have a form with this address.")
            return slug

        form.clean_slug = clean_slug
        return form

    def qr_data(self, obj) -> str:
        return signup_form_url(obj)

    def qr_filename(self, obj) -> str:
        return f"form-{obj.slug}"

    @admin.display(description="public page")
    def public_link(self, obj):
        return format_html('<a href="{}" target="_blank" rel="noopener">open</a>', signup_form_url(obj))

    @admin.display(description="public address")
    def public_address(self, obj):
        if obj is None or obj.pk is None:
            return "Save the form to get its address."
        url = signup_form_url(obj)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description="embed on your site")
    def embed(self, obj):
        if obj is None or obj.pk is None:
            return "Save the form to get its snippet."
        return format_html(
            '<textarea readonly rows="3" cols="80" class="vLargeTextField" aria-label="Embed snippet">{}</textarea>'
            "<br>Paste this HTML into your site's page where the form should appear.",
            embed_snippet(obj),
        )

    @admin.display(description="QR code")
    def qr_code(self, obj):
        if obj is None or obj.pk is None:
            return "Save the form to get its QR code."
        return format_html("{}<br>Opens {}.", self._qr_links(obj), signup_form_url(obj))
