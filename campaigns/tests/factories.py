from __future__ import annotations

from decimal import Decimal

import factory

from campaigns.models import Campaign, CountryPrice, Message, MessageTemplate
from contacts.tests.factories import ContactFactory
from tenants.tests.factories import TenantFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    body = "Hi {{first_name}}, our sale starts now: {{link}}"
    link_url = "https://shop.example.com/sale"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    campaign = factory.SubFactory(CampaignFactory)
    tenant = factory.SelfAttribute("campaign.tenant")
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))
    to = factory.SelfAttribute("contact.phone_number")
    body = "Hi there"


class CountryPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CountryPrice

    tenant = factory.SubFactory(TenantFactory)
    country = factory.Iterator(["GB", "DE", "FR", "CA", "MX", "ES", "IT", "NL"])
    sms_price_per_segment = Decimal("0.0400")
    mms_price_per_message = None


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Template {n}")
    body = "Hi {{first_name|there}}, our sale starts now"
