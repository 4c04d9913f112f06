"""A synthetic SMS pumping attack, stopped: sign-ups from sequential numbers of one foreign range.

The attacker owns (or rents from a complicit operator) a block of a thousand numbers and is paid per text those
numbers receive. It signs them all up through the tenant's form (the contacts API, as a form integration calls it)
and texts the tenant's join keyword from them, hoping to be texted back. The figures are in docs/compliance.md,
"Fraud and anomaly guard"; this test is where they come from.
"""

from __future__ import annotations

from collections import Counter

import pytest

from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.sending import control
from compliance.tests.test_inbound_webhook import post, reply_text
from guard.models import GuardEvent
from guard.selectors import blocked_by_reason
from guard.tests.conftest import send_batch

pytestmark = pytest.mark.usefixtures("open_hours", "sent_tasks")

RANGE = "+2348031234"  # a block of a thousand Nigerian mobile numbers: +2348031234000 … +2348031234999
SIGNUPS = 1000
CUSTOMERS = 100


def test_a_pumping_signup_wave_from_one_foreign_range_is_stopped(api_alice, tenant_a, fake_twilio):
    # 1. The wave: a thousand sequential numbers sign up through the form (the API), among real customers.
    for i in range(CUSTOMERS):
        answer = api_alice.post(
            "/api/v1/contacts/", {"phone_number": f"+1415888{i:04d}", "consent_status": "granted"}, format="json"
        )
        assert answer.status_code == 201, answer.content
    for i in range(SIGNUPS):
        answer = api_alice.post(
            "/api/v1/contacts/", {"phone_number": f"{RANGE}{i:03d}", "consent_status": "granted"}, format="json"
        )
        assert answer.status_code == 201, answer.content

    # 2. The preview already says so, before any send.
    preview = api_alice.post("/api/v1/campaigns/preview/", {"body": "Welcome! 10% off your first order"}, format="json")
    figures = preview.json()
    assert (figures["recipients"], figures["blocked"], figures["billable_recipients"]) == (1100, 1000, 100)

    # 3. The welcome campaign goes out: only the real customers get a request at Twilio.
    created = api_alice.post("/api/v1/campaigns/", {"name": "Welcome", "body": "Welcome! 10% off"}, format="json")
    campaign_id = created.json()["id"]
    assert api_alice.post(f"/api/v1/campaigns/{campaign_id}/send/", {}, format="json").status_code == 202
    control.fanout_run(campaign_id=campaign_id)
    campaign = Campaign.objects.get(pk=campaign_id)
    send_batch(campaign)
    requested = Counter(r.form["To"][: len(RANGE)] for r in fake_twilio.sends())
    assert sum(requested.values()) == CUSTOMERS and requested[RANGE] == 0
    stats = api_alice.get(f"/api/v1/campaigns/{campaign_id}/stats/").json()
    assert (stats["blocked"], stats["recipients"]) == (SIGNUPS, CUSTOMERS + SIGNUPS)
    assert Message.objects.filter(campaign=campaign, status="blocked", to__startswith=RANGE).count() == SIGNUPS
    rows = blocked_by_reason(tenant_id=tenant_a.pk)
    assert [(r.reason, r.code, r.count) for r in rows] == [("country", "NG", SIGNUPS)]
    control.campaign_complete_if_done(campaign_id=campaign_id)
    assert Campaign.objects.get(pk=campaign_id).status == CampaignStatus.SENT

    # 4. The same numbers text the join keyword, hoping for an answer: the range's burst limit (30 in 10 min)
    # stops the answers; every text is still kept.
    answered = [bool(reply_text(post(tenant_a, "JOIN", from_number=f"{RANGE}{i:03d}"))) for i in range(60)]
    assert answered == [True] * 30 + [False] * 30
    event = GuardEvent.objects.get(tenant=tenant_a, kind="inbound_burst")
    assert event.subject == f"{RANGE}XXX"
