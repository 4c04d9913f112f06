from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from tenants.admin_scoping import TenantScopedAdmin, request_tenant

from .models import Click, LinkDomain, LinkExpiry, ShortLink
from .services import (
    link_domain_create,
    link_domain_delete,
    link_domain_host_check,
    link_domain_update,
    link_domain_verify,
    link_expiry_set,
    short_link_changed,
    short_url,
)
from .verification import challenge_url, txt_name


@admin.register(ShortLink)
class ShortLinkAdmin(TenantScopedAdmin):
    list_display = (
        "code",
        "target_url",
        "campaign",
        "human_clicks",
        "clicked",
        "bot_hits",
        "last_clicked_at",
        "created_at",
        "expires_at",
    )
    list_filter = (("campaign", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("code", "target_url")
    raw_id_fields = ("message", "campaign")
    readonly_fields = ("short_url", "human_clicks", "bot_hits", "first_clicked_at", "last_clicked_at", "created_at")
    list_select_related = ("campaign",)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "code"] if obj is not None else fields

    @admin.display(boolean=True, description="clicked (unique)")
    def clicked(self, obj: ShortLink) -> bool:
        return bool(obj.human_clicks)

    @admin.display(description="short URL")
    def short_url(self, obj: ShortLink) -> str:
        return short_url(obj.code) if obj.code else ""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:
            short_link_changed(link=obj)


@admin.register(Click)
class ClickAdmin(TenantScopedAdmin):
    """Clicks are facts: read-only, filtered by what people ask of them."""

    list_display = (
        "clicked_at",
        "link",
        "campaign",
        "is_bot",
        "bot_reason",
        "is_unique",
        "device_type",
        "os_family",
        "browser_family",
        "country",
    )
    list_filter = (
        "is_bot",
        "is_unique",
        "device_type",
        "os_family",
        "browser_family",
        "country",
        ("campaign", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("link__code", "user_agent", "bot_reason")
    date_hierarchy = "clicked_at"
    list_select_related = ("link", "campaign")
    raw_id_fields = ("link", "campaign", "message", "contact")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class LinkDomainAdminForm(forms.ModelForm):
    tenant_for_check = None  # set per request by LinkDomainAdmin.get_form (a superuser picks the tenant in the form)

    class Meta:
        model = LinkDomain
        fields = ("tenant", "host", "method", "active")

    def clean(self):
        cleaned = super().clean()
        tenant = self.tenant_for_check or cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        host = cleaned.get("host")
        if self.instance.pk is None and tenant is not None and host:
            try:
                cleaned["host"] = link_domain_host_check(tenant=tenant, host=host)
            except ValidationError as exc:
                self.add_error("host", exc.message_dict["host"])
        return cleaned


@admin.register(LinkDomain)
class LinkDomainAdmin(TenantScopedAdmin):
    """Domains page: add a domain, read the DNS/HTTP instructions with its token, Verify now, see its status."""

    form = LinkDomainAdminForm
    change_form_template = "admin/links/linkdomain/change_form.html"
    list_display = ("host", "status", "method", "active", "last_checked_at", "created_at")
    list_filter = ("method", "active")
    search_fields = ("host",)
    actions = ["verify_selected"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.tenant_for_check = request_tenant(request)
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("host", "status", "how_to_verify", "verified_at", "last_checked_at", "last_error")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fields = (
                ("tenant", "host", "method", "active") if request.user.is_superuser else ("host", "method", "active")
            )
            return ((None, {"fields": fields, "description": "Add the domain, then follow the steps shown."}),)
        return (
            (None, {"fields": ("host", "status", "method", "active")}),
            ("How to verify", {"fields": ("how_to_verify",)}),
            ("Last check", {"fields": ("verified_at", "last_checked_at", "last_error")}),
        )

    def save_model(self, request, obj, form, change):
        if change:
            link_domain_update(domain=obj, method=obj.method, active=obj.active)
            return
        tenant = request_tenant(request) or form.cleaned_data["tenant"]
        created = link_domain_create(tenant=tenant, host=obj.host, method=obj.method, active=obj.active)
        obj.pk, obj.token, obj.tenant_id = created.pk, created.token, created.tenant_id

    def delete_model(self, request, obj):
        link_domain_delete(domain=obj)

    def delete_queryset(self, request, queryset):
        for domain in queryset:
            link_domain_delete(domain=domain)

    @admin.display(description="status")
    def status(self, obj: LinkDomain) -> str:
        if obj.verified_at:
            return "Verified" + (" (last check failed)" if obj.last_error else "")
        return "Failed: see the last check" if obj.last_error else "Waiting for verification"

    @admin.display(description="steps")
    def how_to_verify(self, obj: LinkDomain):
        target = urlsplit(settings.SHORT_LINK_BASE_URL).hostname or ""
        return format_html(
            "<ol>"
            "<li>At your DNS provider, point <strong>{}</strong> at this platform: a <code>CNAME</code> record "
            "to <code>{}</code>.</li>"
            "<li>{}</li>"
            "<li>Press <strong>Verify now</strong> (DNS changes can take a while to show).</li>"
            "</ol>",
            obj.host,
            target,
            format_html(
                "Add a <code>TXT</code> record named <code>{}</code> with the value <code>{}</code>.",
                txt_name(obj.host),
                obj.token,
            )
            if obj.method == "dns"
            else format_html(
                "Nothing more: once the CNAME works, this platform answers <code>{}</code> with the token.",
                challenge_url(obj.host, obj.token),
            ),
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/verify/",
                self.admin_site.admin_view(self.verify_view),
                name="links_linkdomain_verify",
            ),
            *super().get_urls(),
        ]

    def verify_view(self, request, object_id):
        """POST: check the domain now (outside any transaction: it asks DNS or fetches the token)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        domain = self.get_object(request, object_id)
        if domain is None:
            raise Http404
        if not self.has_change_permission(request, domain):
            raise PermissionDenied
        self._verify_one(request, domain)
        return HttpResponseRedirect(reverse("admin:links_linkdomain_change", args=[domain.pk]))

    def _verify_one(self, request, domain: LinkDomain) -> None:
        domain = link_domain_verify(domain=domain)
        if domain.last_error:
            self.message_user(request, f"{domain.host}: not verified. {domain.last_error}", messages.ERROR)
        else:
            self.message_user(request, f"{domain.host} is verified: new links use it.", messages.SUCCESS)

    @admin.action(description="Verify the selected domains now")
    def verify_selected(self, request, queryset):
        for domain in queryset:
            self._verify_one(request, domain)


class LinkExpiryAdminForm(forms.ModelForm):
    class Meta:
        model = LinkExpiry
        fields = ("tenant", "campaign", "expires_at", "ttl_days")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("expires_at") is not None and cleaned.get("ttl_days") is not None:
            raise ValidationError("Give an expiry time or a number of days, not both.")
        if cleaned.get("expires_at") is None and cleaned.get("ttl_days") is None:
            raise ValidationError("Give an expiry time or a number of days.")
        return cleaned


@admin.register(LinkExpiry)
class LinkExpiryAdmin(TenantScopedAdmin):
    """When a campaign's links stop working (an expired link shows a page with the tenant's name)."""

    form = LinkExpiryAdminForm
    list_display = ("campaign", "expires_at", "ttl_days", "updated_at")
    list_select_related = ("campaign",)

    def get_readonly_fields(self, request, obj=None):
        return ("campaign",) if obj is not None else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "campaign" and request_tenant(request) is not None:
            field.queryset = field.queryset.filter(tenant=request_tenant(request))
        return field

    def save_model(self, request, obj, form, change):
        from campaigns.models import Campaign

        campaign = Campaign.objects.get(pk=obj.campaign_id)
        if request_tenant(request) is not None and campaign.tenant_id != request_tenant(request).pk:
            raise PermissionDenied
        saved = link_expiry_set(campaign=campaign, expires_at=obj.expires_at, ttl_days=obj.ttl_days)
        obj.pk = saved.pk if saved is not None else None

    def delete_model(self, request, obj):
        link_expiry_set(campaign=obj.campaign)
