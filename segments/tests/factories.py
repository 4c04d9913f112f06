from __future__ import annotations

import factory

from segments.models import Segment
from tenants.tests.factories import TenantFactory


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Segment {n}")
    definition = factory.LazyFunction(lambda: {"groups": [[{"type": "consent", "op": "is", "value": "granted"}]]})
