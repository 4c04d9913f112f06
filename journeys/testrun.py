"""A test run for one contact: the current version's steps walked as the engine would walk them now, each with
what it would do, and nothing sent, written or changed (reads only: no message, no run, no tag).

A send step shows its text as the contact would get it and whether it would go (suppression list, consent for the
purpose); the sending pipeline's other checks (quiet hours, frequency cap, throttle, fraud guard) apply when it
really sends. A wait says until when, counted from now; a branch's condition is evaluated for the contact now
(clicked, replied, converted: ever, since a test run has no entry time), and the walk follows the path it takes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from campaigns.authoring import sample_link
from campaigns.models import Message
from campaigns.rendering import CONTACT_FIELDS, render, used_fields
from compliance.models import ComplianceSettings, InboundMessage
from compliance.rules import recipient_zones
from compliance.selectors import suppressed_among
from contacts.models import ConsentStatus, Contact
from integrations.models import Conversion
from links.models import Click

from .enroll import current_version
from .forms import condition_words, duration_words, step_words
from .models import Journey, JourneyStep, StepKind
from .steps import MAX_STEPS, Tree, wait_until


@dataclass
class StepOutcome:
    path: str
    kind: str
    label: str
    words: str
    outcome: str
    body: str = ""
    would_send: bool | None = None
    at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class TestRun:
    contact: Contact
    version: int | None
    steps: list[StepOutcome]
    enters: bool
    why_not: str = ""


def _allowed_statuses(tenant, purpose: str) -> tuple[str, ...]:
    """``compliance.selectors.consent_statuses_allowed`` without its get-or-create (a test run writes nothing)."""
    rules = ComplianceSettings.objects.filter(tenant=tenant).first() or ComplianceSettings(tenant=tenant)
    unknown_ok = rules.unknown_consent_transactional if purpose == "transactional" else rules.unknown_consent_marketing
    return (ConsentStatus.GRANTED, ConsentStatus.UNKNOWN) if unknown_ok else (ConsentStatus.GRANTED,)


def condition_holds_now(*, step: JourneyStep, contact: Contact, carriers: list[int]) -> bool:
    """A branch's condition for one contact now; clicked, replied and converted count ever (no run, no entry)."""
    cond = step.config.get("condition") or {}
    kind = cond.get("type")
    if kind == "clicked":
        return Click.objects.filter(contact=contact, campaign_id__in=carriers, is_bot=False).exists()
    if kind == "replied":
        return InboundMessage.objects.filter(contact=contact).exists()
    if kind == "converted":
        return Conversion.objects.filter(contact=contact).exists()
    if kind == "tag":
        return contact.tags.filter(name=cond.get("tag", "")).exists()
    if kind == "field":
        name = cond.get("field", "")
        have = getattr(contact, name, None) if name in CONTACT_FIELDS else (contact.custom_fields or {}).get(name)
        return str(have if have is not None else "") == str(cond.get("value", ""))
    return False


def _paths(tree: Tree) -> dict[int, str]:
    """Each step's spec path (``steps[2].yes[0]``), as the builder and the errors name it."""
    out: dict[int, str] = {}

    def walk(parent_id, path, prefix):
        for i, s in enumerate(tree.paths.get((parent_id, path), [])):
            out[s.pk] = f"{prefix}[{i}]"
            if s.kind == StepKind.BRANCH:
                walk(s.pk, "yes", f"{prefix}[{i}].yes")
                walk(s.pk, "no", f"{prefix}[{i}].no")

    walk(None, "", "steps")
    return out


def journey_test_run(*, journey: Journey, contact: Contact, now: dt.datetime | None = None) -> TestRun:
    """Walk the journey's current version for ``contact`` from ``now``; reads only."""
    now = now or timezone.now()
    version = current_version(journey)
    stopped = bool(suppressed_among(tenant_id=journey.tenant_id, phone_numbers=[contact.phone_number]))
    why_not = ""
    if stopped:
        why_not = "The contact opted out (on the suppression list): they would not enter."
    elif contact.consent_status == ConsentStatus.REVOKED:
        why_not = "The contact revoked consent: they would not enter."
    result = TestRun(contact=contact, version=version.number if version else None, steps=[], enters=not why_not)
    result.why_not = why_not
    if version is None:
        return result
    steps = list(JourneyStep.objects.filter(version=version).select_related("campaign"))
    tree = Tree(steps)
    paths = _paths(tree)
    carriers = [s.campaign_id for s in steps if s.campaign_id]
    zones = recipient_zones(phone_number=contact.phone_number, timezone=contact.timezone)
    zone = zones[0] if zones else "UTC"
    at = now
    step = tree.first()
    for _ in range(MAX_STEPS + 1):
        if step is None:
            break
        item = {"kind": step.kind, "config": step.config}
        out = StepOutcome(
            path=paths.get(step.pk, ""), kind=step.kind, label=step.get_kind_display(), words=step_words(item),
            outcome="", at=at,
        )  # fmt: skip
        result.steps.append(out)
        nxt = tree.after(step)
        if step.kind == StepKind.SEND:
            _send(out, step, contact, stopped)
        elif step.kind == StepKind.WAIT:
            due = wait_until(config=step.config, now=at, zone=zone)
            if "until" in step.config:
                local = due.astimezone(_zone(zone))
                out.outcome = f"Would wait until {local:%Y-%m-%d %H:%M} ({zone}), {duration_words(_secs(due - at))}."
            else:
                out.outcome = f"Would wait {duration_words(step.config.get('seconds', 0))}."
            at = due
        elif step.kind == StepKind.BRANCH:
            yes = condition_holds_now(step=step, contact=contact, carriers=carriers)
            cond = condition_words(step.config.get("condition") or {})
            out.outcome = (
                f"{'Yes' if yes else 'No'}: “{cond}” is {'true' if yes else 'not true'} for this contact now, so the "
                f"{'yes' if yes else 'no'} path."
            )
            if step.config.get("condition", {}).get("type") in ("clicked", "replied", "converted"):
                out.notes.append("A real run counts only what happens after the contact entered.")
            nxt = tree.branch_target(step, yes)
        elif step.kind == StepKind.TAG:
            out.outcome = f"Would {step_words(item)} (not done in a test run)."
        elif step.kind == StepKind.FIELD:
            out.outcome = f"Would {step_words(item)} (not done in a test run)."
        elif step.kind == StepKind.WEBHOOK:
            out.outcome = "Would emit journey.webhook to the endpoints subscribed to it (not in a test run)."
        elif step.kind == StepKind.EXIT:
            out.outcome = "The run would end here."
            nxt = None
        step = nxt
    return result


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _secs(delta: dt.timedelta) -> int:
    return int(delta.total_seconds())


def _send(out: StepOutcome, step: JourneyStep, contact: Contact, stopped: bool) -> None:
    cfg = step.config
    extra = {**(contact.custom_fields or {}), "email": contact.email, "phone_number": contact.phone_number}
    out.body = render(
        cfg.get("body") or "",
        first_name=contact.first_name,
        last_name=contact.last_name,
        link=sample_link() if cfg.get("link_url") else "",
        **{k: v for k, v in extra.items() if k not in ("first_name", "last_name", "link")},
    )
    purpose = cfg.get("purpose") or "marketing"
    allowed = _allowed_statuses(step.tenant, purpose)
    if stopped:
        out.would_send, out.outcome = False, "Would not be sent: the number is on the suppression list (STOP)."
    elif contact.consent_status not in allowed:
        out.would_send = False
        out.outcome = f"Would not be sent: consent {contact.consent_status} is not enough for {purpose} texts."
    else:
        out.would_send = True
        out.outcome = "Would be sent (then quiet hours, the frequency cap and the fraud guard apply)."
    if cfg.get("media"):
        out.notes.append(f"With {len(cfg['media'])} media file(s), as an MMS.")
    if any(f not in extra and f not in (*CONTACT_FIELDS, "link") for f in used_fields(cfg.get("body") or "")):
        out.notes.append(
            "Fields the contact has no value for (an API event's properties) show empty or their fallback."
        )
    if step.campaign_id and Message.objects.filter(campaign_id=step.campaign_id, contact=contact).exists():
        out.notes.append("This contact already got this step's message in a run.")
