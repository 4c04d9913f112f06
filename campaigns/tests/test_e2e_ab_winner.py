"""End to end: an A/B test that picks its winner, on a real Celery worker (Redis broker, the real database) and the
local Twilio-compatible server (``FakeTwilio``).

The worker sends round one (the sample only) and leaves the campaign ``sending``; delivery reports come in as
Twilio's signed status callbacks, clicks through the real redirect and the click writer; the beat's task
``campaigns.tasks.ab_winners_pick`` is put on the broker as beat puts it: before the wait is over it decides
nothing, after the clock is moved it picks B, and the worker sends B to everyone else. Every contact gets
exactly one message (FakeTwilio's creations per number).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from campaigns.abtest import in_first_round
from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.tests.test_e2e_sending import _status, _tenant_ready, _wait, fake, workers  # noqa: F401 - fixtures
from common.enqueue import task_send
from contacts.tests.factories import ContactFactory
from links.models import ShortLink
from links.tasks import clicks_write

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STATUS = "/webhooks/twilio/status/"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
VARIANTS = [
    {"body": "A: hi {{first_name}}, 20% off: {{link}}", "percent": 50},
    {"body": "B: hello {{first_name}}, your code is inside: {{link}}", "percent": 50},
]


def _delivered(server, tenant, sids) -> None:
    """Twilio's ``delivered`` callback for each message, signed with the tenant's token (the webhook's check)."""
    validator = RequestValidator(tenant.twilio_auth_token)
    for sid in sids:
        server.set_status(sid, "delivered")
        params = server.callback_params(sid, "delivered")
        signature = validator.compute_signature(settings.PUBLIC_BASE_URL + STATUS, params)
        assert Client().post(STATUS, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 204


def _beat_task(worker, name: str, runs_before: int) -> None:
    """Put the beat's task on the broker, as beat does, and wait until the worker has run it once more."""
    task_send(name)

    def runs() -> int:
        lines = Path(worker.log.name).read_text().splitlines()
        return sum(1 for line in lines if f"Task {name}[" in line and " succeeded " in line)

    _wait(lambda: runs() > runs_before, 30, f"the worker to run {name}")


def test_the_winner_goes_to_the_rest_and_everyone_gets_one_message(workers, fake, tenant_a, tenant_b, api_alice):  # noqa: F811
    _tenant_ready(tenant_a, fake, rate=500)
    _tenant_ready(tenant_b, fake, rate=500)
    contacts = [ContactFactory(tenant=tenant_a, first_name=f"C{i}") for i in range(50)]
    outsider = ContactFactory(tenant=tenant_b)  # another tenant's: never texted
    resp = api_alice.post(
        "/api/v1/campaigns/",
        {
            "name": "Spring A/B",
            "body": "x",
            "variants": VARIANTS,
            "link_url": "https://shop.example/spring",
            "ab_test_percent": 20,
            "ab_wait_hours": 1,
            "ab_metric": "clicks",
        },
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    campaign = Campaign.objects.get(pk=resp.json()["id"])
    sample = {c.phone_number for c in contacts if in_first_round(campaign=campaign, contact_id=c.pk)}
    # About 20% of 50, by a stable hash of (campaign, contact): which ids the rows get depends on what ran before
    # (sequences move on rollback too), so the size varies run to run (21 once). Both rounds must have someone.
    assert 0 < len(sample) < len(contacts), len(sample)
    worker = workers.start()
    assert api_alice.post(f"/api/v1/campaigns/{campaign.pk}/send/", {}, format="json").status_code == 202

    # Round one: the sample only, then the campaign waits for its winner (still sending).
    _wait(lambda: len(fake.sends()) == len(sample), 30, "round one", workers)
    _wait(lambda: Campaign.objects.get(pk=campaign.pk).fanned_out_at is not None, 10, "round one's fan-out", workers)
    time.sleep(1)  # nothing more goes out while the test waits
    assert {r.form["To"] for r in fake.sends()} == sample and len(fake.sends()) == len(sample)
    assert _status(campaign) == CampaignStatus.SENDING
    first = list(Message.objects.filter(campaign=campaign))
    by_variant = Counter(m.variant for m in first)
    assert set(by_variant) == {0, 1}, by_variant  # both variants in the sample

    # Every sample message is delivered; B's recipients click (the real redirect and the click writer).
    _delivered(fake, tenant_a, [m.sid for m in first])
    b_messages = [m for m in first if m.variant == 1]
    for message in b_messages:
        link = ShortLink.objects.get(message=message)
        assert Client().get(f"/l/{link.code}", HTTP_USER_AGENT=IPHONE).status_code == 302
    clicks_write()
    figures = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/stats/variants/").json()["variants"]
    assert [(v["variant"], v["unique_clicks"]) for v in figures] == [(0, 0), (1, len(b_messages))]

    # The beat's task before the wait is over: no decision, nothing more sent.
    _beat_task(worker, "campaigns.tasks.ab_winners_pick", runs_before=0)
    campaign.refresh_from_db()
    assert campaign.ab_decided_at is None and campaign.ab_winner is None
    assert len(fake.sends()) == len(sample)

    # The clock moved past the wait: the next run picks B, and the worker sends B to the rest.
    started = timezone.now() - dt.timedelta(hours=1, minutes=1)
    Campaign.objects.filter(pk=campaign.pk).update(started_at=started)
    _beat_task(worker, "campaigns.tasks.ab_winners_pick", runs_before=1)
    campaign.refresh_from_db()
    assert campaign.ab_winner == 1 and campaign.ab_decided_at is not None
    assert campaign.ab_decision.startswith(f"B wins by click rate: A 0/{by_variant[0]} (0.0%), B {len(b_messages)}/")
    _wait(lambda: _status(campaign) == CampaignStatus.SENT, 30, "the campaign to be sent", workers)
    _beat_task(worker, "campaigns.tasks.ab_winners_pick", runs_before=2)  # decided once: a later run does nothing
    campaign.refresh_from_db()
    assert campaign.ab_winner == 1

    # Exactly one message per contact; the rest got the winner's body; nobody of another tenant.
    per_number = fake.created_count_by_to()
    assert per_number == Counter({c.phone_number: 1 for c in contacts}), per_number - Counter(
        {c.phone_number: 1 for c in contacts}
    )
    assert outsider.phone_number not in per_number
    bodies = {r.form["To"]: r.form["Body"] for r in fake.sends()}
    for c in contacts:
        if c.phone_number not in sample:
            assert bodies[c.phone_number].startswith(f"B: hello {c.first_name}, your code is inside: "), bodies[
                c.phone_number
            ]
    rest = Message.objects.filter(campaign=campaign).exclude(to__in=sample)
    assert rest.count() == 50 - len(sample) and set(rest.values_list("variant", flat=True)) == {1}
    # The decision, as the API shows it.
    got = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/").json()
    assert got["ab_winner"] == 1 and got["ab_decision"] == campaign.ab_decision
    assert workers.errors() == ""
