"""A seeded A/B campaign whose every figure is known, written through the real writers.

Status moves go through ``message_move`` (the same SQL the sender and the status
webhook use), clicks through ``clicks_record``, the opt-out through the inbound
webhook. The writers stamp each arrival with the current minute; so that the
expected buckets do not depend on when the test runs, each phase of moves is
re-stamped to a fixed minute (``T0 + n``) right after it ran. Clicks carry their
own time.

    variant A (0)                              variant B (1)
    A1 sending,queued @0  sent @1  delivered @2 B1 sending,queued @1  delivered @2
    A2 sending,queued @0  delivered @2  read @4 B2 sending,accepted,queued @1  sent @2  delivered @3
    A3 sending,failed 21211 @0 (refused)        B3 sending,queued @1  undelivered 30003 @3
    A4 sending,queued @0  sent @1  undel. 30003 @3  B4 sending,queued @1  failed 30007 @2
    A5 suppressed @0                            B5 sending,queued @1  sent @2  read @4

    clicks: A1 iPhone/US @3 (first) and @5, WhatsApp preview/GB @3 (bot);
            A2 Android/FR @4 (first), Android/no country @9;
            B1 Windows Chrome/GB @3 (first), HEAD/US @6 (bot).
    A2 replies STOP @7 (after the campaign; re-stamped like the moves).
    A2, B1 and B5 went out over RCS (their delivery and read callbacks name it): 2 of 3 read.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import pytest
from django.db.models import Max
from django.utils import timezone

from campaigns.counters import counts_add
from campaigns.models import CampaignStatus, MessageStatusCount
from campaigns.models import MessageStatus as S
from campaigns.tests.factories import CampaignFactory, MessageFactory
from campaigns.transitions import message_move
from compliance.models import InboundKind, InboundMessage
from compliance.tests.test_inbound_webhook import post as inbound_post
from contacts.tests.factories import ContactFactory
from links.capture import click_event
from links.services import clicks_record, short_links_create_for_messages

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
WHATSAPP = "WhatsApp/2.23.20.0"
US, GB, FR, PRIVATE = "8.8.8.8", "81.2.69.1", "193.51.224.1", "10.1.2.3"

#: message → (variant, [(minute, status, extra fields)])
PATHS = {
    "A1": (0, [(0, S.SENDING, {}), (0, S.QUEUED, {}), (1, S.SENT, {}), (2, S.DELIVERED, {})]),
    "A2": (0, [(0, S.SENDING, {}), (0, S.QUEUED, {}), (2, S.DELIVERED, {}), (4, S.READ, {})]),
    "A3": (0, [(0, S.SENDING, {}), (0, S.FAILED, {"error_code": 21211, "error_message": '=HYPERLINK("x")'})]),
    "A4": (0, [(0, S.SENDING, {}), (0, S.QUEUED, {}), (1, S.SENT, {}), (3, S.UNDELIVERED, {"error_code": 30003})]),
    "A5": (0, [(0, S.SUPPRESSED, {})]),
    "B1": (1, [(1, S.SENDING, {}), (1, S.QUEUED, {}), (2, S.DELIVERED, {})]),
    "B2": (1, [(1, S.SENDING, {}), (1, S.ACCEPTED, {}), (1, S.QUEUED, {}), (2, S.SENT, {}), (3, S.DELIVERED, {})]),
    "B3": (1, [(1, S.SENDING, {}), (1, S.QUEUED, {}), (3, S.UNDELIVERED, {"error_code": 30003})]),
    "B4": (1, [(1, S.SENDING, {}), (1, S.QUEUED, {}), (2, S.FAILED, {"error_code": 30007})]),
    "B5": (1, [(1, S.SENDING, {}), (1, S.QUEUED, {}), (2, S.SENT, {}), (4, S.READ, {})]),
}
#: Messages whose callbacks named RCS (a channel that reports reads).
RCS = {"A2", "B1", "B5"}
#: (minute, second, message, user agent, ip, method)
CLICKS = [
    (3, 5, "A1", IPHONE, US, "GET"),
    (3, 6, "A1", WHATSAPP, GB, "GET"),
    (3, 40, "B1", WINDOWS, GB, "GET"),
    (4, 1, "A2", ANDROID, FR, "GET"),
    (5, 30, "A1", IPHONE, US, "GET"),
    (6, 0, "B1", WINDOWS, US, "HEAD"),
    (9, 59, "A2", ANDROID, PRIVATE, "GET"),
]


@contextmanager
def at_minute(offset: int):
    """Re-stamp the arrivals written inside the block to minute ``T0 + offset``."""
    before = MessageStatusCount.objects.aggregate(m=Max("id"))["m"] or 0
    yield
    MessageStatusCount.objects.filter(id__gt=before, minute__isnull=False).update(
        minute=T0 + dt.timedelta(minutes=offset)
    )


def click_at(
    code: str, minute: int, second: int, user_agent: str, ip: str, method: str, *, base: dt.datetime = T0
) -> dict:
    event = click_event(code=code, user_agent=user_agent, ip=ip, method=method)
    event["ts"] = (base + dt.timedelta(minutes=minute, seconds=second)).timestamp()
    return event


def seed_ab_campaign(tenant, *, started_at=None):
    campaign = CampaignFactory(
        tenant=tenant,
        name="Spring sale A/B",
        body="A: sale {{link}}",
        variants=[{"body": "A: sale {{link}}", "percent": 50}, {"body": "B: 20% off {{link}}", "percent": 50}],
        status=CampaignStatus.SENT,
        started_at=started_at or timezone.now() - dt.timedelta(days=1),
    )
    messages = {}
    for n, (name, (variant, _moves)) in enumerate(PATHS.items()):
        contact = ContactFactory(tenant=tenant, phone_number=f"+1415555{n:04d}")
        messages[name] = MessageFactory(
            campaign=campaign, tenant=tenant, contact=contact, to=contact.phone_number, variant=variant
        )
    with at_minute(0):
        for variant in (0, 1):  # the fan-out's count, per variant
            counts_add(campaign_id=campaign.pk, deltas={S.PENDING: 5}, variant=variant)
    for minute in sorted({m for _v, moves in PATHS.values() for m, _s, _e in moves}):
        with at_minute(minute):
            for name, (_variant, moves) in PATHS.items():
                for m, status, extra in moves:
                    if m != minute:
                        continue
                    if status == S.QUEUED:
                        extra = {"sid": f"SM{messages[name].pk:032x}", "sent_at": T0 + dt.timedelta(minutes=m)}
                    if status in (S.DELIVERED, S.READ):
                        extra = {"delivered_at": T0 + dt.timedelta(minutes=m)}
                        if name in RCS:
                            extra["channel"] = "rcs"
                    if status == S.READ:
                        extra["read_at"] = T0 + dt.timedelta(minutes=m)
                    assert message_move(message_id=messages[name].pk, to=status, **extra), (name, status)
    codes = short_links_create_for_messages(
        tenant=tenant,
        campaign_id=campaign.pk,
        target_url="https://shop.example/",
        message_ids=[m.pk for m in messages.values()],
    )
    written = clicks_record(
        events=[click_at(codes[messages[name].pk], m, s, ua, ip, method) for m, s, name, ua, ip, method in CLICKS]
    )
    assert written == len(CLICKS)
    inbound_post(tenant, "STOP", from_number=messages["A2"].to)
    InboundMessage.objects.filter(campaign=campaign, kind=InboundKind.OPT_OUT).update(
        received_at=T0 + dt.timedelta(minutes=7, seconds=30)
    )
    return campaign, messages, codes


def seed_plain_campaign(tenant, *, started_at=None):
    """No variants. P1 delivered, clicked once from an iPhone, then replied STOP; P2 sent."""
    campaign = CampaignFactory(
        tenant=tenant,
        name="Newsletter",
        status=CampaignStatus.SENT,
        started_at=started_at or timezone.now() - dt.timedelta(hours=2),
    )
    p1 = MessageFactory(
        campaign=campaign, tenant=tenant, contact=ContactFactory(tenant=tenant, phone_number="+14155559001")
    )
    p2 = MessageFactory(
        campaign=campaign, tenant=tenant, contact=ContactFactory(tenant=tenant, phone_number="+14155559002")
    )
    counts_add(campaign_id=campaign.pk, deltas={S.PENDING: 2})
    for message, final in ((p1, S.DELIVERED), (p2, S.SENT)):
        assert message_move(message_id=message.pk, to=S.SENDING)
        assert message_move(message_id=message.pk, to=S.QUEUED, sid=f"SM{message.pk:032x}", sent_at=timezone.now())
        assert message_move(message_id=message.pk, to=final)
    codes = short_links_create_for_messages(
        tenant=tenant, campaign_id=campaign.pk, target_url="https://shop.example/", message_ids=[p1.pk, p2.pk]
    )
    clicks_record(events=[click_event(code=codes[p1.pk], user_agent=IPHONE, ip=US, method="GET")])
    inbound_post(tenant, "STOP", from_number=p1.to)
    return campaign


@pytest.fixture
def ab_campaign(tenant_a):
    return seed_ab_campaign(tenant_a)
