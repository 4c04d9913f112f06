from __future__ import annotations

from csp.constants import SELF
from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from campaigns.admin.dashboard import admin_urlpatterns as analytics_admin_urls
from common import health
from smscampaigns.metrics import metrics_view
from tenants.signin_web import TwoFactorAdminLoginForm, signin_urlpatterns

admin.site.site_header = "smscampaigns"
admin.site.site_title = "smscampaigns"
admin.site.index_title = "Campaigns, contacts and compliance"
# The login asks for the two-factor code too, for users who use it (tenants/signin_web.py).
admin.site.login_form = TwoFactorAdminLoginForm
admin.site.login_template = "tenants/signin/login.html"

# The API docs load their scripts from this origin (Swagger UI's start-up script too: the split view serves it at
# ?script); their pages' own <style> blocks and Redoc's generated styles (and its web worker) need more.
API_DOCS_CSP = {"style-src": [SELF, "'unsafe-inline'"]}

urlpatterns = [
    # The site is the admin: "/" (and the admin's "View site" link, which points here) opens it. An empty path never
    # matches a short link (codes are 1-32 letters or digits), so a root-level SHORT_LINK_BASE_URL is unaffected.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    # Admin pages that belong to no model (the analytics overview), before the admin's own URLs.
    *analytics_admin_urls(),
    *signin_urlpatterns(),  # /admin/two-factor/
    path("admin/", admin.site.urls),
    path("api/v1/", include("smscampaigns.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        csp_replace(API_DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        csp_replace({**API_DOCS_CSP, "worker-src": ["blob:"]})(SpectacularRedocView.as_view(url_name="schema")),
        name="api-redoc",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/", health.healthz),
    # Prometheus, never public: METRICS_ALLOWED_IPS and METRICS_TOKEN (smscampaigns/metrics.py).
    path("metrics", metrics_view, name="metrics"),
    path("webhooks/twilio/", include("tracking.urls")),
    path("webhooks/twilio/", include("compliance.urls")),
    # Shopify and HubSpot, one URL per connection: /webhooks/shopify/<token>/, /webhooks/hubspot/<token>/ (crm/urls.py).
    path("webhooks/", include("crm.urls")),
    # Hosted sign-up forms, public: /f/<tenant>/<form>/ (growth/urls.py; three segments, never a short link).
    path("", include("growth.urls")),
    # MMS media for Twilio to fetch (media/urls.py: two segments, never taken for a short link).
    path("", include("media.urls")),
]

# Short links last: a root-level SHORT_LINK_BASE_URL must not shadow the routes above.
from links.urls import domain_urlpatterns, redirect_urlpatterns  # noqa: E402

urlpatterns += domain_urlpatterns()  # /links/domains/allowed/ (two segments: never a code)
urlpatterns += redirect_urlpatterns()

handler404 = "common.health.error_404"
handler500 = "common.health.error_500"
handler400 = "common.health.error_400"
