"""The REST API at /api/v1/: each app registers its viewsets here."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from campaigns.views import CampaignViewSet
from contacts.views import ContactViewSet
from integrations.views import ConversionViewSet, EventDeliveryViewSet, EventSubscriptionViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("webhooks", EventSubscriptionViewSet, basename="webhook")
router.register("webhook-deliveries", EventDeliveryViewSet, basename="webhook-delivery")
router.register("conversions", ConversionViewSet, basename="conversion")

urlpatterns = router.urls
