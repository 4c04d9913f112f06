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
