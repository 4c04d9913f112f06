"""Analytics pages in the admin: a campaign's live dashboard and the tenant overview.

Both pages are shells. Their scripts (``campaigns/static/campaigns/dashboard.js``,
``overview.js``) fetch the stats API with the admin's session cookie and draw
with Chart.js from our own static files; no inline script (CSP), the URLs and
the first numbers come in one ``json_script`` block. Tenant scoping is the
admin's own: the campaign is looked up through ``CampaignAdmin.get_queryset``,
so another tenant's campaign is a 404.

Unknown outcomes are shown apart ("Being checked with Twilio", and "Needs a
person" for what the resolver gave up on, linked to those messages). The split
is not in the status counters, so it is read from the campaign's unknown
messages (the ``(campaign, status)`` index; unknowns are transient and few) by
``<id>/dashboard/unknowns/``, which the page polls with the stats API.

The page's own reads (first figures, unknowns) go to the read replica when one is configured
(``common.replica``), and it shows how far behind that is (``replica_lag_seconds``, 0 without one).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.stats import campaign_stats
from common.replica import replica_lag_seconds, replica_reads
from tenants.admin_scoping import request_tenant

#: While a campaign is in one of these, the dashboard refreshes itself.
LIVE_STATUSES = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)
REFRESH_MS = 5000


def _api_urls(campaign_id: int) -> dict[str, str]:
    args = [campaign_id]
    return {
        "campaign": reverse("campaign-detail", args=args),
        "stats": reverse("campaign-stats", args=args),
        "timeseries": reverse("campaign-stats-timeseries", args=args),
        "breakdown": reverse("campaign-stats-breakdown", args=args),
        "variants": reverse("campaign-stats-variants", args=args),
        "export_messages": reverse("campaign-export-messages", args=args),
        "export_clicks": reverse("campaign-export-clicks", args=args),
    }


def campaign_unknown_counts(*, campaign_id: int) -> dict[str, int]:
    """A campaign's unknown outcomes: those the resolver is still asking Twilio about, and those it gave up on."""
    counts = Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.UNKNOWN).aggregate(
        unknown=Count("id"), needs_person=Count("id", filter=~Q(unresolved_reason=""))
    )
    return {
        "unknown": counts["unknown"],
        "checking": counts["unknown"] - counts["needs_person"],
        "needs_person": counts["needs_person"],
    }


def _needs_person_url(admin_site_name: str, campaign_id: int) -> str:
    """The campaign's messages that need a person, in the Message changelist."""
    changelist = reverse(f"{admin_site_name}:campaigns_message_changelist")
    return f"{changelist}?campaign__id__exact={campaign_id}&outcome=needs_person"


def _api_note(request) -> str:
    """The stats API answers tenant users only: say so to a superuser instead of showing empty charts."""
    if request_tenant(request) is None:
        return "The live charts read the stats API, which answers the campaign's tenant users: sign in as one."
    return ""


class CampaignDashboardAdminMixin:
    """Mix into ``CampaignAdmin``: ``<id>/dashboard/``, its object-tools button and a changelist column."""

    def get_urls(self):
        urls = [
            # Before the admin's own: its catch-all ``<path:object_id>/`` would take ``<id>/dashboard/``.
            path(
                "<path:object_id>/dashboard/unknowns/",
                self.admin_site.admin_view(self.dashboard_unknowns_view),
                name="campaigns_campaign_dashboard_unknowns",
            ),
            path(
                "<path:object_id>/dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="campaigns_campaign_dashboard",
            ),
        ]
        return urls + super().get_urls()

    def _dashboard_campaign(self, request, object_id: str) -> Campaign:
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404("No such campaign.")
        return campaign

    def dashboard_unknowns_view(self, request, object_id: str):
        """JSON for the dashboard's unknown-outcome boxes (the admin's session and scoping, like the page)."""
        campaign = self._dashboard_campaign(request, object_id)
        with replica_reads():
            counts = campaign_unknown_counts(campaign_id=campaign.pk)
        return JsonResponse({**counts, "replica_lag_seconds": replica_lag_seconds()})

    def dashboard_view(self, request, object_id: str):
        campaign = self._dashboard_campaign(request, object_id)
        site = self.admin_site.name
        urls = {
            **_api_urls(campaign.pk),
            "unknowns": reverse(f"{site}:campaigns_campaign_dashboard_unknowns", args=[campaign.pk]),
            "needs_person": _needs_person_url(site, campaign.pk),
        }
        with replica_reads():
            initial_stats = campaign_stats(campaign_id=campaign.pk)
            initial_unknowns = campaign_unknown_counts(campaign_id=campaign.pk)
        config = {
            "campaign": {"id": campaign.pk, "name": campaign.name, "status": campaign.status},
            "urls": urls,
            "live_statuses": list(LIVE_STATUSES),
            "refresh_ms": REFRESH_MS,
            "initial_stats": initial_stats,
            "initial_unknowns": initial_unknowns,
            "replica_lag_seconds": replica_lag_seconds(),
            "has_variants": bool(campaign.variants),
            "api_note": _api_note(request),
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": campaign,
            "campaign": campaign,
            "title": f"Dashboard: {campaign.name}",
            "config": config,
            "urls": config["urls"],
            "live": campaign.status in LIVE_STATUSES,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/dashboard.html", context)

    @admin.display(description="Dashboard")
    def dashboard_link(self, obj: Campaign) -> str:
        if obj.pk is None or obj.status == CampaignStatus.DRAFT:
            return "—"
        url = reverse(f"{self.admin_site.name}:campaigns_campaign_dashboard", args=[obj.pk])
        return format_html('<a class="dashboard-link" href="{}">Dashboard</a>', url)


def overview_view(request):
    """``/admin/analytics/overview/``: the tenant's last 30 days and its recent campaigns compared."""
    user = request.user
    if not (user.is_superuser or (user.is_active and user.is_staff and user.tenant_id)):
        raise PermissionDenied
    config = {
        "urls": {
            "overview": reverse("stats-overview"),
            # The page fills in the id: ``…/campaign/0/dashboard/`` with 0 replaced.
            "dashboard": reverse("admin:campaigns_campaign_dashboard", args=[0]),
        },
        "days": 30,
        "day_choices": [7, 30, 90],
        "api_note": _api_note(request),
    }
    context = {
        **admin.site.each_context(request),
        "title": "Analytics overview",
        "config": config,
    }
    return TemplateResponse(request, "admin/analytics/overview.html", context)


def admin_urlpatterns() -> list:
    """Mounted in ``smscampaigns/urls.py`` before ``admin.site.urls``."""
    return [path("admin/analytics/overview/", admin.site.admin_view(overview_view), name="analytics-overview")]
