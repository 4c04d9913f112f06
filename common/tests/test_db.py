from __future__ import annotations

from django.db.models import Q

from campaigns.models import Message
from campaigns.tests.factories import MessageFactory
from common.db import any_of


def test_any_of_matches_like_in(tenant_a, tenant_b):
    mine = MessageFactory.create_batch(3, tenant=tenant_a, campaign__tenant=tenant_a)
    other = MessageFactory(tenant=tenant_b, campaign__tenant=tenant_b)
    ids = [mine[0].pk, mine[2].pk, other.pk, 10**12]
    assert set(Message.objects.filter(any_of("id", ids)).values_list("pk", flat=True)) == set(ids[:3])
    assert set(Message.objects.filter(any_of("id", ids), tenant=tenant_a).values_list("pk", flat=True)) == set(ids[:2])
    tos = [mine[1].to, "+19999999999"]
    assert list(Message.objects.filter(Q(any_of("to", tos)) | Q(pk=other.pk)).order_by("pk")) == [mine[1], other]
    assert not Message.objects.filter(any_of("id", [])).exists()
    assert Message.objects.exclude(any_of("id", [])).count() == 4
