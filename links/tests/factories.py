from __future__ import annotations

import uuid

import factory
from django.utils import timezone

from links.models import Click, LinkDomain, LinkExpiry, ShortLink
from links.services import code_generate
from tenants.tests.factories import TenantFactory


class ShortLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShortLink

    tenant = factory.SubFactory(TenantFactory)
    code = factory.LazyFunction(code_generate)
    target_url = "https://shop.example.com/sale"


class ClickFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Click

    tenant = factory.SubFactory(TenantFactory)
    link = factory.SubFactory(ShortLinkFactory, tenant=factory.SelfAttribute("..tenant"))
    event_id = factory.LazyFunction(uuid.uuid4)
    clicked_at = factory.LazyFunction(timezone.now)
    user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"
    device_type = "mobile"
    os_family = "iOS"
    country = "US"


class LinkDomainFactory(factory.django.DjangoModelFactory):
    """A pending domain under ``.invalid``: a check of it is refused before any lookup (no network in tests)."""

    class Meta:
        model = LinkDomain

    tenant = factory.SubFactory(TenantFactory)
    host = factory.Sequence(lambda n: f"go{n}.shop.invalid")
    active = False


class LinkExpiryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LinkExpiry

    tenant = factory.SubFactory(TenantFactory)
    campaign = factory.SubFactory("campaigns.tests.factories.CampaignFactory", tenant=factory.SelfAttribute("..tenant"))
    ttl_days = 30
