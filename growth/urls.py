"""The public sign-up pages, mounted at ``/f/`` (``smscampaigns/urls.py``): three segments, never a short link."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("f/<slug:tenant_slug>/<slug:form_slug>/", views.signup_page, name="growth-signup"),
]
