from __future__ import annotations

import pytest

from campaigns.models import MessageStatus, can_move
from campaigns.selectors import campaign_status_counts, squash_status_counts
from campaigns.tests.factories import MessageFactory
from campaigns.transitions import counts_add, message_move


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
