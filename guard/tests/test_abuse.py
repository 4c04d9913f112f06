"""Inbound bursts and click surges: counted, flagged, and kept out of replies and human clicks (through the doors)."""

from __future__ import annotations

import pytest
from django.test import Client

from compliance.models import InboundMessage
from compliance.selectors import is_suppressed
from compliance.tests.test_inbound_webhook import post, reply_text
from guard.models import GuardEvent
from guard.tests.factories import GuardSettingsFactory
from integrations.models import Event
from integrations.tests.factories import EventSubscriptionFactory
from links.models import CampaignClickCount, Click
from links.tests.conftest import links_redis  # noqa: F401 - the fixture
from links.tests.test_clickinfo import IPHONE
from links.tests.test_redirect import campaign_links, flush

FLOOD = "+2348031234567"


def _limits(tenant, **limits):
    cfg = GuardSettingsFactory(tenant=tenant)
    for name, value in limits.items():
        setattr(cfg, name, value)
    cfg.save()


def test_an_inbound_burst_from_one_number_is_kept_but_not_answered_nor_a_reply(tenant_a, tenant_b):
    EventSubscriptionFactory(tenant=tenant_a, event_types=["reply.received"])
    _limits(tenant_a, inbound_burst_per_number=3)
    answers = [reply_text(post(tenant_a, "HELP", from_number=FLOOD)) for _ in range(3)]
    assert all(a and "help" in a.lower() for a in answers)  # under the limit: answered as always
    assert reply_text(post(tenant_a, "HELP", from_number=FLOOD)) is None  # the 4th: not answered
    assert reply_text(post(tenant_a, "Is this real?", from_number=FLOOD)) is None
    assert InboundMessage.objects.filter(tenant=tenant_a, from_number=FLOOD).count() == 5  # all kept
    flagged = InboundMessage.objects.filter(tenant=tenant_a, review_reason__startswith="Inbound burst")
    assert flagged.count() == 2 and not flagged.filter(needs_reply=True).exists()
    assert not Event.objects.filter(tenant=tenant_a, type="reply.received").exists()  # the question was flagged
    event = GuardEvent.objects.get(tenant=tenant_a, kind="inbound_burst")
    assert event.subject == "+2348031234XXX" and event.figures["limit"] == 3
    assert FLOOD not in event.reason  # never a whole number
    # A STOP in the burst is still honoured, and another tenant's counts are its own.
    assert reply_text(post(tenant_a, "STOP", from_number=FLOOD))
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=FLOOD)
    assert reply_text(post(tenant_b, "HELP", from_number=FLOOD))
    assert GuardEvent.objects.filter(kind="inbound_burst").count() == 1


def test_many_numbers_of_one_range_are_a_burst_too(tenant_a):
    _limits(tenant_a, inbound_burst_per_range=4)
    numbers = [f"+23480312345{i:02d}" for i in range(6)]
    answered = [reply_text(post(tenant_a, "HELP", from_number=n)) for n in numbers]
    assert [bool(a) for a in answered] == [True, True, True, True, False, False]
    assert GuardEvent.objects.get(tenant=tenant_a, kind="inbound_burst").subject == "+2348031234XXX"


@pytest.mark.usefixtures("links_redis")
def test_a_click_surge_from_one_network_counts_as_bot_hits(tenant_a):
    _limits(tenant_a, click_surge_per_network=3)
    campaign, _messages, codes = campaign_links(tenant_a, n=6)
    client = Client()
    for code in codes[:5]:
        assert client.get(f"/l/{code}", HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="203.0.113.9").status_code == 302
    assert client.get(f"/l/{codes[5]}", HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="198.51.100.4").status_code == 302
    flush("redis")
    counts = CampaignClickCount.objects.get(campaign=campaign)
    assert (counts.clicks, counts.bot_hits) == (4, 2)  # 3 from 203.0.113.0/24 and the other network's one
    surged = Click.objects.filter(campaign=campaign, is_bot=True)
    assert surged.count() == 2 and set(surged.values_list("bot_reason", flat=True)) == {
        "click surge from one network (fraud guard)"
    }
    event = GuardEvent.objects.get(tenant=tenant_a, kind="click_surge")
    assert event.subject == "203.0.113.0/24" and event.figures["limit"] == 3
