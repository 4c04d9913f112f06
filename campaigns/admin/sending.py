"""Sending in the admin: actions and live progress, as a mixin for ``CampaignAdmin``.

``class CampaignAdmin(CampaignSendingAdminMixin, TenantScopedAdmin)`` adds the
actions send now / schedule / pause / resume / cancel (for roles that may
change campaigns; the queryset is the changelist's, already tenant-scoped)
and read-only progress fields: sent/total, current rate and time left. "Send now"
never sends from the list: it opens the one selected draft's confirmation page.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from campaigns import sending
from campaigns.counters import campaign_progress_annotations
from campaigns.models import CampaignStatus

SENDING_READONLY_FIELDS = ("sending_progress", "sending_rate", "sending_time_left")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class CampaignSendingAdminMixin:
    """Mix into the campaign admin (before ``TenantScopedAdmin``)."""

    sending_actions = ("send_now", "schedule", "pause", "resume", "cancel")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + [f for f in SENDING_READONLY_FIELDS if f not in fields]

    def get_actions(self, request):
        actions = super().get_actions(request)
        for name in self.sending_actions:
            func, action_name, description = self.get_action(name)
            if self._may_send(request):
                actions[action_name] = (func, action_name, description)
        return actions

    def _may_send(self, request) -> bool:
        return self.has_change_permission(request)

    # --- progress --------------------------------------------------------------

    def _progress(self, obj):
        """Computed once per object per page (the admin instance lives across requests: not there)."""
        progress = getattr(obj, "_sending_progress", None)
        if progress is None:
            progress = obj._sending_progress = sending.campaign_progress(campaign=obj)
        return progress

    def get_queryset(self, request):
        # Sent/total for every campaign of a list page in the page's one query.
        return super().get_queryset(request).annotate(**campaign_progress_annotations())

    @admin.display(description="Sent / total")
    def sending_progress(self, obj) -> str:
        if obj is None or obj.pk is None or obj.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            return "—"
        if hasattr(obj, "progress_total"):
            return f"{obj.progress_handed:,} / {obj.progress_total:,}"
        p = self._progress(obj)
        return f"{p.handed_over:,} / {p.total:,}"

    @admin.display(description="Current rate")
    def sending_rate(self, obj) -> str:
        if obj is None or obj.pk is None or obj.status != CampaignStatus.SENDING:
            return "—"
        return f"{self._progress(obj).rate:.1f} messages/s"

    @admin.display(description="Time left")
    def sending_time_left(self, obj) -> str:
        if obj is None or obj.pk is None or obj.status not in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
            return "—"
        return _duration(self._progress(obj).seconds_left)

    # --- actions ---------------------------------------------------------------

    #: What each list action needs, said when a campaign is in another state (as the API's 409 says it).
    NEEDS = {
        "Scheduled": "a draft with a send time in the future",
        "Paused": "a sending or scheduled campaign",
        "Resumed": "a paused campaign",
        "Canceled": "a campaign not yet sent or canceled",
    }

    def _each(self, request, queryset, verb: str, do) -> None:
        done, refused = [], []
        for campaign in queryset.select_related("tenant"):
            if do(campaign):
                done.append(campaign.name)
            else:
                campaign.refresh_from_db(fields=["status"])
                refused.append(f"{campaign.name} is {campaign.get_status_display().lower()}")
        if done:
            self.message_user(request, f"{verb}: {', '.join(done)}", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"Not {verb.lower()}: {'; '.join(refused)}. {verb} needs {self.NEEDS.get(verb, 'another state')}.",
                messages.WARNING,
            )

    @admin.action(description="Send now… (opens its confirmation page)", permissions=["change"])
    def send_now(self, request, queryset):
        """Never sends from the list: one draft opens its confirmation page (recipients, cost, a sample, the
        typed count); anything else is explained. A misclick on the list can no longer text an audience."""
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(
                request,
                "Send one campaign at a time: select one draft, or open it and use “Send now…”, which shows "
                "the recipients, the cost and a sample before anything is sent.",
                messages.WARNING,
            )
            return None
        campaign = chosen[0]
        if campaign.status != CampaignStatus.DRAFT:
            self.message_user(
                request,
                f"Not sent: {campaign.name} is {campaign.get_status_display().lower()}. Only a draft can be sent, "
                "once; a sent or canceled campaign cannot be sent again (create a new one).",
                messages.WARNING,
            )
            return None
        return redirect(reverse("admin:campaigns_campaign_send", args=[campaign.pk]))

    @admin.action(description="Schedule for its send time", permissions=["change"])
    def schedule(self, request, queryset):
        def do(campaign):
            if not campaign.send_at or campaign.send_at <= timezone.now():
                return False
            try:
                sending.campaign_send(campaign=campaign, send_at=campaign.send_at, user=request.user)
            except sending.CampaignStateError:
                return False
            return True

        self._each(request, queryset, "Scheduled", do)

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request, queryset):
        reason = f"Paused by {request.user.email}"
        self._each(request, queryset, "Paused", lambda c: sending.campaign_pause(campaign=c, reason=reason))

    @admin.action(description="Resume", permissions=["change"])
    def resume(self, request, queryset):
        self._each(request, queryset, "Resumed", lambda c: sending.campaign_resume(campaign=c, user=request.user))

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request, queryset):
        self._each(request, queryset, "Canceled", lambda c: sending.campaign_cancel(campaign=c, user=request.user))
