from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from campaigns.admin.dashboard import admin_urlpatterns as analytics_admin_urls
from common import health

admin.site.site_header = "smscampaigns"
admin.site.site_title = "smscampaigns"
admin.site.index_title = "Campaigns, contacts and compliance"

urlpatterns = [
    # The site is the admin: "/" (and the admin's "View site" link, which points here) opens it. An empty path never
    # matches a short link (codes are 1-32 letters or digits), so a root-level SHORT_LINK_BASE_URL is unaffected.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    # Admin pages that belong to no model (the analytics overview), before the admin's own URLs.
    *analytics_admin_urls(),
    path("admin/", admin.site.urls),
    path("api/v1/", include("smscampaigns.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/", health.healthz),
    path("webhooks/twilio/", include("tracking.urls")),
    path("webhooks/twilio/", include("compliance.urls")),
]

# Short links last: a root-level SHORT_LINK_BASE_URL must not shadow the routes above.
from links.urls import redirect_urlpatterns  # noqa: E402

urlpatterns += redirect_urlpatterns()

handler404 = "common.health.error_404"
handler500 = "common.health.error_500"
handler400 = "common.health.error_400"
