"""CONTRACT.md's stats and messages endpoints on a campaign whose every outcome is known."""

from __future__ import annotations

import pytest

from campaigns.counters import counts_add
from campaigns.models import MessageStatus as S
from campaigns.tests.factories import CampaignFactory, MessageFactory
from campaigns.transitions import message_move
from compliance.tests.test_inbound_webhook import post as inbound_post
from contacts.tests.factories import ContactFactory
from links.capture import click_event
from links.services import clicks_record, short_links_create_for_messages

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
PATHS = {  # message → the moves it makes, in order
    "suppressed": [S.SUPPRESSED],
    "failed_at_send": [S.SENDING, S.FAILED],
    "undelivered": [S.SENDING, S.QUEUED, S.SENT, S.UNDELIVERED],
    "delivered_clicked": [S.SENDING, S.QUEUED, S.SENT, S.DELIVERED],
    "delivered_opted_out": [S.SENDING, S.QUEUED, S.DELIVERED],
    "sent_only": [S.SENDING, S.QUEUED, S.SENT],
}


@pytest.fixture
def seeded(tenant_a):
    campaign = CampaignFactory(tenant=tenant_a)
    messages = {}
    for n, name in enumerate(PATHS):
        contact = ContactFactory(tenant=tenant_a, phone_number=f"+1415555{n:04d}")
        messages[name] = MessageFactory(campaign=campaign, tenant=tenant_a, contact=contact, to=contact.phone_number)
    counts_add(campaign_id=campaign.pk, deltas={S.PENDING: len(messages)})
    for name, moves in PATHS.items():
        for status in moves:
            extra = {"sid": f"SM{messages[name].pk:032x}"} if status == S.QUEUED else {}
            assert message_move(message_id=messages[name].pk, to=status, **extra), (name, status)
    codes = short_links_create_for_messages(
        tenant=tenant_a,
        campaign_id=campaign.pk,
        target_url="https://shop.example/",
        message_ids=[m.pk for m in messages.values()],
    )
    clicked, opted = messages["delivered_clicked"], messages["delivered_opted_out"]
    clicks_record(
        events=[
            click_event(code=codes[clicked.pk], user_agent=IPHONE, ip="203.0.113.9", method="GET"),
            click_event(code=codes[clicked.pk], user_agent=IPHONE, ip="203.0.113.9", method="GET"),
            click_event(code=codes[clicked.pk], user_agent="WhatsApp/2.23.20.0", ip="203.0.113.9", method="GET"),
            click_event(code=codes[opted.pk], user_agent=ANDROID, ip="198.51.100.7", method="GET"),
        ]
    )
    inbound_post(tenant_a, "STOP", from_number=opted.to)
    return campaign, messages, codes


def test_stats_match_the_known_outcomes(seeded, api_alice):
    campaign, _messages, _codes = seeded
    stats = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()
    expected = {
        "recipients": 6,
        "suppressed": 1,
        "queued": 0,
        "sent": 1,
        "delivered": 2,
        "undelivered": 1,
        "failed": 1,
        "clicks": 3,  # two by one person, one by another; the WhatsApp preview is no click
        "unique_clicks": 2,
        "opt_outs": 1,
        "delivery_rate": round(2 / (1 + 2 + 1 + 1), 4),
        "click_rate": 1.0,
    }
    assert {k: stats[k] for k in expected} == expected
    assert stats["bot_hits"] == 1


def test_messages_list(seeded, api_alice, settings):
    campaign, messages, codes = seeded
    body = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/messages/").json()
    rows = {row["to"]: row for row in body["results"]}
    assert body["count"] == 6
    clicked = rows[messages["delivered_clicked"].to]
    assert clicked["status"] == "delivered" and clicked["clicks"] == 2
    assert clicked["short_url"] == f"{settings.SHORT_LINK_BASE_URL}/{codes[messages['delivered_clicked'].pk]}"
    assert clicked["sid"].startswith("SM")
    assert rows[messages["suppressed"].to]["clicks"] == 0
    failed = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/messages/?status=failed").json()["results"]
    assert [r["to"] for r in failed] == [messages["failed_at_send"].to]


def test_other_tenants_get_404(seeded, api_bob, api_charlie):
    campaign, _m, _c = seeded
    for client in (api_bob, api_charlie):
        assert client.get(f"/api/v1/campaigns/{campaign.pk}/stats/").status_code == 404
        assert client.get(f"/api/v1/campaigns/{campaign.pk}/messages/").status_code == 404


def test_empty_campaign_has_zero_rates(tenant_a, api_alice):
    campaign = CampaignFactory(tenant=tenant_a)
    stats = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()
    assert stats["recipients"] == 0 and stats["delivery_rate"] == 0.0 and stats["click_rate"] == 0.0
