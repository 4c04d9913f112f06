from __future__ import annotations

from django.apps import AppConfig


class CrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crm"
    verbose_name = "CRM connections (Shopify, HubSpot, REST hooks)"
