"""A campaign compared with its tenant's own history, and one country's failures against the rest of the campaign:
through the API, the local Twilio and signed status callbacks, then the guard's tick."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.sending import control
from contacts.tests.factories import ContactFactory
from guard.models import CampaignCountryCount, GuardEvent
from guard.tasks import guard_tick
from guard.tests.conftest import campaign_sent_by_api, send_batch
from guard.tests.factories import GuardSettingsFactory, allow_countries

pytestmark = pytest.mark.usefixtures("open_hours", "sent_tasks")

GENERIC_FAILURE = 30008  # "unknown error": a failure, not one of the carrier-filtering codes


def _report(callbacks, fake, tenant, campaign, failed_share: float) -> int:
    """Every sent message of ``campaign`` reported: the first ``failed_share`` undelivered, the rest delivered."""
    sids = list(
        Message.objects.filter(campaign=campaign).exclude(sid=None).order_by("id").values_list("sid", flat=True)
    )
    bad = round(len(sids) * failed_share)
    assert set(callbacks(fake, tenant, sids[:bad], "undelivered", GENERIC_FAILURE)) <= {204}
    assert set(callbacks(fake, tenant, sids[bad:], "delivered")) <= {204}
    return len(sids)


def _short_history(tenant):
    """The test's history is a few hundred reports, not the default 1,000 (every report is a signed callback)."""
    settings = GuardSettingsFactory(tenant=tenant)
    settings.history_min_reports = 250
    settings.save(update_fields=["history_min_reports"])


def test_a_campaign_far_above_the_tenants_usual_failures_pauses_naming_the_history(
    api_alice, api_bob, api_charlie, tenant_a, tenant_b, fake_twilio, callbacks
):
    _short_history(tenant_a)
    _short_history(tenant_b)
    usual = campaign_sent_by_api(api_alice, tenant_a, 300)
    send_batch(usual)
    assert _report(callbacks, fake_twilio, tenant_a, usual, 0.01) == 300
    assert guard_tick()["paused"] == 0  # 1%: no history yet, and far under the 15% threshold

    today = campaign_sent_by_api(api_alice, tenant_a, 250, prefix="+1415777")
    send_batch(today)
    n = _report(callbacks, fake_twilio, tenant_a, today, 0.06)  # 6%: under 15%, but 6 times the usual 1%
    assert n >= 250
    assert guard_tick()["paused"] == 1
    today.refresh_from_db()
    usual.refresh_from_db()
    assert today.status == CampaignStatus.PAUSED and usual.status != CampaignStatus.PAUSED
    assert "were undelivered or failed vs this tenant's usual 1.0%" in today.paused_reason
    assert "above 3× and 2.0% over the usual" in today.paused_reason
    event = GuardEvent.objects.get(campaign=today)
    assert event.tenant_id == tenant_a.pk and event.figures["metric"] == "failed_rate_vs_history"
    assert event.figures["history"]["reports"] == 300 and event.figures["history"]["failed"] == 3
    assert event.figures["failed_rate"] == pytest.approx(0.06, abs=0.005)
    assert api_alice.get(f"/api/v1/campaigns/{today.pk}/").json()["status"] == "paused"
    assert api_charlie.get(f"/api/v1/campaigns/{today.pk}/").status_code == 404  # the outsider sees nothing

    # Bob's tenant has no history: the same 6% is under every threshold it has.
    first = campaign_sent_by_api(api_bob, tenant_b, 300, prefix="+1415888")
    send_batch(first)
    _report(callbacks, fake_twilio, tenant_b, first, 0.06)
    assert guard_tick()["paused"] == 0
    assert Campaign.objects.get(pk=first.pk).status == CampaignStatus.SENDING
    assert not GuardEvent.objects.filter(tenant=tenant_b).exists()


def _two_country_campaign(api, tenant, us: int, gb: int) -> Campaign:
    allow_countries(tenant, "US, GB")
    for i in range(us):
        ContactFactory(tenant=tenant, phone_number=f"+1415666{i:04d}", consent_status="granted")
    for i in range(gb):
        ContactFactory(tenant=tenant, phone_number=f"+447700900{i:03d}", consent_status="granted")
    created = api.post("/api/v1/campaigns/", {"name": "Abroad", "body": "Spring sale: 20% off"}, format="json")
    assert created.status_code == 201, created.content
    assert api.post(f"/api/v1/campaigns/{created.json()['id']}/send/", {}, format="json").status_code == 202
    control.fanout_run(campaign_id=created.json()["id"])
    return Campaign.objects.get(pk=created.json()["id"])


def _report_by_country(callbacks, fake, tenant, campaign, failed: dict[str, int]) -> None:
    """Report every sent message: the first ``failed[country]`` of each country undelivered, the rest delivered."""
    rows = Message.objects.filter(campaign=campaign).exclude(sid=None).order_by("id").values_list("sid", "to")
    bad, good, seen = [], [], {"US": 0, "GB": 0}
    for sid, to in rows:
        country = "GB" if to.startswith("+44") else "US"
        (bad if seen[country] < failed[country] else good).append(sid)
        seen[country] += 1
    assert set(callbacks(fake, tenant, bad, "undelivered", GENERIC_FAILURE)) == {204}
    assert set(callbacks(fake, tenant, good, "delivered")) == {204}


def test_one_country_failing_far_more_than_the_rest_pauses_naming_it(api_alice, tenant_a, fake_twilio, callbacks):
    campaign = _two_country_campaign(api_alice, tenant_a, us=400, gb=100)
    counts = dict(CampaignCountryCount.objects.filter(campaign=campaign).values_list("country", "recipients"))
    assert counts == {"US": 400, "GB": 100}  # recorded at fan-out
    send_batch(campaign)
    # GB 40% undelivered, US 2%: 48 of 500 (9.6%) overall, under the 15% failure threshold.
    _report_by_country(callbacks, fake_twilio, tenant_a, campaign, {"GB": 40, "US": 8})
    assert guard_tick()["paused"] == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert "40.0% of about 100 delivery reports to GB were undelivered or failed vs 2.0% elsewhere" in (
        campaign.paused_reason
    )
    event = GuardEvent.objects.get(campaign=campaign)
    assert event.figures["metric"] == "country_failed_rate:GB" and event.figures["value"] == 0.4
    assert event.figures["failed"] == 48 and event.figures["reports"] == 500


def test_the_same_failures_spread_evenly_over_the_countries_never_pause(api_bob, tenant_b, fake_twilio, callbacks):
    campaign = _two_country_campaign(api_bob, tenant_b, us=400, gb=100)
    send_batch(campaign)
    _report_by_country(callbacks, fake_twilio, tenant_b, campaign, {"GB": 10, "US": 38})  # 10% and 9.5%
    assert guard_tick()["paused"] == 0
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING
    assert guard_tick()["paused"] == 0  # failures did not rise: the countries are not read again
