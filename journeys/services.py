"""Journeys: create, edit (a new version once runs use the old one), activate, pause, resume; API events; the tick.

Thin callers (admin, API, tasks) call these; the work is in ``steps`` (spec and versions), ``enroll`` (triggers
into runs) and ``engine`` (runs through steps).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, Message
from campaigns.sending.enqueue import kick_enqueue
from compliance.models import Suppression
from contacts.models import Contact
from contacts.phone import InvalidPhoneNumber, phone_normalize
from contacts.services import contact_create
from segments.selectors import segment_get
from tenants.models import Tenant

from .engine import runs_advance
from .enroll import current_version, enroll_all
from .models import (
    Journey,
    JourneyRun,
    JourneyStatus,
    JourneyStep,
    Reentry,
    RunStatus,
    TriggerCursor,
    TriggerEvent,
    TriggerKind,
)
from .steps import StepError, carrier_status, steps_check, version_build

logger = logging.getLogger(__name__)

__all__ = ["JourneyError", "StepError"]


class JourneyError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


NAMED_TRIGGERS = (
    TriggerKind.KEYWORD,
    TriggerKind.TAG_ADDED,
    TriggerKind.EVENT,
    TriggerKind.DATE_FIELD,
    TriggerKind.SEGMENT,
)


def _check_segment(tenant: Tenant, fields: dict) -> None:
    if fields.get("trigger_kind") == TriggerKind.SEGMENT:
        value = str(fields.get("trigger_value") or "")
        if not value.isdigit() or segment_get(tenant_id=tenant.pk, segment_id=int(value)) is None:
            raise JourneyError("trigger_value", "give the id of one of your saved segments.")


def _check_fields(fields: dict) -> dict:
    kind = fields.get("trigger_kind")
    if kind is not None and kind not in TriggerKind.values:
        raise JourneyError("trigger_kind", f"one of {', '.join(TriggerKind.values)}.")
    if kind in NAMED_TRIGGERS and not (fields.get("trigger_value") or "").strip():
        raise JourneyError("trigger_value", "this trigger needs a keyword, tag, event name or date field.")
    if fields.get("reentry", Reentry.NEVER) not in Reentry.values:
        raise JourneyError("reentry", f"one of {', '.join(Reentry.values)}.")
    if "name" in fields and not (fields["name"] or "").strip():
        raise JourneyError("name", "required.")
    return fields


def journey_create(*, tenant: Tenant, steps: list, **fields) -> Journey:
    """A draft journey with version 1 built from ``steps`` (the spec in ``journeys.steps``)."""
    _check_fields({"reentry": Reentry.NEVER, **fields})
    _check_segment(tenant, fields)
    spec = steps_check(tenant=tenant, steps=steps, event_trigger=fields.get("trigger_kind") == TriggerKind.EVENT)
    with transaction.atomic():
        journey = Journey.objects.create(tenant=tenant, **fields)
        version_build(journey=journey, spec=spec, number=1)
    return journey


def journey_update(*, journey: Journey, steps: list | None = None, **fields) -> Journey:
    """Change a journey. New ``steps`` make a new version when runs use the current one (they finish on theirs);
    otherwise they replace the current version's steps."""
    merged = {
        "trigger_kind": journey.trigger_kind,
        "trigger_value": journey.trigger_value,
        "reentry": journey.reentry,
        **fields,
    }
    _check_fields(merged)
    _check_segment(journey.tenant, merged)
    spec = None
    if steps is not None:
        spec = steps_check(
            tenant=journey.tenant, steps=steps, event_trigger=merged["trigger_kind"] == TriggerKind.EVENT
        )
    with transaction.atomic():
        journey = Journey.objects.select_for_update().get(pk=journey.pk)
        for name, value in fields.items():
            setattr(journey, name, value)
        journey.save()
        if spec is not None:
            version = current_version(journey)
            if version is None or JourneyRun.objects.filter(version=version).exists():
                version_build(journey=journey, spec=spec, number=(version.number + 1 if version else 1))
            else:
                _version_clear(version)
                from .steps import _build_list  # the same builder, into the emptied version

                _build_list(journey, version, spec, parent=None, path="")
    return journey


def _version_clear(version) -> None:
    carriers = [s.campaign_id for s in version.steps.all() if s.campaign_id]
    JourneyStep.objects.filter(version=version).delete()
    if carriers and not Message.objects.filter(campaign_id__in=carriers).exists():
        Campaign.objects.filter(pk__in=carriers).delete()


def journey_set_status(*, journey: Journey, status: str) -> Journey:
    """Activate, pause, resume or archive; a journey's send steps send only while it is active."""
    if status not in JourneyStatus.values:
        raise JourneyError("status", f"one of {', '.join(JourneyStatus.values)}.")
    with transaction.atomic():
        journey = Journey.objects.select_for_update().get(pk=journey.pk)
        journey.status = status
        journey.save(update_fields=["status", "updated_at"])
        carriers = JourneyStep.objects.filter(version__journey=journey, campaign__isnull=False).values("campaign_id")
        wanted = carrier_status(journey)
        changed = list(Campaign.objects.filter(pk__in=carriers).exclude(status=wanted).values_list("pk", flat=True))
        Campaign.objects.filter(pk__in=changed).update(status=wanted)
        if status == JourneyStatus.ACTIVE:
            for campaign_id in changed:  # messages that waited while paused go now (on the commit)
                kick_enqueue(campaign_id=campaign_id)
        if status == JourneyStatus.ARCHIVED:
            now = timezone.now()
            JourneyRun.objects.filter(journey=journey, status=RunStatus.ACTIVE).update(
                status=RunStatus.EXITED, finished_at=now, exit_reason="journey archived"
            )
    return journey


def event_record(*, tenant: Tenant, name: str, phone_number: str, properties: dict | None = None) -> TriggerEvent:
    """An API event for a contact (created, consent unknown, when the number is new); the journeys triggered by
    ``name`` pick it up at their next tick (enqueued at once by the API)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise JourneyError("name", "an event name, 1-100 characters.")
    if properties is not None and not isinstance(properties, dict):
        raise JourneyError("properties", "an object.")
    if len(str(properties or {})) > 8000:
        raise JourneyError("properties", "at most 8,000 characters.")
    try:
        number = phone_normalize(phone_number or "", default_country=tenant.default_country)
    except InvalidPhoneNumber as exc:
        raise JourneyError("phone_number", str(exc)) from exc
    contact = Contact.objects.filter(tenant=tenant, phone_number=number).first()
    if contact is None:
        contact = contact_create(tenant=tenant, phone_number=number, door="api")
    props = {
        str(k)[:64]: v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
        for k, v in (properties or {}).items()
    }
    return TriggerEvent.objects.create(tenant=tenant, name=name.strip(), contact=contact, properties=props)


# --- the tick ---------------------------------------------------------------------------------------------------


@dataclass
class TickResult:
    read: int = 0
    entered: int = 0
    exited_opted_out: int = 0
    steps: int = 0
    messages: int = 0
    completed: int = 0
    exited: int = 0


def journeys_tick(*, now: dt.datetime | None = None) -> dict:
    """Enroll from every trigger, exit the runs of new opt-outs, advance every due run."""
    result = TickResult()
    enrolled = enroll_all(now=now)
    result.read, result.entered = enrolled.read, enrolled.entered
    result.exited_opted_out = opted_out_exit(now=now)
    advanced = runs_advance(now=now)
    result.steps, result.messages = advanced.steps, advanced.messages
    result.completed, result.exited = advanced.completed, advanced.exited
    return asdict(result)


def opted_out_exit(*, now: dt.datetime | None = None) -> int:
    """STOP always exits: the active runs of numbers suppressed since the last look end now (not at their next
    step, which may be days away), so the figures say so at once. Read from a cursor on the suppressions."""
    now = now or timezone.now()
    with transaction.atomic():
        cursor, _ = TriggerCursor.objects.select_for_update().get_or_create(source="suppression")
        rows = list(
            Suppression.objects.filter(pk__gt=cursor.last_id)
            .order_by("pk")
            .values_list("pk", "tenant_id", "phone_number")[:5000]
        )
        if not rows:
            return 0
        n = 0
        by_tenant: dict[int, list[str]] = {}
        for _pk, tenant_id, number in rows:
            if number:
                by_tenant.setdefault(tenant_id, []).append(number)
        for tenant_id, numbers in by_tenant.items():
            runs = JourneyRun.objects.filter(
                tenant_id=tenant_id, status=RunStatus.ACTIVE, contact__phone_number__in=numbers
            )
            steps = list(runs.values_list("step_id", flat=True))
            n += runs.update(status=RunStatus.EXITED, finished_at=now, exit_reason="opted out")
            _count_exits(steps)
        cursor.last_id = rows[-1][0]
        cursor.save(update_fields=["last_id"])
    return n


def _count_exits(step_ids: list[int | None]) -> None:
    from collections import Counter

    from django.db.models import F

    for step_id, k in Counter(s for s in step_ids if s).items():
        JourneyStep.objects.filter(pk=step_id).update(exited=F("exited") + k)
