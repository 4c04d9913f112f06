"""The REST API at /api/v1/: each app registers its viewsets here."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from analytics import views as analytics_views
from campaigns.views import CampaignViewSet
from campaigns.views import sending as views_sending
from campaigns.views import stats as views_stats
from campaigns.views.templates import MessageTemplateViewSet
from compliance.api import ConsentEventViewSet, OptOutViewSet, PrivacyEraseView, PrivacyExportView
from contacts.views import ContactImportViewSet, ContactViewSet
from crm.api import CrmConnectionViewSet, RestHookViewSet
from growth.api import KeywordViewSet
from inbox.api import ConversationViewSet
from integrations.views import ConversionViewSet, EventDeliveryViewSet, EventSubscriptionViewSet
from journeys.api import EventView, JourneyRunViewSet, JourneyViewSet
from links.api import CampaignLinkExpiryView, LinkDomainViewSet
from media.api import MediaFileViewSet
from segments.api import SegmentViewSet
from tenants.api import ApiKeyViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("contact-imports", ContactImportViewSet, basename="contact-import")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("opt-outs", OptOutViewSet, basename="opt-out")
router.register("consent-events", ConsentEventViewSet, basename="consent-event")
router.register("webhooks", EventSubscriptionViewSet, basename="webhook")
router.register("webhook-deliveries", EventDeliveryViewSet, basename="webhook-delivery")
router.register("conversions", ConversionViewSet, basename="conversion")
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("media", MediaFileViewSet, basename="media")
router.register("keywords", KeywordViewSet, basename="keyword")
router.register("segments", SegmentViewSet, basename="segment")
router.register("templates", MessageTemplateViewSet, basename="template")
router.register("journeys", JourneyViewSet, basename="journey")
router.register("journey-runs", JourneyRunViewSet, basename="journey-run")
router.register("link-domains", LinkDomainViewSet, basename="link-domain")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("crm-connections", CrmConnectionViewSet, basename="crm-connection")
router.register("hooks", RestHookViewSet, basename="hook")

urlpatterns = [
    # Sending actions (campaigns/views/sending.py): explicit paths, before the router's.
    path("campaigns/<int:pk>/send/", views_sending.CampaignSendView.as_view(), name="campaign-send"),
    path("campaigns/<int:pk>/pause/", views_sending.CampaignPauseView.as_view(), name="campaign-pause"),
    path("campaigns/<int:pk>/resume/", views_sending.CampaignResumeView.as_view(), name="campaign-resume"),
    path("campaigns/<int:pk>/cancel/", views_sending.CampaignCancelView.as_view(), name="campaign-cancel"),
    path("campaigns/<int:pk>/test-send/", views_sending.CampaignTestSendView.as_view(), name="campaign-test-send"),
    path("campaigns/<int:pk>/stats/", views_stats.CampaignStatsView.as_view(), name="campaign-stats"),
    path("campaigns/<int:pk>/messages/", views_stats.CampaignMessagesView.as_view(), name="campaign-messages"),
    path("campaigns/<int:pk>/link-expiry/", CampaignLinkExpiryView.as_view(), name="campaign-link-expiry"),
    # Analytics (analytics/views.py, docs/analytics.md).
    path(
        "campaigns/<int:pk>/stats/timeseries/",
        analytics_views.CampaignTimeseriesView.as_view(),
        name="campaign-stats-timeseries",
    ),
    path(
        "campaigns/<int:pk>/stats/breakdown/",
        analytics_views.CampaignBreakdownView.as_view(),
        name="campaign-stats-breakdown",
    ),
    path(
        "campaigns/<int:pk>/stats/variants/",
        analytics_views.CampaignVariantsView.as_view(),
        name="campaign-stats-variants",
    ),
    path(
        "campaigns/<int:pk>/export/messages.csv",
        analytics_views.MessagesExportView.as_view(),
        name="campaign-export-messages",
    ),
    path(
        "campaigns/<int:pk>/export/clicks.csv",
        analytics_views.ClicksExportView.as_view(),
        name="campaign-export-clicks",
    ),
    path("stats/overview/", analytics_views.TenantOverviewView.as_view(), name="stats-overview"),
    path("events/", EventView.as_view(), name="event"),
    path("privacy/export/", PrivacyExportView.as_view(), name="privacy-export"),
    path("privacy/erase/", PrivacyEraseView.as_view(), name="privacy-erase"),
    *router.urls,
]
