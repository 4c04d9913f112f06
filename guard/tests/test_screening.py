"""Geo permissions and high-risk ranges: what the fan-out, the stats and the preview say about blocked numbers."""

from __future__ import annotations

import phonenumbers
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.counters import campaign_status_counts
from campaigns.models import CampaignStatus, Message, MessageStatus
from campaigns.sending.fanout import messages_materialise
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from guard.geo import Screen, high_risk_prefix, region_of
from guard.ranges import HIGH_RISK_PREFIXES, MAX_PREFIX_LENGTH, SAMPLES
from guard.selectors import blocked_by_reason
from guard.tests.factories import allow_countries
from tenants.tests.factories import TenantFactory

US = ["+14155550101", "+14155550102", "+14155550103"]
PREMIUM = "+19002345678"  # US 900: premium rate
NIGERIA = "+2348031234567"
LONDON = "+442071838750"
SATELLITE = "+881612345678"
TORONTO = "+14165550123"


def _sending(tenant, numbers):
    for number in numbers:
        ContactFactory(tenant=tenant, phone_number=number)
    return CampaignFactory(tenant=tenant, status=CampaignStatus.SENDING, body="Hi {{first_name}}", link_url="")


def test_fanout_blocks_numbers_outside_the_allowed_countries_and_in_high_risk_ranges(tenant_a, tenant_b):
    campaign = _sending(tenant_a, [*US, PREMIUM, NIGERIA, LONDON, SATELLITE, TORONTO])
    result = messages_materialise(campaign_id=campaign.pk, chunk_size=3)
    assert result.pending == 3
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("to", "status"))
    assert {statuses[n] for n in US} == {MessageStatus.PENDING}
    blocked = {n for n, s in statuses.items() if s == MessageStatus.BLOCKED}
    assert blocked == {PREMIUM, NIGERIA, LONDON, SATELLITE, TORONTO}
    reasons = dict(Message.objects.filter(campaign=campaign, status="blocked").values_list("to", "error_message"))
    assert "+1900" in reasons[PREMIUM] and "premium" in reasons[PREMIUM]
    assert "NG is not among" in reasons[NIGERIA] and "CA is not among" in reasons[TORONTO]
    assert "+881" in reasons[SATELLITE]
    assert campaign_status_counts(campaign.pk)["blocked"] == 5
    rows = {(r.reason, r.code): r.count for r in blocked_by_reason(tenant_id=tenant_a.pk)}
    assert rows == {
        ("high_risk", "+1900"): 1,
        ("high_risk", "+881"): 1,
        ("country", "NG"): 1,
        ("country", "GB"): 1,
        ("country", "CA"): 1,
    }
    assert blocked_by_reason(tenant_id=tenant_b.pk) == []


def test_allowed_countries_open_them_and_high_risk_ranges_stay_blocked(tenant_a):
    allow_countries(tenant_a, "us, ca;GB")
    campaign = _sending(tenant_a, [US[0], PREMIUM, LONDON, TORONTO, NIGERIA])
    messages_materialise(campaign_id=campaign.pk)
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("to", "status"))
    assert statuses == {
        US[0]: "pending",
        LONDON: "pending",
        TORONTO: "pending",
        PREMIUM: "blocked",  # in an allowed country, but a premium range
        NIGERIA: "blocked",
    }


def test_the_tenants_own_country_is_the_default(tenant_a):
    tenant_a.default_country = "GB"
    tenant_a.save(update_fields=["default_country"])
    campaign = _sending(tenant_a, [US[0], LONDON, "+447012345678"])  # 070: UK personal numbers, high risk
    messages_materialise(campaign_id=campaign.pk)
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("to", "status"))
    assert statuses == {US[0]: "blocked", LONDON: "pending", "+447012345678": "blocked"}


def test_the_screen_costs_no_query_per_recipient(db):
    """A chunk of 10 foreign numbers and a chunk of 200 cost the same number of queries."""

    def queries(n: int) -> int:
        campaign = _sending(TenantFactory(), [f"+23480{3000000 + i:07d}" for i in range(n)])
        with CaptureQueriesContext(connection) as ctx:
            messages_materialise(campaign_id=campaign.pk, chunk_size=1000)
        assert campaign_status_counts(campaign.pk)["blocked"] == n
        return len(ctx.captured_queries)

    assert queries(200) == queries(10)


def test_stats_and_preview_count_blocked_through_the_api(tenant_a, api_alice, api_bob):
    for number in [*US, NIGERIA, PREMIUM]:
        ContactFactory(tenant=tenant_a, phone_number=number, consent_status="granted")
    draft = api_alice.post("/api/v1/campaigns/preview/", {"body": "Hi"}, format="json")
    assert draft.status_code == 200, draft.content
    assert (draft.json()["recipients"], draft.json()["blocked"], draft.json()["billable_recipients"]) == (5, 2, 3)
    created = api_alice.post("/api/v1/campaigns/", {"name": "Geo", "body": "Hi"}, format="json").json()
    campaign_id = created["id"]
    assert api_alice.get(f"/api/v1/campaigns/{campaign_id}/preview/").json()["blocked"] == 2
    CampaignFactory._meta.model.objects.filter(pk=campaign_id).update(status=CampaignStatus.SENDING)
    messages_materialise(campaign_id=campaign_id)
    stats = api_alice.get(f"/api/v1/campaigns/{campaign_id}/stats/")
    assert stats.status_code == 200
    assert (stats.json()["blocked"], stats.json()["recipients"], stats.json()["queued"]) == (2, 5, 3)
    assert api_bob.get(f"/api/v1/campaigns/{campaign_id}/stats/").status_code == 404


# --- the data -----------------------------------------------------------------------------------------------


def test_every_listed_prefix_fits_the_lookup_and_every_sample_is_risky_for_libphonenumber():
    risky = {
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    }
    for prefix, what, source in HIGH_RISK_PREFIXES:
        assert prefix.startswith("+") and prefix[1:].isdigit() and len(prefix) <= MAX_PREFIX_LENGTH, prefix
        assert what and source
    for prefix, sample in SAMPLES.items():
        assert sample.startswith(prefix) and high_risk_prefix(sample) == prefix
        assert phonenumbers.number_type(phonenumbers.parse(sample)) in risky, sample


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("+14155550100", "US"),
        ("+14165550123", "CA"),
        ("+18765550100", "JM"),
        ("+17875550100", "PR"),
        ("+447700900123", "GB"),
        ("+441534123456", "JE"),
        ("+61412345678", "AU"),
        ("+77011234567", "KZ"),
        ("+79161234567", "RU"),
        ("+881612345678", "001"),
    ],
)
def test_region_by_prefix(number, region):
    assert region_of(number) == region


def test_a_screen_judges_a_prefix_once():
    screen = Screen(allowed=frozenset({"US"}))
    assert screen.verdict("+2348031234567") == ("country", "NG")
    assert screen.verdict("+2348039999999") == ("country", "NG")
    assert screen.verdict("+14155550100") is None
    assert len(screen._seen) == 2
