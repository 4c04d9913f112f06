"""Journeys without workers: enrollment from each trigger's rows, steps in bulk, at most once, exits, versions."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from campaigns.tests.conftest import always_open
from compliance.models import InboundKind, InboundMessage
from compliance.services import suppression_add
from contacts.tests.factories import ContactFactory
from integrations.models import Conversion
from journeys.engine import runs_advance
from journeys.models import JourneyRun, JourneyStep, RunStatus, StepRun, TriggerKind
from journeys.services import (
    JourneyError,
    StepError,
    event_record,
    journey_create,
    journey_set_status,
    journey_update,
    journeys_tick,
)
from links.models import Click, ShortLink

pytestmark = pytest.mark.django_db

WELCOME = [
    {"kind": "send", "body": "Welcome {{first_name}}! {{link}}", "link_url": "https://shop.example/welcome"},
    {"kind": "wait", "days": 1},
    {
        "kind": "branch",
        "condition": {"type": "clicked"},
        "yes": [{"kind": "tag", "add": ["engaged"]}],
        "no": [{"kind": "send", "body": "Still there, {{first_name}}? 10% off today."}],
    },
]


def _welcome(tenant, **kw):
    always_open(tenant)
    journey = journey_create(
        tenant=tenant, name="Welcome", trigger_kind=TriggerKind.KEYWORD, trigger_value="WELCOME", steps=WELCOME, **kw
    )
    return journey_set_status(journey=journey, status="active")


def _text_in(tenant, contact, body="welcome"):
    return InboundMessage.objects.create(
        tenant=tenant, contact=contact, from_number=contact.phone_number, body=body, kind=InboundKind.REPLY
    )


def _later(**delta):
    return timezone.now() + dt.timedelta(**delta)


def test_the_welcome_journey_sends_each_message_once_and_branches_on_clicks(tenant_a):
    journey = _welcome(tenant_a)
    clicker, quiet = ContactFactory(tenant=tenant_a), ContactFactory(tenant=tenant_a)
    for c in (clicker, quiet):
        _text_in(tenant_a, c, " Welcome! ")
    _text_in(tenant_a, ContactFactory(tenant=tenant_a), "hello")  # not the keyword
    now = _later(seconds=30)  # past the settle window
    journeys_tick(now=now)
    first = Message.objects.filter(run_id__isnull=False)
    assert sorted(first.values_list("to", flat=True)) == sorted([clicker.phone_number, quiet.phone_number])
    assert all(m.status == MessageStatus.PENDING and "Welcome" in m.body for m in first)
    # A tick again before the day is over: nothing new.
    journeys_tick(now=now + dt.timedelta(hours=1))
    assert Message.objects.filter(run_id__isnull=False).count() == 2
    clicked = first.get(to=clicker.phone_number)
    first_ids = list(first.values_list("pk", flat=True))
    Click.objects.create(
        tenant=tenant_a, event_id=uuid.uuid4(), link=ShortLink.objects.get(message=clicked),
        campaign_id=clicked.campaign_id, message=clicked, contact=clicker, clicked_at=timezone.now(),
    )  # fmt: skip
    journeys_tick(now=now + dt.timedelta(days=1, minutes=1))
    second = Message.objects.filter(run_id__isnull=False).exclude(pk__in=first_ids)
    assert list(second.values_list("to", flat=True)) == [quiet.phone_number]
    assert clicker.tags.filter(name="engaged").exists() and not quiet.tags.filter(name="engaged").exists()
    assert set(JourneyRun.objects.filter(journey=journey).values_list("status", flat=True)) == {RunStatus.COMPLETED}
    # Each step at most once per run, and the counters agree with the records.
    for step in JourneyStep.objects.filter(version__journey=journey):
        assert step.entered == StepRun.objects.filter(step=step).count()
    journeys_tick(now=now + dt.timedelta(days=3))
    assert Message.objects.filter(run_id__isnull=False).count() == 3


def test_stop_mid_journey_exits_and_nothing_more_is_sent(tenant_a):
    journey = _welcome(tenant_a)
    contact = ContactFactory(tenant=tenant_a)
    _text_in(tenant_a, contact)
    now = _later(seconds=30)
    journeys_tick(now=now)
    suppression_add(tenant=tenant_a, phone_number=contact.phone_number, source="keyword")
    result = journeys_tick(now=now + dt.timedelta(minutes=1))
    run = JourneyRun.objects.get(journey=journey)
    assert run.status == RunStatus.EXITED and run.exit_reason == "opted out"
    assert result["exited_opted_out"] == 1
    journeys_tick(now=now + dt.timedelta(days=2))
    assert Message.objects.filter(run_id__isnull=False).count() == 1
    # And texting the keyword again does not bring them back in (re-entry never; opted out anyway).
    _text_in(tenant_a, contact)
    journeys_tick(now=now + dt.timedelta(days=2, minutes=1))
    assert JourneyRun.objects.filter(journey=journey).count() == 1


def test_an_api_event_fills_merge_fields_and_reentry_after_days(tenant_a):
    always_open(tenant_a)
    journey = journey_create(
        tenant=tenant_a, name="Cart", trigger_kind=TriggerKind.EVENT, trigger_value="cart_abandoned",
        reentry="after_days", reentry_days=2,
        steps=[{"kind": "send", "body": "{{first_name|Hi}}, your cart is waiting: {{cart_url}}"}],
    )  # fmt: skip
    journey_set_status(journey=journey, status="active")
    ContactFactory(tenant=tenant_a, phone_number="+14155550199")  # consent granted (the factory's)
    event_record(
        tenant=tenant_a,
        name="cart_abandoned",
        phone_number="+14155550199",
        properties={"cart_url": "https://s.example/c/9"},
    )
    # A number the tenant never had: a contact of unknown consent, who gets no marketing text.
    event_record(tenant=tenant_a, name="cart_abandoned", phone_number="+14155550177", properties={"cart_url": "z"})
    now = _later(seconds=30)
    journeys_tick(now=now)
    assert StepRun.objects.get(run__contact__phone_number="+14155550177").outcome.startswith("skipped: consent unknown")
    message = Message.objects.get(run_id__isnull=False)
    assert "https://s.example/c/9" in message.body and message.to == "+14155550199"
    event_record(tenant=tenant_a, name="cart_abandoned", phone_number="+14155550199", properties={"cart_url": "x"})
    journeys_tick(now=now + dt.timedelta(minutes=5))
    assert Message.objects.filter(run_id__isnull=False).count() == 1  # inside the 2 days: not again
    event_record(tenant=tenant_a, name="cart_abandoned", phone_number="+14155550199", properties={"cart_url": "y/3"})
    journeys_tick(now=now + dt.timedelta(days=3))
    assert Message.objects.filter(run_id__isnull=False).count() == 2


def test_a_conversion_exits_when_the_journey_says_so(tenant_a):
    journey = _welcome(tenant_a, exit_on_conversion=True)
    contact = ContactFactory(tenant=tenant_a)
    _text_in(tenant_a, contact)
    now = _later(seconds=30)
    journeys_tick(now=now)
    Conversion.objects.create(tenant=tenant_a, order_id="o1", value=10, currency="USD", contact=contact, created_at=now)
    journeys_tick(now=now + dt.timedelta(days=1, minutes=1))
    run = JourneyRun.objects.get(journey=journey)
    assert run.status == RunStatus.EXITED and run.exit_reason.startswith("goal reached")
    assert Message.objects.filter(run_id__isnull=False).count() == 1


def test_editing_a_live_journey_makes_a_new_version_and_runs_finish_on_theirs(tenant_a):
    journey = _welcome(tenant_a)
    early = ContactFactory(tenant=tenant_a)
    _text_in(tenant_a, early)
    now = _later(seconds=30)
    journeys_tick(now=now)
    journey_update(journey=journey, steps=[{"kind": "send", "body": "New welcome"}])
    assert journey.versions.count() == 2
    late = ContactFactory(tenant=tenant_a)
    _text_in(tenant_a, late)
    journeys_tick(now=now + dt.timedelta(minutes=1))
    assert Message.objects.get(to=late.phone_number, run_id__isnull=False).body.startswith("New welcome")
    journeys_tick(now=now + dt.timedelta(days=1, minutes=2))
    # The early run went on with v1: its reminder (no click) came.
    assert Message.objects.filter(to=early.phone_number, run_id__isnull=False).count() == 2


def test_a_paused_journey_neither_advances_nor_sends(tenant_a):
    journey = _welcome(tenant_a)
    contact = ContactFactory(tenant=tenant_a)
    _text_in(tenant_a, contact)
    now = _later(seconds=30)
    journeys_tick(now=now)
    journey_set_status(journey=journey, status="paused")
    journeys_tick(now=now + dt.timedelta(days=2))
    assert Message.objects.filter(run_id__isnull=False).count() == 1
    assert JourneyRun.objects.get().status == RunStatus.ACTIVE
    journey_set_status(journey=journey, status="active")
    journeys_tick(now=now + dt.timedelta(days=2, minutes=1))
    assert Message.objects.filter(run_id__isnull=False).count() == 2


def test_bad_specs_name_the_step(tenant_a):
    with pytest.raises(StepError) as err:
        journey_create(tenant=tenant_a, name="x", trigger_kind="keyword", trigger_value="GO",
                       steps=[{"kind": "wait"}, {"kind": "send", "body": "Hi {{nope}}"}])  # fmt: skip
    assert err.value.path == "steps[0]"
    with pytest.raises(StepError) as err:
        branch = {
            "kind": "branch",
            "condition": {"type": "tag", "tag": "a"},
            "yes": [{"kind": "send", "body": "{{nope}}"}],
        }
        journey_create(tenant=tenant_a, name="x", trigger_kind="keyword", trigger_value="GO", steps=[branch])
    assert err.value.path == "steps[0].yes[0].body"
    with pytest.raises(JourneyError) as err:
        journey_create(tenant=tenant_a, name="x", trigger_kind="keyword", trigger_value="", steps=[{"kind": "exit"}])
    assert err.value.field == "trigger_value"


def test_runs_advance_in_bulk_with_one_step_record_each(tenant_a):
    always_open(tenant_a)
    journey = journey_create(
        tenant=tenant_a, name="Tagged", trigger_kind=TriggerKind.TAG_ADDED, trigger_value="new",
        steps=[{"kind": "send", "body": "Hello {{first_name}}"}, {"kind": "field", "name": "stage", "value": "hello"}],
    )  # fmt: skip
    journey_set_status(journey=journey, status="active")
    contacts = [ContactFactory(tenant=tenant_a) for _ in range(30)]
    from contacts.services import tags_get_or_create

    tag = tags_get_or_create(tenant=tenant_a, names=["new"])[0]
    for c in contacts:
        c.tags.add(tag)
    journeys_tick(now=_later(seconds=30))
    assert Message.objects.filter(run_id__isnull=False).count() == 30
    assert all(c.custom_fields.get("stage") == "hello" for c in type(contacts[0]).objects.filter(tenant=tenant_a))
    assert StepRun.objects.count() == 60
    assert runs_advance(now=_later(days=9)).steps == 0


def test_a_segment_journey_takes_contacts_as_they_come_into_the_segment(tenant_a, tenant_b):
    from contacts.services import tags_get_or_create
    from segments.services import segment_create

    always_open(tenant_a)
    segment = segment_create(
        tenant=tenant_a, name="VIPs", definition={"groups": [[{"type": "tag", "op": "has", "value": "vip"}]]}
    )
    with pytest.raises(JourneyError) as err:  # another tenant's segment is no trigger of this one
        other = segment_create(tenant=tenant_b, name="x", definition=segment.definition)
        journey_create(tenant=tenant_a, name="x", trigger_kind="segment", trigger_value=str(other.pk),
                       steps=[{"kind": "exit"}])  # fmt: skip
    assert err.value.field == "trigger_value"
    journey = journey_create(
        tenant=tenant_a, name="VIP welcome", trigger_kind=TriggerKind.SEGMENT, trigger_value=str(segment.pk),
        steps=[{"kind": "send", "body": "Welcome to VIP, {{first_name}}"}],
    )  # fmt: skip
    journey_set_status(journey=journey, status="active")
    vip = tags_get_or_create(tenant=tenant_a, names=["vip"])[0]
    members = [ContactFactory(tenant=tenant_a) for _ in range(3)]
    ContactFactory(tenant=tenant_a)  # not in the segment
    for c in members:
        c.tags.add(vip)
    journeys_tick(now=_later(seconds=30))
    assert Message.objects.filter(run_id__isnull=False).count() == 3
    journeys_tick(now=_later(minutes=5))
    assert Message.objects.filter(run_id__isnull=False).count() == 3  # in the segment still: not again
    newcomer = ContactFactory(tenant=tenant_a)
    newcomer.tags.add(vip)
    journeys_tick(now=_later(minutes=10))
    assert Message.objects.filter(run_id__isnull=False, to=newcomer.phone_number).count() == 1
    assert Message.objects.filter(run_id__isnull=False).count() == 4


def test_journey_membership_as_a_segment_condition(tenant_a, tenant_b):
    from segments.conditions import DefinitionError, definition_validate
    from segments.selectors import definition_contacts

    journey = _welcome(tenant_a)
    inside, done, never = (ContactFactory(tenant=tenant_a) for _ in range(3))
    for c in (inside, done):
        _text_in(tenant_a, c)
    now = _later(seconds=30)
    journeys_tick(now=now)
    JourneyRun.objects.filter(contact=done).update(status=RunStatus.COMPLETED)

    def members(op, journey_id=journey.pk, tenant=tenant_a):
        definition = definition_validate({"groups": [[{"type": "journey", "journey": journey_id, "op": op}]]})
        return set(definition_contacts(tenant_id=tenant.pk, definition=definition))

    assert members("in") == {inside}
    assert members("completed") == {done}
    assert members("ever") == {inside, done}
    assert members("never") == {never}
    assert members("not_in") == {done, never}
    assert members("ever", tenant=tenant_b) == set()  # another tenant's journey: no one
    with pytest.raises(DefinitionError):
        definition_validate({"groups": [[{"type": "journey", "journey": "x", "op": "in"}]]})
