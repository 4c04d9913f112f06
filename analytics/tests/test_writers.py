"""The counters and buckets equal a recount of the rows, after the real writers ran; squashing changes nothing."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client

from analytics.models import ClickBreakdown, ClickBucket
from analytics.selectors import campaign_breakdown, campaign_error_codes, campaign_timeseries, campaign_variants
from analytics.tests.conftest import ANDROID, FR, GB, IPHONE, PRIVATE, US, WHATSAPP, WINDOWS, click_at
from campaigns.counters import counts_add, squash_status_counts
from campaigns.models import Message, MessageStatusCount
from campaigns.models import MessageStatus as S
from campaigns.stats import campaign_stats
from campaigns.tests.factories import CampaignFactory, MessageFactory
from campaigns.transitions import message_move
from links.models import Click
from links.services import clicks_record, short_links_create_for_messages
from tracking.tests.conftest import callback, signed_post

N = 40


def _db_minute() -> dt.datetime:
    """The database's current minute (the writers stamp the database's clock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT date_trunc('minute', now())")
        return cursor.fetchone()[0]


def test_a_move_stamps_minute_origin_error_code_and_variant(tenant_a):
    campaign = CampaignFactory(tenant=tenant_a)
    message = MessageFactory(campaign=campaign, tenant=tenant_a, variant=1)
    counts_add(campaign_id=campaign.pk, deltas={S.PENDING: 1}, variant=1)
    before = _db_minute()
    assert message_move(message_id=message.pk, to=S.SENDING) == S.PENDING  # the one-statement path
    assert message_move(message_id=message.pk, to=S.FAILED, error_code=21211) == S.SENDING
    after = _db_minute()
    rows = list(
        MessageStatusCount.objects.filter(campaign_id=campaign.pk)
        .order_by("id")
        .values_list("status", "count", "minute", "from_status", "error_code", "variant")
    )
    (pending, out_pending, into_sending, out_sending, into_failed) = rows
    assert pending[:2] == (S.PENDING, 1) and pending[5] == 1
    assert out_pending == (S.PENDING, -1, None, None, None, 1)
    assert into_sending[:2] == (S.SENDING, 1) and into_sending[3:] == (S.PENDING, None, 1)
    assert out_sending == (S.SENDING, -1, None, None, None, 1)
    assert into_failed[:2] == (S.FAILED, 1) and into_failed[3:] == (S.SENDING, 21211, 1)
    assert before <= into_failed[2] <= after and into_failed[2].second == 0


def test_the_orm_path_writes_the_same_columns(tenant_a):
    """An expression among the fields takes the ORM path: same rows."""
    campaign = CampaignFactory(tenant=tenant_a)
    message = MessageFactory(campaign=campaign, tenant=tenant_a, variant=0, error_code=30003)
    assert message_move(message_id=message.pk, to=S.UNDELIVERED, attempts=F("attempts") + 1) == S.PENDING
    rows = list(
        MessageStatusCount.objects.filter(campaign_id=campaign.pk)
        .order_by("id")
        .values_list("status", "count", "from_status", "error_code", "variant")
    )
    assert rows == [(S.PENDING, -1, None, None, 0), (S.UNDELIVERED, 1, S.PENDING, 30003, 0)]
    assert MessageStatusCount.objects.get(campaign_id=campaign.pk, count=1).minute is not None


@pytest.fixture
def busy_campaign(tenant_a, settings):
    """N messages in two variants through claim, send result, a storm of signed status callbacks (shuffled,
    repeated, late ``sent``), and clicks of people and bots over 20 minutes, some written twice."""
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    rng = random.Random(8)
    campaign = CampaignFactory(
        tenant=tenant_a, variants=[{"body": "a {{link}}", "percent": 60}, {"body": "b {{link}}", "percent": 40}]
    )
    messages = [MessageFactory(campaign=campaign, tenant=tenant_a, variant=int(n % 5 >= 3)) for n in range(N)]
    # The fan-out's count as it is made today (without variants): the per-variant figures must cope with it.
    counts_add(campaign_id=campaign.pk, deltas={S.PENDING: N})
    callbacks = []
    for n, message in enumerate(messages):
        assert message_move(message_id=message.pk, to=S.SENDING, allowed_from=[S.PENDING])
        if n % 10 == 0:
            assert message_move(message_id=message.pk, to=S.FAILED, error_code=21211)  # refused at send
            continue
        sid = f"SM{message.pk:032x}"
        assert message_move(message_id=message.pk, to=S.QUEUED, sid=sid, sent_at=dt.datetime.now(dt.UTC))
        message.sid = sid
        final = rng.choice(["delivered", "delivered", "read", "undelivered", "failed", "sent"])
        steps = ["sent", final] if final != "read" else ["sent", "delivered", "read"]
        for status in steps:
            code = {"undelivered": rng.choice([30003, 30005]), "failed": 30007}.get(status)
            callbacks.append(callback(message, status, tenant_a, **({"ErrorCode": code} if code else {})))
    callbacks += rng.sample(callbacks, 15)  # repeats
    rng.shuffle(callbacks)  # a late "sent" after "delivered" and the like
    client = Client()
    for params in callbacks:
        assert signed_post(client, params, tenant_a.twilio_auth_token).status_code in (200, 204)

    codes = short_links_create_for_messages(
        tenant=tenant_a,
        campaign_id=campaign.pk,
        target_url="https://shop.example/",
        message_ids=[m.pk for m in messages],
    )
    agents = [(IPHONE, "GET"), (ANDROID, "GET"), (WINDOWS, "GET"), (WHATSAPP, "GET"), (WINDOWS, "HEAD")]
    events = []
    base = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=20)
    for _ in range(120):
        message = rng.choice(messages)
        ua, method = rng.choice(agents)
        ip = rng.choice([US, GB, FR, PRIVATE])
        events.append(click_at(codes[message.pk], rng.randrange(20), rng.randrange(60), ua, ip, method, base=base))
    for start in range(0, len(events), 25):  # in batches, as the click writer does
        clicks_record(events=events[start : start + 25])
    assert clicks_record(events=events[:30]) == 0  # replayed: nothing counted twice
    return campaign


def _recount_statuses(campaign_id: int) -> Counter:
    return Counter(Message.objects.filter(campaign_id=campaign_id).values_list("variant", "status"))


def test_counters_and_buckets_equal_a_recount(busy_campaign):
    campaign = busy_campaign
    cid = campaign.pk
    messages = Message.objects.filter(campaign_id=cid)

    # Status totals, per status and per variant.
    counters = Counter()
    for variant, status, count in MessageStatusCount.objects.filter(campaign_id=cid).values_list(
        "variant", "status", "count"
    ):
        counters[(variant, status)] += count
    recount = _recount_statuses(cid)
    assert {k: v for k, v in counters.items() if v and k[0] is not None and k[1] != S.PENDING} == {
        k: v for k, v in recount.items() if k[1] != S.PENDING
    }
    stats = campaign_stats(campaign_id=cid)
    assert stats["delivered"] == messages.filter(status__in=[S.DELIVERED, S.READ]).count()
    assert stats["failed"] == messages.filter(status=S.FAILED).count()

    # Failures by error code.
    expected_codes = Counter(messages.filter(status__in=[S.FAILED, S.UNDELIVERED]).values_list("error_code", "status"))
    assert {(r["code"], r["status"]): r["count"] for r in campaign_error_codes(campaign_id=cid)} == expected_codes

    # Arrivals over time add up to the messages that got there.
    series = campaign_timeseries(campaign_id=cid, interval="minute")["buckets"]
    total = {k: sum(b[k] for b in series) for k in ("sent", "delivered", "failed", "undelivered")}
    assert total == {
        "sent": messages.filter(sent_at__isnull=False).count(),
        "delivered": messages.filter(status__in=[S.DELIVERED, S.READ]).count(),
        "failed": messages.filter(status=S.FAILED).count(),
        "undelivered": messages.filter(status=S.UNDELIVERED).count(),
    }

    # Click buckets per minute and breakdowns against the clicks themselves.
    clicks = list(Click.objects.filter(campaign_id=cid).select_related("message"))
    assert len(clicks) == 120
    per_minute = Counter()
    for c in clicks:
        t = c.clicked_at.replace(second=0, microsecond=0)
        per_minute[(t, "clicks")] += not c.is_bot
        per_minute[(t, "unique")] += c.is_unique
        per_minute[(t, "bots")] += c.is_bot
    buckets = Counter()
    for b in ClickBucket.objects.filter(campaign_id=cid):
        buckets.update(
            {(b.minute, "clicks"): b.clicks, (b.minute, "unique"): b.unique_clicks, (b.minute, "bots"): b.bot_hits}
        )
    assert +buckets == +per_minute
    assert sum(b["clicks"] for b in series) == sum(not c.is_bot for c in clicks)
    assert sum(b["bot_hits"] for b in series) == sum(c.is_bot for c in clicks)

    fields = {"device": "device_type", "os": "os_family", "browser": "browser_family", "country": "country"}
    for dimension, field in fields.items():
        expected = Counter()
        for c in clicks:
            value = getattr(c, field) or ""
            expected[(value, "clicks")] += not c.is_bot
            expected[(value, "unique")] += c.is_unique
            expected[(value, "bots")] += c.is_bot
        stored = Counter()
        for r in ClickBreakdown.objects.filter(campaign_id=cid, dimension=dimension):
            stored.update(
                {(r.value, "clicks"): r.clicks, (r.value, "unique"): r.unique_clicks, (r.value, "bots"): r.bot_hits}
            )
        assert +stored == +expected, dimension

    # Per variant: clicks and figures against a recount.
    variants = campaign_variants(campaign=campaign)["variants"]
    for row in variants:
        mine = [c for c in clicks if c.message.variant == row["variant"]]
        assert row["clicks"] == sum(not c.is_bot for c in mine)
        assert row["unique_clicks"] == sum(c.is_unique for c in mine)
        assert row["recipients"] == messages.filter(variant=row["variant"]).count()
        assert row["delivered"] == messages.filter(variant=row["variant"], status__in=[S.DELIVERED, S.READ]).count()
        assert row["failed"] == messages.filter(variant=row["variant"], status=S.FAILED).count()


def test_squash_keeps_every_figure(busy_campaign):
    campaign = busy_campaign
    cid = campaign.pk

    def everything():
        return (
            campaign_stats(campaign_id=cid),
            campaign_timeseries(campaign_id=cid),
            campaign_timeseries(campaign_id=cid, interval="hour"),
            campaign_breakdown(campaign_id=cid),
            campaign_variants(campaign=campaign),
        )

    before = everything()
    rows_before = MessageStatusCount.objects.filter(campaign_id=cid).count()
    assert squash_status_counts() > 0
    assert not MessageStatusCount.objects.filter(campaign_id=cid, is_squashed=False).exists()
    assert MessageStatusCount.objects.filter(campaign_id=cid).count() < rows_before
    assert everything() == before
    # Arrivals stay positive rows, departures negative ones: the sign-aware fold never nets them.
    assert not MessageStatusCount.objects.filter(campaign_id=cid, minute__isnull=False, count__lte=0).exists()

    # More moves after a squash, squashed again: still a recount.
    leftover = Message.objects.filter(campaign_id=cid, status=S.SENT).first()
    assert leftover is not None
    assert message_move(message_id=leftover.pk, to=S.DELIVERED)
    squash_status_counts()
    squash_status_counts()
    after = everything()
    assert after[0]["delivered"] == before[0]["delivered"] + 1
    assert after[0]["sent"] == before[0]["sent"] - 1
    assert sum(b["delivered"] for b in after[1]["buckets"]) == sum(b["delivered"] for b in before[1]["buckets"]) + 1
