"""Admin: endpoints (secret masked), events, deliveries with their attempts log and replay, conversions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from tenants.admin_scoping import TenantReadOnlyInline, TenantScopedAdmin

from . import outbound, services
from .models import Conversion, DeliveryAttempt, Event, EventDelivery, EventSubscription, EventType


class EventSubscriptionForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(choices=EventType.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = EventSubscription
        # "tenant" is for superusers; TenantScopedAdmin removes it for tenant users.
        fields = ["tenant", "url", "event_types", "description", "active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            outbound.url_check_syntax(url)
        except outbound.UnsafeTarget as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


@admin.register(EventSubscription)
class EventSubscriptionAdmin(TenantScopedAdmin):
    form = EventSubscriptionForm
    list_display = ("url", "event_list", "active", "disabled_reason", "failing_since")
    list_filter = ("active",)
    readonly_fields = ("secret_on_file", "disabled_reason", "failing_since", "consecutive_failures", "paused_until")
    actions = ["enable_endpoints", "rotate_secrets"]

    @admin.display(description="Events")
    def event_list(self, obj):
        return ", ".join(obj.event_types or [])

    @admin.display(description="Secret")
    def secret_on_file(self, obj):
        return obj.secret_masked or "—"

    def save_model(self, request, obj, form, change):
        created = obj.pk is None
        if created:
            from .signing import secret_generate

            obj.secret = secret_generate()
        was_active = bool(change and EventSubscription.objects.filter(pk=obj.pk, active=True).exists())
        super().save_model(request, obj, form, change)
        if change and obj.active and not was_active:
            services.subscription_enable(subscription=obj)
        if created:
            # The only time the whole secret is shown.
            self.message_user(request, f"Signing secret (copy it now, it is not shown again): {obj.secret}")

    @admin.action(description="Enable the selected endpoints", permissions=["change"])
    def enable_endpoints(self, request, queryset):
        for subscription in queryset:
            services.subscription_enable(subscription=subscription)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.")

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secrets(self, request, queryset):
        for subscription in queryset:
            secret = services.subscription_rotate_secret(subscription=subscription)
            self.message_user(request, f"New secret for {subscription.url}: {secret}")


class DeliveryAttemptInline(TenantReadOnlyInline, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "started_at", "succeeded", "status_code", "latency_ms", "error", "response_excerpt")
    readonly_fields = fields


class ReadOnlyMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("id", "event_type", "subscription", "contact_id", "status", "attempts", "next_attempt_at")
    list_filter = ("status",)
    list_select_related = ("event", "subscription")
    search_fields = ("=event__id",)
    readonly_fields = (
        "event",
        "subscription",
        "contact_id",
        "status",
        "attempts",
        "next_attempt_at",
        "first_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "last_error",
        "replays",
        "payload",
    )
    fields = readonly_fields
    inlines = [DeliveryAttemptInline]
    actions = ["replay"]

    @admin.display(description="Event")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="Payload")
    def payload(self, obj):
        return obj.event.payload

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Replay is a write: viewers may look, marketers and admins may replay.
        if not (request.user.is_superuser or getattr(request.user, "can_edit", False)):
            actions.pop("replay", None)
        return actions

    @admin.action(description="Replay (send again now)")
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("subscription"):
            try:
                services.delivery_replay(delivery=delivery)
                done += 1
            except services.ReplayRefused as exc:
                self.message_user(request, f"Delivery #{delivery.pk}: {exc}", level=messages.WARNING)
        self.message_user(request, f"{done} deliver{'y' if done == 1 else 'ies'} queued again.")


@admin.register(Event)
class EventAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("id", "type", "contact_id", "created_at")
    list_filter = ("type",)
    readonly_fields = ("id", "type", "payload", "contact_id", "created_at")
    fields = readonly_fields


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("order_id", "value", "currency", "campaign", "contact", "code", "created_at")
    search_fields = ("order_id", "code")
    readonly_fields = ("order_id", "value", "currency", "code", "link", "contact", "campaign", "created_at")
    fields = readonly_fields
