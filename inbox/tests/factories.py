from __future__ import annotations

import factory
from django.utils import timezone

from contacts.tests.factories import ContactFactory
from inbox.models import Conversation, InboxSettings
from tenants.tests.factories import TenantFactory


class InboxSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboxSettings
        django_get_or_create = ("tenant",)

    tenant = factory.SubFactory(TenantFactory)


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    tenant = factory.SubFactory(TenantFactory)
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))
    last_message_at = factory.LazyFunction(timezone.now)
    last_inbound_at = factory.LazyFunction(timezone.now)
    last_preview = "Is the sale still on?"
    unread = 1
