from __future__ import annotations

from django.urls import path

from . import views

app_name = "tracking"
urlpatterns = [
    path("status/", views.status_callback, name="status-callback"),
]
