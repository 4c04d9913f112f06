from __future__ import annotations

import factory

from campaigns.models import Campaign, Message
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
