"""Journeys end to end: real Celery workers, the real database and Redis, the local Twilio-compatible server.

The journey tick runs here with the clock moved forward (a day passes in a line); the messages are sent by the
worker through the whole pipeline. JOIN, YES and STOP arrive through the signed inbound webhook, clicks through
the short links.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from campaigns.tests.test_e2e_sending import _tenant_ready, _wait, fake, workers  # noqa: F401 - fixtures
from contacts.models import ConsentStatus, Contact
from contacts.tests.factories import ContactFactory
from journeys.models import JourneyRun, JourneyStep, RunStatus
from journeys.services import journey_create, journey_set_status, journeys_tick
from links.models import ShortLink
from links.tasks import clicks_write

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INBOUND = "/webhooks/twilio/inbound/"
_sids = itertools.count(1)

WELCOME = [
    {
        "kind": "send",
        "body": "Welcome {{first_name|friend}}! Your gift: {{link}}",
        "link_url": "https://shop.example/w",
    },
    {"kind": "wait", "days": 1},
    {
        "kind": "branch",
        "condition": {"type": "clicked"},
        "yes": [{"kind": "send", "body": "Thanks for dropping by!"}],
        "no": [{"kind": "send", "body": "Still there? 10% off today."}],
    },
]


def _text_in(tenant, number: str, body: str) -> str:
    params = {
        "MessageSid": f"SM{next(_sids):032x}", "AccountSid": tenant.twilio_account_sid, "From": number,
        "To": tenant.sender, "Body": body, "NumMedia": "0",
    }  # fmt: skip
    signature = RequestValidator(tenant.twilio_auth_token).compute_signature(settings.PUBLIC_BASE_URL + INBOUND, params)
    resp = Client().post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert resp.status_code == 200, resp.content
    return resp.content.decode()


def _bodies(server, tenant) -> Counter:
    return Counter(
        (r.form["To"], r.form["Body"].split("!")[0].split("?")[0])
        for r in server.sends()
        if r.account_sid == tenant.twilio_account_sid
    )


def test_welcome_journey_join_click_branch_and_stop(workers, fake, tenant_a):  # noqa: F811
    _tenant_ready(tenant_a, fake, rate=200)
    journey = journey_create(
        tenant=tenant_a, name="Welcome", trigger_kind="keyword", trigger_value="JOIN", steps=WELCOME
    )
    journey_set_status(journey=journey, status="active")
    numbers = [f"+1415555{7000 + i:04d}" for i in range(6)]
    for n in numbers:
        assert "YES" in _text_in(tenant_a, n, "JOIN")  # double opt-in: the answer asks for YES
        _text_in(tenant_a, n, "yes")
    assert set(Contact.objects.filter(tenant=tenant_a).values_list("consent_status", flat=True)) == {
        ConsentStatus.GRANTED
    }
    workers.start()
    now = timezone.now() + dt.timedelta(seconds=30)
    journeys_tick(now=now)
    _wait(lambda: len(_bodies(fake, tenant_a)) == 6, 30, "the welcome messages", workers)
    assert all(count == 1 for count in _bodies(fake, tenant_a).values())

    # Two click their link (a real redirect, captured and written by the click writer); one texts STOP.
    clickers, stopper = numbers[:2], numbers[2]
    for n in clickers:
        link = ShortLink.objects.get(message__to=n, message__run_id__isnull=False)
        assert Client().get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0 (iPhone)").status_code == 302
    clicks_write()
    _text_in(tenant_a, stopper, "STOP")
    journeys_tick(now=now + dt.timedelta(hours=2))  # mid-wait: the STOP exits the run now
    assert JourneyRun.objects.get(contact__phone_number=stopper).status == RunStatus.EXITED

    journeys_tick(now=now + dt.timedelta(days=1, minutes=1))
    _wait(lambda: sum(_bodies(fake, tenant_a).values()) == 11, 30, "the branch's messages", workers)
    got = _bodies(fake, tenant_a)
    for n in numbers:
        assert got[(n, "Welcome friend")] == 1
    for n in clickers:
        assert got[(n, "Thanks for dropping by")] == 1 and got[(n, "Still there")] == 0
    for n in numbers[3:]:
        assert got[(n, "Still there")] == 1 and got[(n, "Thanks for dropping by")] == 0
    assert got[(stopper, "Still there")] == 0 and got[(stopper, "Thanks for dropping by")] == 0
    journeys_tick(now=now + dt.timedelta(days=5))
    assert sum(_bodies(fake, tenant_a).values()) == 11
    statuses = Counter(JourneyRun.objects.filter(journey=journey).values_list("status", flat=True))
    assert statuses == {RunStatus.COMPLETED: 5, RunStatus.EXITED: 1}
    branch = JourneyStep.objects.get(version__journey=journey, kind="branch")
    assert branch.entered == 5
    assert workers.errors() == ""


def test_an_api_event_fills_merge_fields_end_to_end(workers, fake, tenant_a, api_alice):  # noqa: F811
    _tenant_ready(tenant_a, fake, rate=200)
    ContactFactory(tenant=tenant_a, phone_number="+14155557100", first_name="Ada")
    step = {"kind": "send", "body": "{{first_name}}, your cart is waiting: {{cart_url}}", "purpose": "transactional"}
    journey = {"name": "Cart", "trigger_kind": "event", "trigger_value": "cart_abandoned", "steps": [step]}
    resp = api_alice.post("/api/v1/journeys/", journey, format="json")
    assert resp.status_code == 201, resp.json()
    assert api_alice.post(f"/api/v1/journeys/{resp.json()['id']}/activate/").status_code == 200
    workers.start()
    event = {
        "name": "cart_abandoned",
        "phone_number": "+14155557100",
        "properties": {"cart_url": "https://s.example/c/42"},
    }
    assert api_alice.post("/api/v1/events/", event, format="json").status_code == 202
    journeys_tick(now=timezone.now() + dt.timedelta(seconds=30))
    _wait(lambda: len(fake.sends()) == 1, 30, "the cart message", workers)
    assert fake.sends()[0].form["Body"].startswith("Ada, your cart is waiting: https://s.example/c/42")
