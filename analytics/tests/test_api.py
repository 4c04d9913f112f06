"""The analytics endpoints on the seeded campaigns (conftest.py): every expected number counted by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.tests.conftest import T0, seed_ab_campaign, seed_plain_campaign
from campaigns.counters import counts_add
from campaigns.models import CampaignStatus
from campaigns.models import MessageStatus as S
from campaigns.tests.factories import CampaignFactory

Z = {
    "sent": 0, "delivered": 0, "failed": 0, "undelivered": 0, "clicks": 0, "unique_clicks": 0, "bot_hits": 0,
    "opt_outs": 0,
}  # fmt: skip


def url(campaign, what: str) -> str:
    return f"/api/v1/campaigns/{campaign.pk}/stats/{what}/"


def minute(n: int) -> str:
    return (T0 + dt.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


# Per minute, from the table in conftest.py:
#   @0 handed A1, A2, A4 (A3 refused: failed, not sent)      @1 handed B1..B5 (B2 once, via accepted)
#   @2 delivered A1, A2, B1; B4 failed                        @3 delivered B2; undelivered A4, B3
#   @4 B5 read from sent (delivered); A2 read after delivered (not again)
#   clicks @3: A1, B1 human first + WhatsApp bot; @4 A2 first; @5 A1 again; @6 HEAD bot; @9 A2 again
#   opt-outs @7: A2 replied STOP
EXPECTED_MINUTES = [
    {"t": minute(0), **Z, "sent": 3, "failed": 1},
    {"t": minute(1), **Z, "sent": 5},
    {"t": minute(2), **Z, "delivered": 3, "failed": 1},
    {"t": minute(3), **Z, "delivered": 1, "undelivered": 2, "clicks": 2, "unique_clicks": 2, "bot_hits": 1},
    {"t": minute(4), **Z, "delivered": 1, "clicks": 1, "unique_clicks": 1},
    {"t": minute(5), **Z, "clicks": 1},
    {"t": minute(6), **Z, "bot_hits": 1},
    {"t": minute(7), **Z, "opt_outs": 1},
    {"t": minute(8), **Z},
    {"t": minute(9), **Z, "clicks": 1},
]


def test_timeseries_per_minute(ab_campaign, api_alice):
    campaign, _m, _c = ab_campaign
    body = api_alice.get(url(campaign, "timeseries")).json()
    assert body["interval"] == "minute"  # the data spans 10 minutes
    assert body["buckets"] == EXPECTED_MINUTES


def test_timeseries_per_hour_and_window(ab_campaign, api_alice):
    campaign, _m, _c = ab_campaign
    body = api_alice.get(url(campaign, "timeseries"), {"interval": "hour"}).json()
    assert body == {
        "interval": "hour",
        "buckets": [
            {"t": minute(0), "sent": 8, "delivered": 5, "failed": 2, "undelivered": 2, "clicks": 5,
             "unique_clicks": 3, "bot_hits": 2, "opt_outs": 1}
        ],
    }  # fmt: skip
    window = api_alice.get(url(campaign, "timeseries"), {"since": minute(2), "until": "2026-11-20T10:04:00+00:00"})
    assert window.json()["buckets"] == EXPECTED_MINUTES[2:5]


def test_timeseries_defaults_to_hours_over_three_hours_and_caps_buckets(tenant_a, api_alice):
    campaign = CampaignFactory(tenant=tenant_a)
    counts_add(campaign_id=campaign.pk, deltas={S.DELIVERED: 2})
    counts_add(campaign_id=campaign.pk, deltas={S.DELIVERED: 1})
    from campaigns.models import MessageStatusCount

    first, second = MessageStatusCount.objects.filter(campaign_id=campaign.pk).order_by("id")
    MessageStatusCount.objects.filter(pk=first.pk).update(minute=T0)
    MessageStatusCount.objects.filter(pk=second.pk).update(minute=T0 + dt.timedelta(hours=4, minutes=59))
    body = api_alice.get(url(campaign, "timeseries")).json()
    assert body["interval"] == "hour"
    assert [(b["t"], b["delivered"]) for b in body["buckets"]] == [
        (minute(0), 2),
        (minute(60), 0),
        (minute(120), 0),
        (minute(180), 0),
        (minute(240), 1),
    ]
    # 300 minutes apart at minute resolution: 300 buckets; 3,000 apart: the latest 2,000, flagged.
    assert len(api_alice.get(url(campaign, "timeseries"), {"interval": "minute"}).json()["buckets"]) == 300
    MessageStatusCount.objects.filter(pk=second.pk).update(minute=T0 + dt.timedelta(minutes=3000))
    capped = api_alice.get(url(campaign, "timeseries"), {"interval": "minute"}).json()
    assert len(capped["buckets"]) == 2000 and capped["truncated"] is True
    assert capped["buckets"][-1] == {"t": minute(3000), **Z, "delivered": 1}
    assert capped["buckets"][0]["t"] == minute(1001)


def test_timeseries_empty_campaign(tenant_a, api_alice):
    campaign = CampaignFactory(tenant=tenant_a)
    assert api_alice.get(url(campaign, "timeseries")).json() == {"interval": "minute", "buckets": []}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "week"}, "interval"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-40T99:00"}, "until"),
        ({"since": "2026-11-20T10:05:00Z", "until": "2026-11-20T10:00:00Z"}, "until"),
    ],
)
def test_timeseries_bad_query_is_a_400_naming_the_field(ab_campaign, api_alice, params, field):
    campaign, _m, _c = ab_campaign
    response = api_alice.get(url(campaign, "timeseries"), params)
    assert response.status_code == 400
    assert field in response.json()


def test_breakdown(ab_campaign, api_alice):
    campaign, _m, _c = ab_campaign
    body = api_alice.get(url(campaign, "breakdown")).json()

    def row(value, clicks, unique, bots):
        return {"value": value, "clicks": clicks, "unique_clicks": unique, "bot_hits": bots}

    # Human clicks: A1 iPhone/US x2, A2 Android FR then no country, B1 Windows Chrome GB.
    # Bots: WhatsApp preview (GB, device "other", no OS) on A1, HEAD (Windows Chrome, US) on B1.
    assert body["device"] == [row("mobile", 4, 2, 0), row("desktop", 1, 1, 1), row("other", 0, 0, 1)]
    assert body["os"] == [
        row("Android", 2, 1, 0),
        row("iOS", 2, 1, 0),
        row("Windows", 1, 1, 1),
        row("unknown", 0, 0, 1),
    ]
    assert body["browser"] == [row("Chrome", 3, 2, 1), row("Mobile Safari", 2, 1, 0), row("WhatsApp", 0, 0, 1)]
    assert body["country"] == [row("US", 2, 1, 1), row("GB", 1, 1, 1), row("FR", 1, 1, 0), row("unknown", 1, 0, 0)]
    assert body["variant"] == [row("0", 4, 2, 1), row("1", 1, 1, 1)]
    assert body["bots"] == {
        "bot_hits": 2,
        "by_reason": [{"reason": "HEAD request", "bot_hits": 1}, {"reason": "link preview: WhatsApp", "bot_hits": 1}],
    }
    assert body["error_codes"] == [
        {"code": 30003, "status": "undelivered", "count": 2,
         "description": "Unreachable destination handset (off, out of coverage or unable to receive)"},
        {"code": 21211, "status": "failed", "count": 1, "description": "Invalid 'To' phone number"},
        {"code": 30007, "status": "failed", "count": 1,
         "description": "Filtered by the carrier as spam or a policy violation"},
    ]  # fmt: skip


def test_breakdown_keeps_top_20_and_an_other_row(tenant_a, api_alice):
    from analytics.models import ClickBreakdown

    campaign = CampaignFactory(tenant=tenant_a)
    ClickBreakdown.objects.bulk_create(
        [
            ClickBreakdown(tenant=tenant_a, campaign=campaign, dimension="country", value=f"C{n:02d}", clicks=n)
            for n in range(1, 26)
        ]
    )
    countries = api_alice.get(url(campaign, "breakdown")).json()["country"]
    assert [c["value"] for c in countries[:3]] == ["C25", "C24", "C23"]
    assert len(countries) == 21
    assert countries[-1] == {"value": "other", "clicks": 1 + 2 + 3 + 4 + 5, "unique_clicks": 0, "bot_hits": 0}


def test_variants_and_their_test(ab_campaign, api_alice):
    campaign, _m, _c = ab_campaign
    body = api_alice.get(url(campaign, "variants")).json()
    a, b = body["variants"]
    # A: A1 delivered, A2 read, A3 failed, A4 undelivered, A5 suppressed; 4 human clicks by A1 and A2.
    assert a == {
        "variant": 0, "label": "A", "body": "A: sale {{link}}", "percent": 50, "recipients": 5, "queued": 0,
        "sent": 0, "delivered": 2, "undelivered": 1, "failed": 1, "suppressed": 1, "clicks": 4,
        "unique_clicks": 2, "bot_hits": 1, "click_rate": 1.0, "delivery_rate": 0.5,
        "opt_outs": 1, "opt_out_rate": 0.5, "reached": 2,  # A2 replied STOP: 1 of 2 reached (delivered)
    }  # fmt: skip
    # B: B1, B2 delivered, B5 read, B3 undelivered, B4 failed; B1 clicked once.
    assert b == {
        "variant": 1, "label": "B", "body": "B: 20% off {{link}}", "percent": 50, "recipients": 5, "queued": 0,
        "sent": 0, "delivered": 3, "undelivered": 1, "failed": 1, "suppressed": 0, "clicks": 1,
        "unique_clicks": 1, "bot_hits": 1, "click_rate": 0.3333, "delivery_rate": 0.6,
        "opt_outs": 0, "opt_out_rate": 0.0, "reached": 3,
    }  # fmt: skip
    # Pooled: p = 3/5, se = sqrt(0.6 * 0.4 * (1/3 + 1/2)) = sqrt(0.2); z = (2/2 - 1/3) / sqrt(0.2) = 1.491;
    # two-sided p = 0.136. Two and three delivered are far too few for a verdict.
    test = body["test"]
    assert test["a"] == 1 and test["b"] == 0 and test["z"] == 1.491 and test["p_value"] == 0.1360
    assert test["significant"] is False and test["winner"] is None
    assert test["verdict"] == "Not enough data yet"
    assert "unassigned" not in body


def test_variants_without_variants_is_one_row(tenant_a, api_alice):
    campaign = seed_plain_campaign(tenant_a)
    body = api_alice.get(url(campaign, "variants")).json()
    assert body["test"] is None
    assert body["variants"] == [
        {
            "variant": None, "label": "", "body": campaign.body, "percent": 100, "recipients": 2, "queued": 0,
            "sent": 1, "delivered": 1, "undelivered": 0, "failed": 0, "suppressed": 0, "clicks": 1,
            "unique_clicks": 1, "bot_hits": 0, "click_rate": 1.0, "delivery_rate": 0.5,
            "opt_outs": 1, "opt_out_rate": 1.0, "reached": 1,
        }
    ]  # fmt: skip


def test_variants_when_the_fan_out_did_not_say_which(tenant_a, api_alice):
    """Pending counted without variants: a variant's recipients are the messages that left pending."""
    from campaigns.tests.factories import MessageFactory
    from campaigns.transitions import message_move

    campaign = CampaignFactory(tenant=tenant_a, variants=[{"body": "x", "percent": 50}, {"body": "y", "percent": 50}])
    messages = [MessageFactory(campaign=campaign, tenant=tenant_a, variant=n % 2) for n in range(5)]
    counts_add(campaign_id=campaign.pk, deltas={S.PENDING: 5})
    for message in messages[:3]:  # variants 0, 1, 0 claimed; two still pending
        assert message_move(message_id=message.pk, to=S.SENDING)
    a, b = api_alice.get(url(campaign, "variants")).json()["variants"]
    assert (a["recipients"], a["queued"], b["recipients"], b["queued"]) == (2, 2, 1, 1)


def test_overview(tenant_a, api_alice):
    seed_ab_campaign(tenant_a)
    plain = seed_plain_campaign(tenant_a)
    old = CampaignFactory(
        tenant=tenant_a, name="Old", status=CampaignStatus.SENT, started_at=timezone.now() - dt.timedelta(days=40)
    )
    counts_add(campaign_id=old.pk, deltas={S.DELIVERED: 4})
    CampaignFactory(tenant=tenant_a, name="Draft")  # never counted
    with CaptureQueriesContext(connection) as queries:
        body = api_alice.get("/api/v1/stats/overview/").json()
    # AB: 10 recipients, 5 delivered, 2 failed, 2 undelivered, 5 clicks by 3 people, 1 opt-out.
    # Newsletter: 2 recipients, 1 sent, 1 delivered, 1 click, 1 opt-out.
    assert body["days"] == 30
    assert body["totals"] == {
        "campaigns": 2, "recipients": 12, "sent": 1, "delivered": 6, "failed": 2, "undelivered": 2,
        "suppressed": 1, "clicks": 6, "unique_clicks": 4, "opt_outs": 2, "reached": 6,
        "delivery_rate": round(6 / 11, 4), "click_rate": round(4 / 6, 4), "opt_out_rate": round(2 / 6, 4),
        "read": 2, "read_rate": round(2 / 3, 4),  # A/B: 2 read of 3 on RCS; the newsletter went by SMS
    }  # fmt: skip
    names = [c["name"] for c in body["campaigns"]]
    assert names == ["Newsletter", "Spring sale A/B"]  # most recent first
    newsletter, ab = body["campaigns"]
    assert newsletter["id"] == plain.pk
    assert {k: newsletter[k] for k in ("recipients", "sent", "delivered", "unique_clicks", "opt_outs")} == {
        "recipients": 2, "sent": 1, "delivered": 1, "unique_clicks": 1, "opt_outs": 1,
    }  # fmt: skip
    assert (newsletter["delivery_rate"], newsletter["click_rate"], newsletter["opt_out_rate"]) == (0.5, 1.0, 1.0)
    assert (ab["delivery_rate"], ab["click_rate"], ab["opt_out_rate"]) == (round(5 / 9, 4), 0.6, 0.2)
    # Reads only where the channel reports them: none for an SMS campaign (null, not 0%).
    assert (ab["read"], ab["read_rate"], newsletter["read"], newsletter["read_rate"]) == (2, round(2 / 3, 4), 0, None)
    assert ab["started_at"] is not None

    wider = api_alice.get("/api/v1/stats/overview/", {"days": 60}).json()
    assert (wider["totals"]["campaigns"], wider["totals"]["recipients"], wider["totals"]["delivered"]) == (3, 16, 10)
    # Constant queries: as many with three more campaigns as with these two.
    for i in range(3):
        more = CampaignFactory(tenant=tenant_a, name=f"More {i}", status=CampaignStatus.SENT, started_at=timezone.now())
        counts_add(campaign_id=more.pk, deltas={S.DELIVERED: 3, S.FAILED: 1})
    with CaptureQueriesContext(connection) as more_queries:
        assert len(api_alice.get("/api/v1/stats/overview/").json()["campaigns"]) == 5
    assert len(more_queries.captured_queries) == len(queries.captured_queries) <= 10


@pytest.mark.parametrize("days", ["0", "abc", "400"])
def test_overview_bad_days_is_a_400(api_alice, days):
    response = api_alice.get("/api/v1/stats/overview/", {"days": days})
    assert response.status_code == 400 and "days" in response.json()


def test_other_tenants_get_404_and_their_own_overview(ab_campaign, api_bob, api_charlie):
    campaign, _m, _c = ab_campaign
    for client in (api_bob, api_charlie):
        for what in ("timeseries", "breakdown", "variants"):
            assert client.get(url(campaign, what)).status_code == 404
        for kind in ("messages", "clicks"):
            assert client.get(f"/api/v1/campaigns/{campaign.pk}/export/{kind}.csv").status_code == 404
        assert client.get("/api/v1/stats/overview/").json()["totals"]["campaigns"] == 0


def test_no_auth_is_401_and_session_auth_works(ab_campaign, alice):
    campaign, _m, _c = ab_campaign
    client = Client()
    assert client.get(url(campaign, "breakdown")).status_code == 401
    assert client.get("/api/v1/stats/overview/").status_code == 401
    client.force_login(alice)
    assert client.get(url(campaign, "timeseries")).json()["buckets"] == EXPECTED_MINUTES
    assert client.get("/api/v1/stats/overview/").status_code == 200


def test_schema_documents_the_endpoints(api_alice):
    schema = api_alice.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in (
        "/stats/timeseries/",
        "/stats/breakdown/",
        "/stats/variants/",
        "/api/v1/stats/overview/",
        "/export/messages.csv",
        "/export/clicks.csv",
    ):
        assert path in schema


def test_opt_outs_over_time_count_each_number_once_at_its_first_stop(tenant_a, api_alice):
    from campaigns.tests.factories import MessageFactory
    from compliance.models import InboundKind
    from compliance.tests.factories import InboundMessageFactory

    campaign, other = CampaignFactory(tenant=tenant_a), CampaignFactory(tenant=tenant_a)

    def stop(number: str, at_minute: int, *, campaign=campaign, kind=InboundKind.OPT_OUT, phone_hash=None):
        # Each answers a message that reached the number (an opt-out counts over recipients reached).
        message = MessageFactory(campaign=campaign, tenant=tenant_a, status=S.DELIVERED)
        row = InboundMessageFactory(tenant=tenant_a, campaign=campaign, message=message, kind=kind, from_number=number)
        assert row.phone_hash
        type(row).objects.filter(pk=row.pk).update(
            received_at=T0 + dt.timedelta(minutes=at_minute, seconds=20),
            phone_hash=row.phone_hash if phone_hash is None else phone_hash,
        )

    stop("+14155550101", 1)
    stop("+14155550101", 3)  # the same number again: counted at minute 1 only
    stop("+14155550102", 3)
    stop("+14155550103", 3, campaign=other)  # another campaign's
    stop("+14155550104", 2, kind=InboundKind.REPLY)  # not an opt-out
    stop("+14155550105", 2, phone_hash="")  # erased: no number left to count
    body = api_alice.get(url(campaign, "timeseries")).json()
    assert [(b["t"], b["opt_outs"]) for b in body["buckets"]] == [(minute(1), 1), (minute(2), 0), (minute(3), 1)]
    stats = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()
    assert sum(b["opt_outs"] for b in body["buckets"]) == stats["opt_outs"] == 2
    window = api_alice.get(url(campaign, "timeseries"), {"since": minute(2), "until": minute(3)}).json()
    assert [(b["t"], b["opt_outs"]) for b in window["buckets"]] == [(minute(3), 1)]
