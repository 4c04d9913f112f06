"""The Guard page and the guard's settings in the admin.

The Guard page is the guard events' list (``/admin/guard/guardevent/``), tenant-scoped like every admin page: what
the guard blocked (by reason, country or range), the caps and their use, and every automatic pause with what
triggered it, each open one with a one-click resume (a confirmation page, then a POST; audited). No inline script,
no raw JSON: the figures are a small table.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from tenants.admin_scoping import TenantScopedAdmin, may_write, request_tenant

from .geo import countries_parse
from .models import GuardEvent, GuardSettings
from .ranges import HIGH_RISK_COUNTRIES
from .selectors import allowed_countries, blocked_by_reason, guard_settings_get, high_risk_countries_allowed
from .services import NotResumable, guard_event_resume, send_over_caps
from .spend import caps_usage

#: How the figures read on the page (``GuardEvent.figures`` keys), in this order; others are left out.
FIGURE_LABELS = (
    ("reports", "Delivery reports"),
    ("filtered", "Carrier filtering (30007, 30003, 30005)"),
    ("filtered_rate", "Filtering rate"),
    ("failed", "Undelivered or failed"),
    ("failed_rate", "Failure rate"),
    ("reached", "Recipients reached"),
    ("opt_outs", "Opt-outs"),
    ("opt_out_rate", "Opt-out rate"),
    ("threshold", "Threshold crossed"),
    ("min_reports", "Judged after (reports)"),
    ("cap", "Cap"),
    ("limit", "Limit"),
    ("used", "Used"),
    ("needed", "Needed"),
)
_RATES = {"filtered_rate", "failed_rate", "opt_out_rate", "threshold"}


def figures_rows(figures: dict) -> list[tuple[str, str]]:
    rows = []
    for key, label in FIGURE_LABELS:
        if key not in figures:
            continue
        value = figures[key]
        if key in _RATES and isinstance(value, int | float):
            value = f"{value * 100:.1f}%"
        elif key == "cap":
            value = str(value).replace("_", " ")
        rows.append((label, str(value)))
    if figures.get("since_resume"):
        rows.append(("Counted", "since the last resume"))
    return rows


class GuardSettingsForm(forms.ModelForm):
    class Meta:
        model = GuardSettings
        exclude: list[str] = []

    def clean_allowed_countries(self) -> str:
        try:
            codes = countries_parse(self.cleaned_data.get("allowed_countries", ""))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return ", ".join(codes)


@admin.register(GuardSettings)
class GuardSettingsAdmin(TenantScopedAdmin):
    """A tenant's guard limits: one row, made with the defaults the first time the tenant opens it."""

    form = GuardSettingsForm
    list_display = ("__str__", "countries", "block_high_risk", "daily_segment_cap", "monthly_cost_cap", "updated_at")
    readonly_fields = ("updated_at",)
    fieldsets = (
        ("Where (geo permissions)", {"fields": ("allowed_countries", "block_high_risk")}),
        (
            "Automatic pause while sending",
            {"fields": ("anomaly_min_reports", "max_filtered_rate", "max_failed_rate", "max_opt_out_rate")},
        ),
        (
            "Compared with the tenant's history and by country",
            {
                "fields": (
                    "history_min_reports",
                    "history_multiplier",
                    "history_floor",
                    "country_min_reports",
                    "max_country_failed_rate",
                )
            },
        ),
        (
            "Spend and volume caps (empty: no cap)",
            {"fields": ("daily_segment_cap", "monthly_segment_cap", "daily_cost_cap", "monthly_cost_cap")},
        ),
        (
            "Inbound and click abuse",
            {"fields": ("inbound_burst_per_number", "inbound_burst_per_range", "click_surge_per_network")},
        ),
        (None, {"fields": ("updated_at",)}),
    )

    @admin.display(description="Allowed countries")
    def countries(self, obj: GuardSettings) -> str:
        return ", ".join(allowed_countries(tenant=obj.tenant, settings=obj))

    def changelist_view(self, request, extra_context=None):
        tenant = request_tenant(request)
        if tenant is not None:
            guard_settings_get(tenant=tenant)  # a tenant always has its row to open
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return request.user.is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # settings are changed, never removed

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        risky = sorted(set(allowed_countries(tenant=obj.tenant, settings=obj)) & HIGH_RISK_COUNTRIES)
        if risky:
            self.message_user(
                request,
                f"Allowed: {', '.join(risky)}, which Twilio lists as high risk for SMS pumping. Keep them only if "
                "your audience lives there.",
                messages.WARNING,
            )


@admin.register(GuardEvent)
class GuardEventAdmin(TenantScopedAdmin):
    """The Guard page: the list of what the guard did, with what it blocked and the caps above it."""

    change_list_template = "admin/guard/guardevent/change_list.html"
    list_display = ("created_at", "kind", "campaign_link", "reason", "state", "resume_link")
    list_filter = ("kind",)
    fields = ("created_at", "kind", "campaign_link", "reason", "figures_table", "subject", "state", "resume_link")
    readonly_fields = fields
    list_select_related = ("campaign", "resolved_by")

    def has_add_permission(self, request):
        return False

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such guard event.")  # another tenant's event is a 404, like any unknown one

    def has_change_permission(self, request, obj=None):
        return False  # a record: resumed through its own confirmation page, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Campaign")
    def campaign_link(self, obj: GuardEvent) -> str:
        if obj.campaign_id is None:
            return "—"
        url = reverse("admin:campaigns_campaign_change", args=[obj.campaign_id])
        return format_html('<a href="{}">{}</a>', url, obj.campaign.name)

    @admin.display(description="Figures")
    def figures_table(self, obj: GuardEvent) -> str:
        rows = figures_rows(obj.figures or {})
        if not rows:
            return "—"
        body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        return format_html('<table class="guard-figures">{}</table>', body)

    @admin.display(description="State")
    def state(self, obj: GuardEvent) -> str:
        if obj.resolved_at is None:
            return "Open: campaign paused" if obj.is_open_pause else "Flagged"
        who = f" by {obj.resolved_by.email}" if obj.resolved_by_id else ""
        return f"{obj.get_resolution_display()}{who}, {obj.resolved_at:%Y-%m-%d %H:%M}"

    @admin.display(description="Resume")
    def resume_link(self, obj: GuardEvent) -> str:
        if not obj.is_open_pause or obj.campaign is None or obj.campaign.status != "paused":
            return "—"
        url = reverse("admin:guard_guardevent_resume", args=[obj.pk])
        return format_html('<a class="button" href="{}">Resume…</a>', url)

    # --- the page -----------------------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        tenant = request_tenant(request)
        context = {"guard_title": "Fraud guard"}
        if tenant is not None:
            context.update(
                blocked=blocked_by_reason(tenant_id=tenant.pk),
                caps=caps_usage(tenant=tenant),
                countries=allowed_countries(tenant=tenant),
                risky_countries=high_risk_countries_allowed(tenant=tenant),
                settings_url=reverse("admin:guard_guardsettings_change", args=[guard_settings_get(tenant=tenant).pk]),
            )
            open_pauses = self.get_queryset(request).filter(kind__in=("anomaly", "cap"), resolved_at__isnull=True)
            n = open_pauses.filter(campaign__status="paused").count()
            if n:
                messages.warning(request, f"The guard has paused {n} campaign{'s' if n != 1 else ''}: see below.")
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def get_urls(self):
        return [
            path(
                "<int:event_id>/resume/",
                self.admin_site.admin_view(self.resume_view),
                name="guard_guardevent_resume",
            )
        ] + super().get_urls()

    def resume_view(self, request, event_id: int):
        """GET: what will be resumed and why it was paused; POST: resume it (audited). Another tenant's: 404."""
        event = self.get_queryset(request).select_related("campaign").filter(pk=event_id).first()
        if event is None:
            raise Http404("No such guard event.")
        if not may_write(request.user):
            raise PermissionDenied
        back = reverse("admin:guard_guardevent_changelist")
        if request.method == "POST":
            try:
                campaign = guard_event_resume(event=event, user=request.user)
            except NotResumable as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"Resumed “{campaign.name}”.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": "Resume the campaign?",
            "event": event,
            "figures": figures_rows(event.figures or {}),
            "resumable": event.is_open_pause and event.campaign is not None and event.campaign.status == "paused",
            "opts": self.model._meta,
            "back": back,
        }
        return TemplateResponse(request, "admin/guard/guardevent/resume_confirm.html", context)


def send_over_cap_confirmation(request, queryset) -> TemplateResponse | None:
    """The campaign admin's "Send now" over a cap: a confirmation page first (re-posting the action with
    ``confirm_over_cap``), ``None`` when no selected draft crosses a cap or the person confirmed."""
    if request.POST.get("confirm_over_cap"):
        return None
    over = []
    for campaign in queryset.filter(status="draft").select_related("tenant"):
        reached = send_over_caps(campaign=campaign)
        if reached is not None:
            over.append((campaign, reached.reason))
    if not over:
        return None
    context = {
        **admin.site.each_context(request),
        "title": "Send over a cap?",
        "over": over,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "action": request.POST.get("action", "send_now"),
        "opts": queryset.model._meta,
        "settings_url": reverse("admin:guard_guardsettings_changelist"),
    }
    return TemplateResponse(request, "admin/guard/send_over_cap.html", context)
