from __future__ import annotations

from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import Click, ShortLink
from .services import short_link_changed, short_url


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
