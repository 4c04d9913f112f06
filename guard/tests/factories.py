from __future__ import annotations

import factory

from campaigns.tests.factories import CampaignFactory
from guard.models import GuardEvent, GuardEventKind, GuardSettings
from tenants.tests.factories import TenantFactory


class GuardSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GuardSettings
        django_get_or_create = ("tenant",)

    tenant = factory.SubFactory(TenantFactory)


class GuardEventFactory(factory.django.DjangoModelFactory):
    """An open automatic pause of a campaign of the same tenant."""

    class Meta:
        model = GuardEvent

    tenant = factory.SubFactory(TenantFactory)
    campaign = factory.SubFactory(CampaignFactory, tenant=factory.SelfAttribute("..tenant"), status="paused")
    kind = GuardEventKind.ANOMALY
    reason = "Fraud guard: 9.0% of 300 delivery reports were filtered by carriers (30007, 30003, 30005)"
    figures = factory.LazyFunction(lambda: {"reports": 300, "filtered": 27, "filtered_rate": 0.09})


def allow_countries(tenant, countries: str) -> GuardSettings:
    """Let ``tenant`` text these countries (``"US, CA, GB"``): tests whose recipients live abroad."""
    settings = GuardSettingsFactory(tenant=tenant)
    settings.allowed_countries = countries
    settings.save(update_fields=["allowed_countries"])
    return settings
