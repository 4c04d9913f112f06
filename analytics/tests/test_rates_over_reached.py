"""Click and opt-out rates over the recipients a campaign reached (#15 item 8), through the API.

"Reached" is delivered (read included); a campaign with no delivery report at all (a sender without status
callbacks) counts its ``sent`` messages instead. A STOP from a number whose message never arrived (undelivered,
refused at send) is no opt-out of that campaign, though the number is suppressed all the same.
"""

from __future__ import annotations

import pytest

from campaigns.counters import counts_add
from campaigns.models import CampaignStatus
from campaigns.models import MessageStatus as S
from campaigns.tests.factories import CampaignFactory, MessageFactory
from campaigns.transitions import message_move
from compliance.selectors import is_suppressed
from compliance.tests.test_inbound_webhook import post as inbound_post
from contacts.tests.factories import ContactFactory
from links.capture import click_event
from links.services import clicks_record, short_links_create_for_messages

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
SENT = [S.SENDING, S.QUEUED, S.SENT]
DELIVERED = [*SENT, S.DELIVERED]


def seed(tenant, paths: dict[str, tuple[int | None, list[str]]], *, clickers=(), stoppers=(), variants=None, n=0):
    """A sent campaign whose messages make ``paths`` (name → (variant, moves)); ``clickers`` click once,
    ``stoppers`` reply STOP through the signed inbound webhook."""
    campaign = CampaignFactory(tenant=tenant, status=CampaignStatus.SENT, variants=variants or [])
    messages = {}
    for i, (name, (variant, _moves)) in enumerate(paths.items()):
        contact = ContactFactory(tenant=tenant, phone_number=f"+1415666{n:02d}{i:02d}")
        messages[name] = MessageFactory(
            campaign=campaign, tenant=tenant, contact=contact, to=contact.phone_number, variant=variant
        )
    for variant in {v for v, _m in paths.values()}:
        counts_add(
            campaign_id=campaign.pk, deltas={S.PENDING: sum(v == variant for v, _m in paths.values())}, variant=variant
        )
    for name, (_variant, moves) in paths.items():
        for status in moves:
            extra = {"sid": f"SM{messages[name].pk:032x}"} if status == S.QUEUED else {}
            assert message_move(message_id=messages[name].pk, to=status, **extra), (name, status)
    codes = short_links_create_for_messages(
        tenant=tenant,
        campaign_id=campaign.pk,
        target_url="https://shop.example/",
        message_ids=[m.pk for m in messages.values()],
    )
    clicks_record(
        events=[
            click_event(code=codes[messages[name].pk], user_agent=IPHONE, ip="203.0.113.9", method="GET")
            for name in clickers
        ]
    )
    for name in stoppers:
        assert inbound_post(tenant, "STOP", from_number=messages[name].to).status_code == 200
        assert is_suppressed(tenant_id=tenant.pk, phone_number=messages[name].to)  # suppressed all the same
    return campaign


@pytest.fixture
def with_reports(tenant_a):
    """A/B. A1 delivered and STOP; A2 undelivered and STOP; A3 refused at send and STOP; A4 delivered, clicked.
    B1 read, clicked; B2 sent (its report not in yet)."""
    return seed(
        tenant_a,
        {
            "A1": (0, DELIVERED),
            "A2": (0, [*SENT, S.UNDELIVERED]),
            "A3": (0, [S.SENDING, S.FAILED]),
            "A4": (0, DELIVERED),
            "B1": (1, [*DELIVERED, S.READ]),
            "B2": (1, SENT),
        },
        clickers=("A4", "B1"),
        stoppers=("A1", "A2", "A3"),
        variants=[{"body": "A {{link}}", "percent": 50}, {"body": "B {{link}}", "percent": 50}],
        n=1,
    )


@pytest.fixture
def without_reports(tenant_a):
    """No delivery report ever came: N1-N3 sent (N1 clicked, N2 STOP), N4 refused at send and STOP."""
    return seed(
        tenant_a,
        {"N1": (None, SENT), "N2": (None, SENT), "N3": (None, SENT), "N4": (None, [S.SENDING, S.FAILED])},
        clickers=("N1",),
        stoppers=("N2", "N4"),
        n=2,
    )


def test_stats_count_only_opt_outs_of_recipients_reached(with_reports, api_alice):
    stats = api_alice.get(f"/api/v1/campaigns/{with_reports.pk}/stats/").json()
    # Reached: A1, A4 delivered and B1 read. Only A1's STOP answers a message that arrived.
    assert (stats["delivered"], stats["reached"], stats["unique_clicks"]) == (3, 3, 2)
    assert stats["opt_outs"] == 1
    assert stats["opt_out_rate"] == round(1 / 3, 4)
    assert stats["click_rate"] == round(2 / 3, 4)
    assert stats["delivery_rate"] == round(3 / (1 + 3 + 1 + 1), 4)  # unchanged: delivered / attempted


def test_variants_rates_over_recipients_reached(with_reports, api_alice):
    a, b = api_alice.get(f"/api/v1/campaigns/{with_reports.pk}/stats/variants/").json()["variants"]
    assert (a["reached"], a["opt_outs"], a["opt_out_rate"], a["click_rate"]) == (2, 1, 0.5, 0.5)
    assert (b["reached"], b["opt_outs"], b["opt_out_rate"], b["click_rate"]) == (1, 0, 0.0, 1.0)


def test_timeseries_opt_outs_add_up_to_the_stats(with_reports, api_alice):
    buckets = api_alice.get(f"/api/v1/campaigns/{with_reports.pk}/stats/timeseries/").json()["buckets"]
    assert sum(b["opt_outs"] for b in buckets) == 1


def test_overview_rates_over_recipients_reached(with_reports, without_reports, api_alice):
    body = api_alice.get("/api/v1/stats/overview/").json()
    rows = {c["id"]: c for c in body["campaigns"]}
    ab, silent = rows[with_reports.pk], rows[without_reports.pk]
    assert (ab["reached"], ab["opt_outs"], ab["opt_out_rate"], ab["click_rate"]) == (3, 1, 0.3333, 0.6667)
    assert (silent["reached"], silent["opt_outs"], silent["opt_out_rate"], silent["click_rate"]) == (
        3,
        1,
        0.3333,
        0.3333,
    )
    totals = body["totals"]
    # Each campaign by its own rule: 3 delivered in one, 3 sent in the one without reports.
    assert (totals["reached"], totals["opt_outs"], totals["unique_clicks"]) == (6, 2, 3)
    assert (totals["opt_out_rate"], totals["click_rate"]) == (round(2 / 6, 4), 0.5)


def test_without_delivery_reports_sent_stands_for_reached(without_reports, api_alice):
    stats = api_alice.get(f"/api/v1/campaigns/{without_reports.pk}/stats/").json()
    assert (stats["sent"], stats["delivered"], stats["failed"], stats["reached"]) == (3, 0, 1, 3)
    assert stats["click_rate"] == round(1 / 3, 4)
    assert (stats["opt_outs"], stats["opt_out_rate"]) == (1, round(1 / 3, 4))  # N4's message never left
    (row,) = api_alice.get(f"/api/v1/campaigns/{without_reports.pk}/stats/variants/").json()["variants"]
    assert (row["reached"], row["click_rate"], row["opt_outs"], row["opt_out_rate"]) == (3, 0.3333, 1, 0.3333)


def test_one_delivery_report_and_sent_no_longer_counts(tenant_a, api_alice):
    """Once any report came, messages still ``sent`` wait for theirs: reached is delivered only."""
    campaign = seed(tenant_a, {"D": (None, DELIVERED), "S1": (None, SENT), "S2": (None, SENT)}, clickers=("D",), n=3)
    stats = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()
    assert (stats["reached"], stats["click_rate"]) == (1, 1.0)


def test_other_tenants_see_nothing(with_reports, api_bob, api_charlie):
    for client in (api_bob, api_charlie):
        assert client.get(f"/api/v1/campaigns/{with_reports.pk}/stats/").status_code == 404
        assert client.get(f"/api/v1/campaigns/{with_reports.pk}/stats/variants/").status_code == 404
    assert api_bob.get("/api/v1/stats/overview/").json()["totals"]["opt_outs"] == 0
