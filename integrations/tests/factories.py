from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from integrations.models import Conversion, Event, EventDelivery, EventSubscription, EventType
from integrations.signing import secret_generate
from tenants.tests.factories import TenantFactory


class EventSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EventSubscription

    tenant = factory.SubFactory(TenantFactory)
    url = factory.Sequence(lambda n: f"https://crm{n}.example.com/hooks")
    secret = factory.LazyFunction(secret_generate)
    event_types = factory.LazyFunction(lambda: list(EventType.values))


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    tenant = factory.SubFactory(TenantFactory)
    type = EventType.LINK_CLICKED
    payload = factory.LazyFunction(lambda: {"code": "abc12345"})
    created_at = factory.LazyFunction(timezone.now)


class EventDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EventDelivery

    tenant = factory.SubFactory(TenantFactory)
    event = factory.SubFactory(EventFactory, tenant=factory.SelfAttribute("..tenant"))
    subscription = factory.SubFactory(EventSubscriptionFactory, tenant=factory.SelfAttribute("..tenant"))
    contact_id = factory.SelfAttribute("event.contact_id")
    event_created_at = factory.SelfAttribute("event.created_at")


class ConversionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversion

    tenant = factory.SubFactory(TenantFactory)
    order_id = factory.Sequence(lambda n: f"ORDER-{n}")
    value = Decimal("19.99")
    currency = "USD"
