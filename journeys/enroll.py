"""Enrollment: what contacts did, read in bulk from each trigger source's rows, becomes runs.

Each source (inbound texts, contacts, tags, clicks, conversions, API events) is read by id from a cursor
(``TriggerCursor``). Rows younger than ``JOURNEY_SETTLE_SECONDS`` are read again at the next tick, so a row
whose transaction committed a little after a later id's is not skipped; reading a row twice is harmless, since a
run's ``source`` (``inbound:42``) is unique per journey. The cursor always moves, whether a journey listens or
not: activating a journey never replays old history. Date-field journeys are looked at once per tick:
contacts whose field's month and day are today where they live, once their local time passes the journey's.

A contact enters when the journey is active, they have no active run in it, the re-entry policy lets them (never
again, or N days after their last entry), and they have neither opted out nor revoked consent.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from compliance.keywords import normalize
from compliance.models import ComplianceSettings, InboundKind, InboundMessage
from compliance.rules import recipient_zones
from compliance.selectors import suppressed_among
from contacts.models import ConsentStatus, Contact
from integrations.models import Conversion
from links.models import Click
from segments.selectors import segment_contacts, segment_get

from .models import (
    Journey,
    JourneyRun,
    JourneyStatus,
    JourneyVersion,
    Reentry,
    RunStatus,
    TriggerCursor,
    TriggerEvent,
    TriggerKind,
)
from .steps import Tree


@dataclass(frozen=True)
class Candidate:
    tenant_id: int
    contact_id: int
    source: str
    match: str  # what the journey's trigger_value is compared with (a keyword, a tag, an event name)
    context: dict | None = None
    kind: str = ""  # an inbound text's kind (compliance.InboundKind)


def _inbound(rows) -> dict[str, list[Candidate]]:
    out: dict[str, list[Candidate]] = defaultdict(list)
    for pk, tenant_id, contact_id, body, kind in rows:
        if contact_id is None:
            continue
        word = normalize(body)
        out[TriggerKind.KEYWORD].append(Candidate(tenant_id, contact_id, f"inbound:{pk}", word, kind=kind))
        if kind == InboundKind.REPLY:
            out[TriggerKind.REPLY].append(Candidate(tenant_id, contact_id, f"inbound:{pk}", ""))
    return out


#: source name → (queryset, columns, time column for the settle window or None, rows → candidates by trigger)
SOURCES = {
    "inbound": (
        lambda: InboundMessage.objects.all(),
        ("id", "tenant_id", "contact_id", "body", "kind"),
        "received_at",
        _inbound,
    ),
    "contact": (
        lambda: Contact.objects.all(),
        ("id", "tenant_id"),
        "created_at",
        lambda rows: {TriggerKind.CONTACT_CREATED: [Candidate(t, pk, f"contact:{pk}", "") for pk, t in rows]},
    ),
    "tag": (
        lambda: Contact.tags.through.objects.all(),
        ("id", "tag__tenant_id", "contact_id", "tag__name"),
        None,
        lambda rows: {TriggerKind.TAG_ADDED: [Candidate(t, c, f"tag:{pk}", n.lower()) for pk, t, c, n in rows]},
    ),
    "click": (
        lambda: Click.objects.filter(is_bot=False, contact_id__isnull=False),
        ("id", "tenant_id", "contact_id", "campaign_id"),
        "clicked_at",
        lambda rows: {
            TriggerKind.LINK_CLICKED: [Candidate(t, c, f"click:{pk}", str(cid or "")) for pk, t, c, cid in rows]
        },
    ),
    "conversion": (
        lambda: Conversion.objects.filter(contact_id__isnull=False),
        ("id", "tenant_id", "contact_id", "order_id", "value", "currency"),
        "created_at",
        lambda rows: {
            TriggerKind.CONVERSION: [
                Candidate(t, c, f"conversion:{pk}", "", {"order_id": o, "value": str(v), "currency": cur})
                for pk, t, c, o, v, cur in rows
            ]
        },
    ),
    "event": (
        lambda: TriggerEvent.objects.all(),
        ("id", "tenant_id", "contact_id", "name", "properties"),
        "created_at",
        lambda rows: {
            TriggerKind.EVENT: [Candidate(t, c, f"event:{pk}", n.lower(), p or {}) for pk, t, c, n, p in rows]
        },
    ),
}


@dataclass
class EnrollResult:
    read: int = 0
    entered: int = 0


def enroll_all(*, now: dt.datetime | None = None) -> EnrollResult:
    """Read every source from its cursor and enroll; then the date-field journeys."""
    now = now or timezone.now()
    result = EnrollResult()
    for name in SOURCES:
        _read_source(name, now, result)
    _date_fields(now, result)
    _segments(now, result)
    return result


def _read_source(name: str, now: dt.datetime, result: EnrollResult) -> None:
    queryset, columns, time_column, to_candidates = SOURCES[name]
    limit = settings.JOURNEY_ENROLL_BATCH
    settle = now - dt.timedelta(seconds=settings.JOURNEY_SETTLE_SECONDS)
    while True:
        with transaction.atomic():
            cursor, _ = TriggerCursor.objects.select_for_update().get_or_create(source=name)
            cols = (*columns, time_column) if time_column else columns
            rows = list(queryset().filter(pk__gt=cursor.last_id).order_by("pk").values_list(*cols)[:limit])
            if not rows:
                return
            result.read += len(rows)
            body = [r[: len(columns)] for r in rows]
            by_trigger = to_candidates(body)
            for trigger, candidates in by_trigger.items():
                result.entered += candidates_enroll(trigger=trigger, candidates=candidates, now=now)
            # Move past the settled rows only: younger ones are read again next time.
            settled = [r[0] for r in rows if not time_column or r[-1] < settle]
            last = rows[-1][0]
            if time_column and len(settled) < len(rows):
                first_young = next(r[0] for r in rows if r[-1] >= settle)
                last = first_young - 1
            if last > cursor.last_id:
                cursor.last_id = last
                cursor.save(update_fields=["last_id"])
            if len(rows) < limit or last < rows[-1][0]:
                return


def candidates_enroll(*, trigger: str, candidates: list[Candidate], now: dt.datetime) -> int:
    """Runs for the candidates of the tenants' active journeys with this trigger; how many were made."""
    if not candidates:
        return 0
    tenants = {c.tenant_id for c in candidates}
    journeys = list(Journey.objects.filter(tenant_id__in=tenants, status=JourneyStatus.ACTIVE, trigger_kind=trigger))
    if not journeys:
        return 0
    made = 0
    joins = {}
    if trigger == TriggerKind.KEYWORD:
        joins = {
            t: normalize(w)
            for t, w in ComplianceSettings.objects.filter(tenant_id__in=tenants).values_list(
                "tenant_id", "join_keyword"
            )
        }
    for journey in journeys:
        want = journey.trigger_value.strip().lower()
        if trigger == TriggerKind.KEYWORD:
            want = normalize(journey.trigger_value)
        if want and trigger == TriggerKind.KEYWORD and want == joins.get(journey.tenant_id):
            # The tenant's double opt-in word: the subscriber is in once they confirm with YES (CONFIRM), so
            # the journey starts then, with consent granted, not at the JOIN that only asked for it.
            mine = [c for c in candidates if c.tenant_id == journey.tenant_id and c.kind == InboundKind.CONFIRM]
        else:
            mine = [c for c in candidates if c.tenant_id == journey.tenant_id and (not want or c.match == want)]
        if trigger in (TriggerKind.KEYWORD, TriggerKind.EVENT, TriggerKind.TAG_ADDED) and not want:
            mine = []  # these triggers name what they watch
        if mine:
            made += runs_start(journey=journey, candidates=mine, now=now)
    return made


def current_version(journey: Journey) -> JourneyVersion | None:
    return JourneyVersion.objects.filter(journey=journey).order_by("-number").first()


def runs_start(*, journey: Journey, candidates: list[Candidate], now: dt.datetime) -> int:
    """Enroll the candidates the rules let in (one run per contact among them: the first occurrence)."""
    version = current_version(journey)
    if version is None:
        return 0
    first_by_contact: dict[int, Candidate] = {}
    for c in candidates:
        first_by_contact.setdefault(c.contact_id, c)
    contact_ids = list(first_by_contact)
    contacts = dict(
        Contact.objects.filter(tenant_id=journey.tenant_id, pk__in=contact_ids).values_list("pk", "phone_number")
    )
    revoked = set(
        Contact.objects.filter(pk__in=contact_ids, consent_status=ConsentStatus.REVOKED).values_list("pk", flat=True)
    )
    stopped = suppressed_among(tenant_id=journey.tenant_id, phone_numbers=list(contacts.values()))
    last_entry = dict(
        JourneyRun.objects.filter(journey=journey, contact_id__in=contact_ids)
        .values("contact_id")
        .annotate(last=Max("entered_at"))
        .values_list("contact_id", "last")
    )
    active = set(
        JourneyRun.objects.filter(journey=journey, contact_id__in=contact_ids, status=RunStatus.ACTIVE).values_list(
            "contact_id", flat=True
        )
    )
    again_after = now - dt.timedelta(days=journey.reentry_days)
    first = Tree(list(version.steps.all())).first()
    runs = []
    for cid, cand in first_by_contact.items():
        if cid not in contacts or cid in revoked or contacts[cid] in stopped or cid in active:
            continue
        if cid in last_entry and (journey.reentry == Reentry.NEVER or last_entry[cid] > again_after):
            continue
        runs.append(
            JourneyRun(
                tenant_id=journey.tenant_id,
                journey=journey,
                version=version,
                contact_id=cid,
                step=first,
                due_at=now,
                context=cand.context or {},
                source=cand.source,
                entered_at=now,
            )
        )
    # The unique (journey, source) and one-active-run indexes are the final word on a race.
    created = JourneyRun.objects.bulk_create(runs, ignore_conflicts=True)
    return len(created)


def _segments(now: dt.datetime, result: EnrollResult) -> None:
    """Segment journeys: the segment's contacts (read live) who may enter (no active run; the re-entry policy),
    ``JOURNEY_ENROLL_BATCH`` per journey and tick. A contact enters once per day at most (the run's source names
    the day), and ``never`` means once ever."""
    journeys = Journey.objects.filter(status=JourneyStatus.ACTIVE, trigger_kind=TriggerKind.SEGMENT)
    for journey in journeys:
        segment = segment_get(
            tenant_id=journey.tenant_id,
            segment_id=int(journey.trigger_value) if journey.trigger_value.isdigit() else None,
        )
        if segment is None:
            continue
        runs = JourneyRun.objects.filter(journey=journey)
        if journey.reentry == Reentry.NEVER:
            busy = runs
        else:
            again_after = now - dt.timedelta(days=journey.reentry_days)
            busy = runs.filter(Q(status=RunStatus.ACTIVE) | Q(entered_at__gt=again_after))
        ids = list(
            segment_contacts(segment=segment, now=now)
            .exclude(pk__in=busy.values("contact_id"))
            .values_list("pk", flat=True)[: settings.JOURNEY_ENROLL_BATCH]
        )
        day = "" if journey.reentry == Reentry.NEVER else f":{now.date().isoformat()}"
        candidates = [Candidate(journey.tenant_id, pk, f"segment:{pk}{day}", "") for pk in ids]
        if candidates:
            with transaction.atomic():
                result.entered += runs_start(journey=journey, candidates=candidates, now=now)


def _date_fields(now: dt.datetime, result: EnrollResult) -> None:
    """Date-field journeys: contacts whose field (YYYY-MM-DD or MM-DD) has today's month and day where they are,
    once their local time has passed the journey's ``trigger_time`` (midnight when unset)."""
    journeys = Journey.objects.filter(status=JourneyStatus.ACTIVE, trigger_kind=TriggerKind.DATE_FIELD).exclude(
        trigger_value=""
    )
    for journey in journeys:
        field = journey.trigger_value
        # Today's month-day somewhere on Earth: yesterday to tomorrow in UTC covers every zone.
        days = {(now + dt.timedelta(days=d)).strftime("%m-%d") for d in (-1, 0, 1)}
        regex = r"^(\d{4}-)?(" + "|".join(days) + r")"
        rows = Contact.objects.filter(
            tenant_id=journey.tenant_id, **{f"custom_fields__{field}__regex": regex}
        ).values_list("pk", "phone_number", "timezone", f"custom_fields__{field}")
        candidates = []
        at = journey.trigger_time or dt.time(0, 0)
        for pk, phone, tz, value in rows.iterator(chunk_size=2000):
            zones = recipient_zones(phone_number=phone, timezone=tz)
            local = now.astimezone(ZoneInfo(zones[0] if zones else "UTC"))
            if str(value)[-5:] != local.strftime("%m-%d") or local.time() < at:
                continue
            candidates.append(Candidate(journey.tenant_id, pk, f"date:{local.date().isoformat()}:{pk}", ""))
        if candidates:
            with transaction.atomic():
                result.entered += runs_start(journey=journey, candidates=candidates, now=now)
