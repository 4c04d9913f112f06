from __future__ import annotations

import pytest

from campaigns.counters import campaign_status_counts, counts_add, squash_status_counts
from campaigns.models import MessageStatus, can_move
from campaigns.tests.factories import MessageFactory
from campaigns.transitions import message_move


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        ("pending", "sending", True),
        ("sending", "queued", True),
        ("queued", "sent", True),
        ("sent", "delivered", True),
        ("delivered", "sent", False),
        ("delivered", "read", True),
        ("failed", "delivered", False),
        ("undelivered", "read", False),
        ("sent", "queued", False),
        ("unknown", "delivered", True),
        ("pending", "suppressed", True),
        ("suppressed", "sending", False),
    ],
)
def test_state_machine(old, new, ok):
    assert can_move(old, new) is ok


def test_move_is_forward_only_and_counted(tenant_a):
    msg = MessageFactory(campaign__tenant=tenant_a)
    counts_add(campaign_id=msg.campaign_id, deltas={MessageStatus.PENDING: 1})
    assert message_move(message_id=msg.pk, to="sending", allowed_from=["pending"]) == "pending"
    assert message_move(message_id=msg.pk, to="sending", allowed_from=["pending"]) is None  # claim lost
    assert message_move(message_id=msg.pk, to="delivered", sid="SM" + "1" * 32) == "sending"
    assert message_move(message_id=msg.pk, to="sent") is None
    msg.refresh_from_db()
    assert (msg.status, msg.sid) == ("delivered", "SM" + "1" * 32)
    counts = campaign_status_counts(msg.campaign_id)
    assert counts["delivered"] == 1 and counts["pending"] == 0 and counts["sending"] == 0
    squash_status_counts()
    assert campaign_status_counts(msg.campaign_id) == counts


def _recount(campaign_id: int) -> dict[str, int]:
    from django.db.models import Count

    from campaigns.models import Message

    rows = Message.objects.filter(campaign_id=campaign_id).values("status").annotate(n=Count("id"))
    return {r["status"]: r["n"] for r in rows}


def test_move_rows_each_to_its_own_status_forward_only_and_counted(tenant_a):
    from campaigns.models import Message
    from campaigns.tests.factories import CampaignFactory
    from campaigns.transitions import messages_move_rows

    campaign = CampaignFactory(tenant=tenant_a)
    msgs = [MessageFactory(campaign=campaign) for _ in range(5)]
    counts_add(campaign_id=campaign.pk, deltas={MessageStatus.PENDING: 5})
    for m in msgs[:4]:
        message_move(message_id=m.pk, to="sending", allowed_from=["pending"])
    # A status webhook got to one first: it is delivered before its send outcome is recorded.
    message_move(message_id=msgs[2].pk, to="delivered", sid="SM" + "2" * 32)
    sids = ["SM" + str(i) * 32 for i in range(5)]
    moved = messages_move_rows(
        rows=[
            (msgs[0].pk, "queued", sids[0]),
            (msgs[1].pk, "accepted", sids[1]),
            (msgs[2].pk, "queued", sids[2]),  # would be backwards: left alone
            (msgs[3].pk, "queued", sids[3]),
            (msgs[4].pk, "queued", sids[4]),  # still pending: not allowed from there
        ],
        fields=("sid",),
        allowed_from=["sending", "unknown"],
    )
    assert moved == {msgs[0].pk: "sending", msgs[1].pk: "sending", msgs[3].pk: "sending"}
    got = dict(Message.objects.filter(campaign=campaign).values_list("pk", "status"))
    assert [got[m.pk] for m in msgs] == ["queued", "accepted", "delivered", "queued", "pending"]
    assert Message.objects.get(pk=msgs[2].pk).sid == "SM" + "2" * 32  # the webhook's, not overwritten
    assert Message.objects.get(pk=msgs[4].pk).sid is None
    assert Message.objects.get(pk=msgs[1].pk).sid == sids[1]
    counts = {s: n for s, n in campaign_status_counts(campaign.pk).items() if n}
    assert counts == _recount(campaign.pk)
    # Again: nothing moves twice.
    assert messages_move_rows(rows=[(msgs[0].pk, "queued", sids[0])], fields=("sid",)) == {}
    assert messages_move_rows(rows=[]) == {}


def test_move_rows_counts_feed_the_analytics_like_single_moves(tenant_a):
    """The sender's group outcomes stamp their counter rows as a single move does: the
    minute, the status it came from, the error code and the variant (the dashboard's series,
    failures by code and A/B figures read those columns)."""
    from analytics.selectors import campaign_error_codes, campaign_timeseries
    from campaigns.models import MessageStatusCount
    from campaigns.tests.factories import CampaignFactory
    from campaigns.transitions import messages_move_rows
    from tracking.error_codes import error_code_description

    campaign = CampaignFactory(tenant=tenant_a)
    msgs = [MessageFactory(campaign=campaign, variant=i % 2) for i in range(4)]
    for variant in (0, 1):
        counts_add(campaign_id=campaign.pk, deltas={MessageStatus.PENDING: 2}, variant=variant)
    for m in msgs:
        message_move(message_id=m.pk, to="sending", allowed_from=["pending"])
    moved = messages_move_rows(
        rows=[
            (msgs[0].pk, "queued", "SM" + "0" * 32, None),
            (msgs[1].pk, "queued", "SM" + "1" * 32, None),
            (msgs[2].pk, "failed", None, 21211),
            (msgs[3].pk, "failed", None, 21211),
        ],
        fields=("sid", "error_code"),
        allowed_from=["sending"],
    )
    assert len(moved) == 4
    assert campaign_error_codes(campaign_id=campaign.pk) == [
        {"code": 21211, "status": "failed", "count": 2, "description": error_code_description(21211)}
    ]
    series = campaign_timeseries(campaign_id=campaign.pk, interval="minute")
    assert sum(b["sent"] for b in series["buckets"]) == 2
    assert sum(b["failed"] for b in series["buckets"]) == 2
    arrivals = MessageStatusCount.objects.filter(campaign=campaign, count=1, status__in=["queued", "failed"])
    assert sorted(arrivals.values_list("variant", "from_status")) == [
        (0, "sending"),
        (0, "sending"),
        (1, "sending"),
        (1, "sending"),
    ]
    assert all(a.minute is not None for a in arrivals)
    counts = {s: n for s, n in campaign_status_counts(campaign.pk).items() if n}
    assert counts == _recount(campaign.pk)
