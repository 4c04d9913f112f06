from __future__ import annotations

from django.urls import path

from . import views

app_name = "crm"
urlpatterns = [
    path("shopify/<str:token>/", views.shopify_webhook, name="shopify-webhook"),
    path("hubspot/<str:token>/", views.hubspot_webhook, name="hubspot-webhook"),
]
