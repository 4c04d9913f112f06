"""The campaign page's "Send now": a confirmation page first, as a mixin for ``CampaignAdmin``.

The page shows what the send will do, from the same preview the calculator uses (``campaign_preview_for``):
the recipients, the estimated cost, the opt-out line first contacts get and a rendered sample; above
``SEND_CONFIRM_TYPE_COUNT_ABOVE`` recipients the person types the count, and the count is checked again when they
confirm (an audience that changed meanwhile shows the new count, never sends). Over one of the fraud guard's caps
it says so and asks for that too (``guard.services.send_over_caps``, as the list's action does).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from campaigns import sending
from campaigns.authoring import campaign_preview_for
from campaigns.models import Campaign, CampaignStatus, UserTestNumber
from campaigns.testsends import TestSendError, campaign_test_send, own_number_add, own_number_verify
from guard.services import send_over_caps


def count_typed_matches(*, typed: str, recipients: int) -> bool:
    """Whether the typed count is the recipient count (digits, spaces and thousands separators allowed)."""
    digits = "".join(ch for ch in typed if ch not in " ,._'\u00a0")
    return digits.isdigit() and int(digits) == recipients


class CampaignSendConfirmAdminMixin:
    """Mix into the campaign admin (before ``TenantScopedAdmin``): ``<id>/send/``."""

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/send/",
                self.admin_site.admin_view(self.send_confirm_view),
                name="campaigns_campaign_send",
            ),
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="campaigns_campaign_progress",
            ),
            path(
                "<path:object_id>/control/",
                self.admin_site.admin_view(require_POST(self.control_view)),
                name="campaigns_campaign_control",
            ),
            path(
                "<path:object_id>/test/",
                self.admin_site.admin_view(self.test_send_view),
                name="campaigns_campaign_test",
            ),
        ]
        return urls + super().get_urls()

    def send_confirm_view(self, request, object_id: str):
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404("No such campaign.")
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        if campaign.status != CampaignStatus.DRAFT:  # said before the permission: only a draft is changeable
            self.message_user(
                request,
                f"This campaign is {campaign.get_status_display().lower()}: only a draft can be sent, once.",
                messages.WARNING,
            )
            return redirect(change_url)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        preview = campaign_preview_for(campaign=campaign)
        recipients = preview.billable_recipients
        threshold = settings.SEND_CONFIRM_TYPE_COUNT_ABOVE
        must_type = recipients > threshold
        over_cap = send_over_caps(campaign=campaign)
        error = ""
        if request.method == "POST":
            if recipients == 0:
                error = "Nobody in the audience would get this message: nothing to send."
            elif must_type and not count_typed_matches(typed=request.POST.get("count", ""), recipients=recipients):
                error = f"Type the number of recipients, {recipients:,}, to send."
            elif over_cap is not None and not request.POST.get("confirm_over_cap"):
                error = "Tick the box to send up to the fraud guard's cap."
            else:
                try:
                    sending.campaign_send(campaign=campaign, user=request.user)
                except sending.CampaignStateError as exc:
                    self.message_user(request, str(exc), messages.WARNING)
                    return redirect(change_url)
                self.message_user(request, f"Sending to {recipients:,} recipients.", messages.SUCCESS)
                return redirect(reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk]))
        body = preview.bodies[0] if preview.bodies else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Send “{campaign.name}” now?",
            "opts": Campaign._meta,
            "original": campaign,
            "preview": preview,
            "body": body,
            "recipients": recipients,
            "must_type": must_type,
            "threshold": threshold,
            "over_cap": over_cap,
            "error": error,
            "change_url": change_url,
        }
        return TemplateResponse(
            request, "admin/campaigns/campaign/send_confirm.html", context, status=400 if error else 200
        )

    def test_send_view(self, request, object_id: str):
        """"Send a test": the person's own numbers (add one: a code is texted; type it), and a test to one."""
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404("No such campaign.")
        if not self.has_change_permission(request):  # a test costs a message: writers only
            raise PermissionDenied
        mine = UserTestNumber.objects.filter(user=request.user, tenant_id=campaign.tenant_id)
        error, status = "", 200
        if request.method == "POST":
            op = request.POST.get("op", "")
            number = None
            if op in ("verify", "send"):
                number_id = request.POST.get("number", "")
                number = mine.filter(pk=number_id).first() if number_id.isdigit() else None
                if number is None:
                    raise Http404("No such number of yours.")
            try:
                if op == "add":
                    if request.user.tenant_id != campaign.tenant_id:
                        raise TestSendError("Test numbers belong to the tenant's own users.")
                    own_number_add(user=request.user, phone_number=request.POST.get("phone_number", ""))
                    done = "Code sent: type it below to verify the number."
                elif op == "verify":
                    own_number_verify(number=number, code=request.POST.get("code", ""))
                    done = f"Number {number} verified."
                elif op == "send":
                    campaign_test_send(campaign=campaign, number=number)
                    done = f"Test sent to {number}. It is not counted in the campaign's figures."
                else:
                    raise TestSendError("Add a number, verify it, or send a test.")
            except TestSendError as exc:
                error, status = str(exc), 400
            else:
                self.message_user(request, done, messages.SUCCESS)
                return redirect(reverse("admin:campaigns_campaign_test", args=[campaign.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Send a test of “{campaign.name}”",
            "opts": Campaign._meta,
            "original": campaign,
            "numbers": list(mine),
            "error": error,
            "change_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/test_send.html", context, status=status)

    # --- the campaign page's buttons: schedule, pause, resume, cancel -----------------------------------

    #: ``op`` → (statuses whose page shows the button, its label).
    CONTROLS = {
        "schedule": ((CampaignStatus.DRAFT,), "Schedule for its send time"),
        "pause": ((CampaignStatus.SENDING,), "Pause"),
        "resume": ((CampaignStatus.PAUSED,), "Resume"),
        "cancel": ((CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED), "Cancel"),
    }

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            # The object's own change permission is a draft's only; the buttons are for every writer.
            may = self.has_change_permission(request)
            context["may_send"] = may and obj.status == CampaignStatus.DRAFT
            context["controls"] = [
                (op, label) for op, (statuses, label) in self.CONTROLS.items() if may and obj.status in statuses
            ]
            context["control_url"] = reverse("admin:campaigns_campaign_control", args=[obj.pk])
            context["progress_url"] = reverse("admin:campaigns_campaign_progress", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def control_view(self, request, object_id: str):
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404("No such campaign.")
        if not self.has_change_permission(request):
            raise PermissionDenied
        op = request.POST.get("op", "")
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        if op not in self.CONTROLS:
            self.message_user(request, "Choose schedule, pause, resume or cancel.", messages.ERROR)
            return redirect(change_url)
        done = False
        if op == "schedule":
            if not campaign.send_at or campaign.send_at <= timezone.now():
                self.message_user(request, "Set a send time in the future first, and save.", messages.WARNING)
                return redirect(change_url)
            try:
                sending.campaign_send(campaign=campaign, send_at=campaign.send_at, user=request.user)
                done = True
            except sending.CampaignStateError:
                done = False
        elif op == "pause":
            done = sending.campaign_pause(campaign=campaign, reason=f"Paused by {request.user.email}")
        elif op == "resume":
            done = sending.campaign_resume(campaign=campaign, user=request.user)
        else:
            done = sending.campaign_cancel(campaign=campaign, user=request.user)
        if done:
            self.message_user(request, f"{self.CONTROLS[op][1]}: done.", messages.SUCCESS)
        else:
            campaign.refresh_from_db(fields=["status"])
            allowed = ", ".join(s.label.lower() for s in self.CONTROLS[op][0])
            self.message_user(
                request,
                f"Not done: the campaign is {campaign.get_status_display().lower()}; "
                f"“{self.CONTROLS[op][1]}” works on a {allowed} campaign.",
                messages.WARNING,
            )
        return redirect(change_url)

    def progress_view(self, request, object_id: str):
        """The campaign page's live figures (``campaign_live.js`` asks every few seconds): status, sent / total,
        rate and time left, as the page's read-only fields show them."""
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404("No such campaign.")
        return JsonResponse(
            {
                "status": campaign.status,
                "status_display": campaign.get_status_display(),
                "sending_progress": self.sending_progress(campaign),
                "sending_rate": self.sending_rate(campaign),
                "sending_time_left": self.sending_time_left(campaign),
            }
        )
