from __future__ import annotations

import factory

from crm.models import CrmConnection, InboundEvent, RestHook
from integrations.tests.factories import EventSubscriptionFactory
from tenants.tests.factories import TenantFactory


class CrmConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CrmConnection

    tenant = factory.SubFactory(TenantFactory)
    kind = "shopify"
    name = factory.Sequence(lambda n: f"shop{n}.myshopify.com")
    secret = factory.Sequence(lambda n: f"shpss_secret_{n:06d}")


class InboundEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundEvent

    tenant = factory.SubFactory(TenantFactory)
    connection = factory.SubFactory(CrmConnectionFactory, tenant=factory.SelfAttribute("..tenant"))
    key = factory.Sequence(lambda n: f"delivery-{n}")
    topic = "orders/create"
    object_id = factory.Sequence(lambda n: f"{820982911946154508 + n}")


class RestHookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RestHook

    tenant = factory.SubFactory(TenantFactory)
    subscription = factory.SubFactory(EventSubscriptionFactory, tenant=factory.SelfAttribute("..tenant"))
    event = "link.clicked"
    target_url = factory.Sequence(lambda n: f"https://hooks.zapier.com/hooks/standard/{n}/")
