"""End to end with real Celery workers: blocked numbers never reach the local Twilio-compatible server."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, Message
from campaigns.tests.test_e2e_sending import _status, _tenant_ready, _wait, fake, workers  # noqa: F401 - fixtures
from contacts.tests.factories import ContactFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

US = [f"+1415999{i:04d}" for i in range(6)]
BLOCKED = {
    "+19002345678": "high_risk",  # US premium rate (900)
    "+881612345678": "high_risk",  # satellite
    "+2348031234567": "country",  # Nigeria: not among the US tenant's countries
    "+14165550123": "country",  # Canada: +1, but another country
}


def test_a_worker_sends_nothing_to_blocked_countries_or_premium_ranges(workers, fake, tenant_a, api_alice):  # noqa: F811
    _tenant_ready(tenant_a, fake, rate=500)
    for number in [*US, *BLOCKED]:
        ContactFactory(tenant=tenant_a, phone_number=number, consent_status="granted")
    campaign = api_alice.post("/api/v1/campaigns/", {"name": "E2E guard", "body": "Hi {{first_name}}"}, format="json")
    campaign = Campaign.objects.get(pk=campaign.json()["id"])
    workers.start()
    assert api_alice.post(f"/api/v1/campaigns/{campaign.pk}/send/", {}, format="json").status_code == 202
    _wait(lambda: _status(campaign) == "sent", 60, "the campaign to be sent", workers)

    assert sorted(r.form["To"] for r in fake.sends()) == sorted(US)
    stats = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()
    assert (stats["blocked"], stats["recipients"]) == (len(BLOCKED), len(US) + len(BLOCKED))
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("to", "status"))
    assert {statuses[n] for n in BLOCKED} == {"blocked"}
    assert workers.errors() == ""
