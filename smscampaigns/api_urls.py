"""The REST API at /api/v1/: each app registers its viewsets here."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from campaigns.views import CampaignViewSet
from contacts.views import ContactViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("campaigns", CampaignViewSet, basename="campaign")

urlpatterns = router.urls

from contacts.views import ContactImportViewSet  # noqa: E402

router.register("contact-imports", ContactImportViewSet, basename="contact-import")
urlpatterns = router.urls
