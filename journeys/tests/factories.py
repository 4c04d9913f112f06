from __future__ import annotations

import factory
from django.utils import timezone

from contacts.tests.factories import ContactFactory
from journeys.models import Journey, JourneyRun, JourneyVersion, RunStatus, TriggerKind
from tenants.tests.factories import TenantFactory


class JourneyFactory(factory.django.DjangoModelFactory):
    """A draft journey without steps (``journeys.services.journey_create`` builds real ones)."""

    class Meta:
        model = Journey

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Journey {n}")
    trigger_kind = TriggerKind.KEYWORD
    trigger_value = factory.Sequence(lambda n: f"WORD{n}")


class JourneyVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JourneyVersion

    tenant = factory.SubFactory(TenantFactory)
    journey = factory.SubFactory(JourneyFactory, tenant=factory.SelfAttribute("..tenant"))
    number = 1


class JourneyRunFactory(factory.django.DjangoModelFactory):
    """A run at the end of an empty version (completed when it is next advanced)."""

    class Meta:
        model = JourneyRun

    tenant = factory.SubFactory(TenantFactory)
    version = factory.SubFactory(JourneyVersionFactory, tenant=factory.SelfAttribute("..tenant"))
    journey = factory.SelfAttribute("version.journey")
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))
    status = RunStatus.ACTIVE
    due_at = factory.LazyFunction(timezone.now)
    entered_at = factory.LazyFunction(timezone.now)
    source = factory.Sequence(lambda n: f"test:{n}")
