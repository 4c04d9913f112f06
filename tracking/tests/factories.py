from __future__ import annotations

import uuid

import factory

from campaigns.tests.factories import CampaignFactory, MessageFactory
from tenants.tests.factories import TenantFactory
from tracking.models import DeliveryFailure, StatusEvent


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


class StatusEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StatusEvent

    tenant = factory.SubFactory(TenantFactory)
    sid = factory.LazyFunction(new_sid)
    status = "delivered"
    fields = factory.LazyAttribute(lambda o: {"MessageSid": o.sid, "MessageStatus": o.status})


class DeliveryFailureFactory(MessageFactory):
    class Meta:
        model = DeliveryFailure

    tenant = factory.SubFactory(TenantFactory)
    campaign = factory.SubFactory(CampaignFactory, tenant=factory.SelfAttribute("..tenant"))
    status = "undelivered"
    sid = factory.LazyFunction(new_sid)
    error_code = 30003
