from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("inbound/", views.twilio_inbound, name="twilio-inbound"),
]
