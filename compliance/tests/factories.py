from __future__ import annotations

import factory

from compliance.models import (
    AuditLog,
    ComplianceSettings,
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    InboundMessage,
    Suppression,
    SuppressionSource,
)
from tenants.tests.factories import TenantFactory


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    tenant = factory.SubFactory(TenantFactory)
    phone_number = factory.Sequence(lambda n: f"+1415556{n % 10000:04d}")
    source = SuppressionSource.KEYWORD


class InboundMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundMessage

    tenant = factory.SubFactory(TenantFactory)
    sid = factory.Sequence(lambda n: f"SM{n:032x}")
    from_number = factory.Sequence(lambda n: f"+1415557{n % 10000:04d}")
    to_number = "+14155550000"
    body = factory.Sequence(lambda n: f"reply number {n}")


class ConsentEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentEvent

    tenant = factory.SubFactory(TenantFactory)
    phone_number = factory.Sequence(lambda n: f"+1415558{n % 10000:04d}")
    kind = ConsentKind.GRANTED
    source = ConsentSource.WEB_FORM
    source_url = "https://shop.example.com/signup"
    disclosure_text = "I agree to receive marketing texts."
    disclosure_version = "1"


class ComplianceSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ComplianceSettings
        django_get_or_create = ("tenant",)

    tenant = factory.SubFactory(TenantFactory)


class AuditLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditLog

    tenant = factory.SubFactory(TenantFactory)
    channel = "api"
    action = "suppression_add"
    object_type = "suppression"
    object_id = factory.Sequence(str)
