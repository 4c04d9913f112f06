"""Runs advance in bulk: due runs are locked a batch at a time, each step's effects written in the batch's one
transaction, with the ``StepRun`` that records it. A worker killed mid-batch rolls the whole batch back (the
locks go with its connection); the next tick does it again, once. So every step runs at most once per run, and
its messages are rows of the sending pipeline (``campaigns.sending.fanout.messages_for_runs``), handed to the
sender when the batch commits: consent, suppression, quiet hours, the frequency cap, the throttle and the fraud
guard all apply, and the pipeline's claims send each exactly once.

Within a batch, runs go from step to step until they reach a wait (or the end): a welcome message, a tag and a
webhook go out in one pass. Before each round, runs of contacts who opted out or revoked consent exit, and, where
the journey says so, runs whose contact converted since they entered (goal reached).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.rendering import CONTACT_FIELDS
from campaigns.sending.enqueue import send_batches_enqueue
from campaigns.sending.fanout import ROW_FIELDS, merge_extras, messages_for_runs
from compliance.models import InboundMessage
from compliance.rules import recipient_zones
from compliance.selectors import consent_statuses_allowed, suppressed_among
from contacts.models import ConsentStatus, Contact, Tag
from contacts.services import tags_get_or_create
from integrations.models import Conversion
from integrations.services import event_emit
from links.models import Click

from .models import Journey, JourneyRun, JourneyStatus, JourneyStep, RunStatus, StepRun
from .steps import Tree, wait_until

logger = logging.getLogger(__name__)

#: Rounds of step-to-step moves within one batch (a journey without waits goes end to end in one batch).
MAX_ROUNDS = 50
WEBHOOK_EVENT = "journey.webhook"


@dataclass
class AdvanceResult:
    batches: int = 0
    steps: int = 0
    messages: int = 0
    completed: int = 0
    exited: int = 0
    by_outcome: dict = field(default_factory=lambda: defaultdict(int))


def runs_advance(*, now: dt.datetime | None = None, batch_size: int | None = None, budget: float | None = None):
    """Advance every due run (batches of ``JOURNEY_BATCH_SIZE``) until none is due or ``budget`` seconds pass."""
    result = AdvanceResult()
    size = batch_size or settings.JOURNEY_BATCH_SIZE
    deadline = time.monotonic() + (budget if budget is not None else settings.JOURNEY_ADVANCE_SECONDS)
    while time.monotonic() < deadline:
        if not _advance_batch(now or timezone.now(), size, result):
            break
        result.batches += 1
    return result


def _advance_batch(now: dt.datetime, size: int, result: AdvanceResult) -> int:
    with transaction.atomic():
        runs = list(
            JourneyRun.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=RunStatus.ACTIVE, due_at__lte=now, journey__status=JourneyStatus.ACTIVE)
            .select_related("contact", "journey", "journey__tenant")
            .order_by("due_at")[:size]
        )
        if not runs:
            return 0
        batch = _Batch(now, runs, result)
        batch.run()
    return len(runs)


class _Batch:
    """One batch's runs, moved round by round; every write in the caller's transaction."""

    def __init__(self, now: dt.datetime, runs: list[JourneyRun], result: AdvanceResult) -> None:
        self.now = now
        self.runs = runs
        self.result = result
        versions = {r.version_id for r in runs}
        steps = list(JourneyStep.objects.filter(version_id__in=versions).select_related("campaign__tenant"))
        self.trees = {v: Tree([s for s in steps if s.version_id == v]) for v in versions}
        self.step_runs: list[StepRun] = []
        self.entered: dict[int, int] = defaultdict(int)
        self.exited: dict[int, int] = defaultdict(int)
        self.changed: dict[int, JourneyRun] = {}

    def run(self) -> None:
        live = list(self.runs)
        for _ in range(MAX_ROUNDS):
            live = [r for r in live if r.status == RunStatus.ACTIVE and r.due_at <= self.now and r.step_id]
            if not live:
                break
            live = self._exits(live)
            by_step: dict[int, list[JourneyRun]] = defaultdict(list)
            for r in live:
                by_step[r.step_id].append(r)
            for step_id, group in by_step.items():
                step = self.trees[group[0].version_id].by_id[step_id]
                getattr(self, f"_do_{step.kind}")(step, group)
                self.entered[step.pk] += len(group)
                self.result.steps += len(group)
        for r in self.runs:  # a run with no step left (the version's end, or an empty version) is complete
            if r.status == RunStatus.ACTIVE and r.step_id is None:
                self._finish(r, RunStatus.COMPLETED, "")
        self._flush()

    # --- exits ------------------------------------------------------------------------------------------------

    def _exits(self, runs: list[JourneyRun]) -> list[JourneyRun]:
        by_tenant: dict[int, list[JourneyRun]] = defaultdict(list)
        for r in runs:
            by_tenant[r.tenant_id].append(r)
        out = []
        for tenant_id, group in by_tenant.items():
            stopped = suppressed_among(tenant_id=tenant_id, phone_numbers=[r.contact.phone_number for r in group])
            goal = [r for r in group if r.journey.exit_on_conversion]
            converted = _converted_since(goal)
            for r in group:
                if r.contact.phone_number in stopped or r.contact.consent_status == ConsentStatus.REVOKED:
                    self._exit(r, "opted out")
                elif r.pk in converted:
                    self._exit(r, "goal reached: converted")
                else:
                    out.append(r)
        return out

    def _exit(self, run: JourneyRun, reason: str) -> None:
        if run.step_id:
            self.exited[run.step_id] += 1
        self._finish(run, RunStatus.EXITED, reason)

    def _finish(self, run: JourneyRun, status: str, reason: str) -> None:
        run.status = status
        run.finished_at = self.now
        run.exit_reason = reason
        self.changed[run.pk] = run
        if status == RunStatus.COMPLETED:
            self.result.completed += 1
        else:
            self.result.exited += 1

    def _record(self, run: JourneyRun, step: JourneyStep, outcome: str, message_id: int | None = None) -> None:
        self.step_runs.append(
            StepRun(
                tenant_id=run.tenant_id, run=run, step=step, outcome=outcome[:200], message_id=message_id, at=self.now
            )
        )
        self.result.by_outcome[f"{step.kind}:{outcome.split(':')[0]}"] += 1

    def _go(self, run: JourneyRun, step: JourneyStep | None, due: dt.datetime | None = None) -> None:
        run.step = step
        run.due_at = due or self.now
        self.changed[run.pk] = run
        if step is None:
            self._finish(run, RunStatus.COMPLETED, "")

    def _next(self, run: JourneyRun, step: JourneyStep, due: dt.datetime | None = None) -> None:
        self._go(run, self.trees[run.version_id].after(step), due)

    # --- steps --------------------------------------------------------------------------------------------------

    def _do_send(self, step: JourneyStep, runs: list[JourneyRun]) -> None:
        campaign: Campaign = step.campaign
        allowed = (*consent_statuses_allowed(tenant=campaign.tenant, purpose=campaign.purpose), ConsentStatus.REVOKED)
        sendable = [r for r in runs if r.contact.consent_status in allowed]
        for r in runs:
            if r.contact.consent_status not in allowed:
                self._record(
                    r, step, f"skipped: consent {r.contact.consent_status} is not enough for {campaign.purpose}"
                )
                self._next(r, step)
        if not sendable:
            return
        extras = merge_extras(campaign)
        rows = []
        for r in sendable:
            c = r.contact
            row: tuple = (c.pk, c.phone_number, c.first_name, c.last_name)
            if extras:
                values = {}
                for name in extras:
                    if name in (r.context or {}):
                        values[name] = r.context[name]
                    elif name in CONTACT_FIELDS and name not in ROW_FIELDS:
                        values[name] = getattr(c, name, "")
                    else:
                        values[name] = (c.custom_fields or {}).get(name)
                row += (values,)
            rows.append(row)
        made, pending = messages_for_runs(campaign=campaign, rows=rows, runs={r.contact_id: r.pk for r in sendable})
        self.result.messages += made.created
        send_batches_enqueue(campaign=campaign, message_ids=pending)  # on the commit
        found = {
            run_id: (mid, status)
            for run_id, mid, status in Message.objects.filter(
                campaign=campaign, run_id__in=[r.pk for r in sendable]
            ).values_list("run_id", "id", "status")
        }
        for r in sendable:
            mid, status = found.get(r.pk, (None, "missing"))
            self._record(r, step, "sent" if status == MessageStatus.PENDING else f"not sent: {status}", mid)
            self._next(r, step)

    def _do_wait(self, step: JourneyStep, runs: list[JourneyRun]) -> None:
        for r in runs:
            zone = "UTC"
            if "until" in step.config:
                zones = recipient_zones(phone_number=r.contact.phone_number, timezone=r.contact.timezone)
                zone = zones[0] if zones else "UTC"
            due = wait_until(config=step.config, now=self.now, zone=zone)
            self._record(r, step, f"waiting until {due.isoformat(timespec='minutes')}")
            self._next(r, step, due)

    def _do_branch(self, step: JourneyStep, runs: list[JourneyRun]) -> None:
        yes = condition_holds(step=step, runs=runs, carriers=self._carriers(runs[0]))
        tree = self.trees[runs[0].version_id]
        for r in runs:
            answer = r.pk in yes
            self._record(r, step, "yes" if answer else "no")
            self._go(r, tree.branch_target(step, answer))

    def _carriers(self, run: JourneyRun) -> list[int]:
        return [s.campaign_id for s in self.trees[run.version_id].by_id.values() if s.campaign_id]

    def _do_tag(self, step: JourneyStep, runs: list[JourneyRun]) -> None:
        tenant = runs[0].journey.tenant
        ids = [r.contact_id for r in runs]
        through = Contact.tags.through
        if step.config.get("add"):
            tags = tags_get_or_create(tenant=tenant, names=step.config["add"])
            through.objects.bulk_create(
                [through(contact_id=cid, tag_id=t.pk) for cid in ids for t in tags], ignore_conflicts=True
            )
        if step.config.get("remove"):
            remove = Tag.objects.filter(tenant=tenant, name__in=step.config["remove"]).values_list("pk", flat=True)
            through.objects.filter(contact_id__in=ids, tag_id__in=list(remove)).delete()
        for r in runs:
            self._record(r, step, "tagged")
            self._next(r, step)

    def _do_field(self, step: JourneyStep, runs: list[JourneyRun]) -> None:
        name, value = step.config["name"], step.config.get("value", "")
        ids = [r.contact_id for r in runs]
        if name in ("first_name", "last_name", "email"):
            Contact.objects.filter(pk__in=ids).update(**{name: value}, updated_at=self.now)
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {Contact._meta.db_table} SET custom_fields = custom_fields || jsonb_build_object(%s, %s), "  # noqa: S608
                    "updated_at = %s WHERE id = ANY(%s)",
                    [name, value, self.now, ids],
                )
        for r in runs:
            self._record(r, step, f"{name} set")
            self._next(r, step)

    def _do_webhook(self, step: JourneyStep, runs: list[JourneyRun]) -> None:
        for r in runs:
            event = event_emit(
                tenant_id=r.tenant_id,
                type=WEBHOOK_EVENT,
                payload={
                    "journey": {"id": r.journey_id, "name": r.journey.name, "version": r.version_id},
                    "step": {"id": step.pk, "label": step.config.get("label", "")},
                    "run": {"id": r.pk, "entered_at": r.entered_at.isoformat()},
                    "contact": {"id": r.contact_id, "phone_number": r.contact.phone_number},
                    "properties": r.context or {},
                },
                contact_id=r.contact_id,
            )
            self._record(r, step, "called" if event is not None else "no endpoint subscribed")
            self._next(r, step)

    def _do_exit(self, step: JourneyStep, runs: list[JourneyRun]) -> None:
        for r in runs:
            self._record(r, step, "exit")
            self.exited[step.pk] += 1
            self._finish(r, RunStatus.EXITED, "exit step")

    # --- writes -------------------------------------------------------------------------------------------------

    def _flush(self) -> None:
        StepRun.objects.bulk_create(self.step_runs)
        if self.changed:
            JourneyRun.objects.bulk_update(
                list(self.changed.values()), ["status", "step", "due_at", "finished_at", "exit_reason"], batch_size=1000
            )
        for step_id in set(self.entered) | set(self.exited):
            JourneyStep.objects.filter(pk=step_id).update(
                entered=F("entered") + self.entered.get(step_id, 0), exited=F("exited") + self.exited.get(step_id, 0)
            )


# --- conditions (also the test run's) ----------------------------------------------------------------------------


def condition_holds(*, step: JourneyStep, runs: list[JourneyRun], carriers: list[int]) -> set[int]:
    """The runs (ids) for which the branch's condition holds now: one query for the whole group."""
    cond = step.config.get("condition") or {}
    kind = cond.get("type")
    ids = [r.pk for r in runs]
    if kind == "clicked":
        clicked = set(
            Click.objects.filter(message__campaign_id__in=carriers, message__run_id__in=ids, is_bot=False)
            .values_list("message__run_id", flat=True)
            .distinct()
        )
        return clicked
    if kind == "replied":
        last = dict(
            InboundMessage.objects.filter(contact_id__in=[r.contact_id for r in runs])
            .values("contact_id")
            .annotate(last=Max("received_at"))
            .values_list("contact_id", "last")
        )
        return {r.pk for r in runs if last.get(r.contact_id) and last[r.contact_id] >= r.entered_at}
    if kind == "converted":
        return _converted_since(runs)
    if kind == "tag":
        tagged = set(
            Contact.tags.through.objects.filter(
                contact_id__in=[r.contact_id for r in runs], tag__name=cond.get("tag", "")
            ).values_list("contact_id", flat=True)
        )
        return {r.pk for r in runs if r.contact_id in tagged}
    if kind == "field":
        name, want = cond.get("field", ""), str(cond.get("value", ""))
        out = set()
        for r in runs:
            c = r.contact
            have = getattr(c, name, None) if name in CONTACT_FIELDS else (c.custom_fields or {}).get(name)
            if str(have if have is not None else "") == want:
                out.add(r.pk)
        return out
    return set()


def _converted_since(runs: list[JourneyRun]) -> set[int]:
    if not runs:
        return set()
    last = dict(
        Conversion.objects.filter(contact_id__in=[r.contact_id for r in runs])
        .values("contact_id")
        .annotate(last=Max("created_at"))
        .values_list("contact_id", "last")
    )
    return {r.pk for r in runs if last.get(r.contact_id) and last[r.contact_id] >= r.entered_at}


def journeys_active_ids() -> list[int]:
    return list(Journey.objects.filter(status=JourneyStatus.ACTIVE).values_list("pk", flat=True))
