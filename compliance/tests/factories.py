from __future__ import annotations

import factory

from compliance.models import Suppression, SuppressionSource
from tenants.tests.factories import TenantFactory


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    tenant = factory.SubFactory(TenantFactory)
    phone_number = factory.Sequence(lambda n: f"+1415556{n % 10000:04d}")
    source = SuppressionSource.KEYWORD
