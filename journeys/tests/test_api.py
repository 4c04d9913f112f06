"""The journeys API: CRUD with the spec, 400s naming the step, status actions, figures, runs, events; tenants."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message
from campaigns.tests.conftest import always_open
from contacts.tests.factories import ContactFactory
from journeys.models import Journey, JourneyRun, TriggerEvent
from journeys.services import journeys_tick

pytestmark = pytest.mark.django_db

STEPS = [
    {"kind": "send", "body": "Your cart: {{cart_url}}"},
    {"kind": "wait", "hours": 2},
    {
        "kind": "branch",
        "condition": {"type": "converted"},
        "yes": [{"kind": "exit"}],
        "no": [{"kind": "send", "body": "Still thinking?"}],
    },
]


def _create(api, **extra):
    payload = {"name": "Cart", "trigger_kind": "event", "trigger_value": "cart_abandoned", "steps": STEPS, **extra}
    return api.post("/api/v1/journeys/", payload, format="json")


def test_create_read_and_the_step_tree_round_trips(api_alice, tenant_a):
    resp = _create(api_alice)
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["status"] == "draft" and body["version"] == 1
    got = api_alice.get(f"/api/v1/journeys/{body['id']}/").json()
    assert [s["kind"] for s in got["steps"]] == ["send", "wait", "branch"]
    assert got["steps"][1]["seconds"] == 7200
    assert [s["kind"] for s in got["steps"][2]["no"]] == ["send"]
    carriers = Campaign.objects.filter(tenant=tenant_a, kind=CampaignKind.JOURNEY)
    assert carriers.count() == 2 and set(carriers.values_list("status", flat=True)) == {CampaignStatus.PAUSED}


def test_bad_input_is_a_400_naming_the_field_or_step(api_alice):
    resp = _create(api_alice, steps=[{"kind": "send", "body": "x"}, {"kind": "wait", "until": "25:00"}])
    assert resp.status_code == 400 and "steps[1].until" in resp.json()["steps"][0]
    resp = _create(api_alice, trigger_value="")
    assert resp.status_code == 400 and "trigger_value" in resp.json()
    resp = _create(api_alice, trigger_kind="telepathy")
    assert resp.status_code == 400 and "trigger_kind" in resp.json()
    resp = _create(api_alice, steps="send")
    assert resp.status_code == 400 and "steps" in resp.json()


def test_activate_event_figures_and_runs(api_alice, tenant_a):
    always_open(tenant_a)
    jid = _create(api_alice).json()["id"]
    assert api_alice.post(f"/api/v1/journeys/{jid}/activate/").json()["status"] == "active"
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550142")
    resp = api_alice.post(
        "/api/v1/events/",
        {"name": "cart_abandoned", "phone_number": "(415) 555-0142", "properties": {"cart_url": "https://s.example/9"}},
        format="json",
    )
    assert resp.status_code == 202 and resp.json()["contact"] == contact.pk
    journeys_tick(now=timezone.now() + dt.timedelta(seconds=30))
    assert Message.objects.get(run_id__isnull=False).body.startswith("Your cart: https://s.example/9")
    figures = api_alice.get(f"/api/v1/journeys/{jid}/figures/").json()
    assert figures["steps"][0]["figures"]["entered"] == 1 and figures["steps"][1]["figures"]["entered"] == 1
    runs = api_alice.get(f"/api/v1/journey-runs/?journey={jid}").json()["results"]
    assert len(runs) == 1 and [s["kind"] for s in runs[0]["steps"]] == ["send", "wait"]
    assert api_alice.post(f"/api/v1/journeys/{jid}/pause/").json()["status"] == "paused"
    assert api_alice.delete(f"/api/v1/journeys/{jid}/").status_code == 409
    # A change of steps with runs in flight: a new version.
    resp = api_alice.patch(f"/api/v1/journeys/{jid}/", {"steps": [{"kind": "send", "body": "v2"}]}, format="json")
    assert resp.status_code == 200 and resp.json()["version"] == 2


def test_events_refuse_bad_input(api_alice):
    assert api_alice.post("/api/v1/events/", {"name": "x", "phone_number": "nope"}, format="json").status_code == 400
    resp = api_alice.post("/api/v1/events/", {"phone_number": "+14155550100"}, format="json")
    assert resp.status_code == 400 and "name" in resp.json()
    resp = api_alice.post(
        "/api/v1/events/", {"name": "x", "phone_number": "+14155550100", "properties": [1]}, format="json"
    )
    assert resp.status_code == 400 and "properties" in resp.json()
    assert TriggerEvent.objects.count() == 0


def test_another_tenants_journeys_and_runs_are_404(api_alice, api_bob, api_charlie, tenant_a):
    jid = _create(api_alice).json()["id"]
    for api in (api_bob, api_charlie):
        assert api.get(f"/api/v1/journeys/{jid}/").status_code == 404
        assert api.post(f"/api/v1/journeys/{jid}/activate/").status_code == 404
        assert api.get(f"/api/v1/journeys/{jid}/figures/").status_code == 404
        assert api.get("/api/v1/journeys/").json()["count"] == 0
    assert Journey.objects.get(pk=jid).status == "draft"
    assert JourneyRun.objects.count() == 0


def test_unauthenticated_is_401(client):
    assert client.get("/api/v1/journeys/").status_code == 401
    assert client.post("/api/v1/events/", {}, content_type="application/json").status_code == 401
