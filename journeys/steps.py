"""A journey's steps: the spec (what the builder and the API send), checked; a version built from it; the way
through the tree.

The spec is a list of steps, each a dict with ``kind`` and its settings::

    {"kind": "send", "body": "Hi {{first_name}}, your cart: {{cart_url}}", "link_url": "", "media": [3]}
    {"kind": "send", "template": 7}      # a message template's body, link and media where the step gives none
    {"kind": "wait", "days": 1, "hours": 0, "minutes": 0}      # a duration
    {"kind": "wait", "until": "10:00"}                           # the next 10:00 in the contact's time
    {"kind": "branch", "condition": {"type": "clicked"}, "yes": [...], "no": [...]}
        # type: clicked | replied | converted (since the run entered), tag (+ "tag"), field (+ "field", "value")
    {"kind": "tag", "add": ["vip"], "remove": ["lead"]}
    {"kind": "field", "name": "stage", "value": "welcomed"}
    {"kind": "webhook", "label": "welcome done"}               # emits journey.webhook to subscribed endpoints
    {"kind": "exit"}

Errors are ``StepError`` with a ``path`` naming the step (``steps[2].yes[0].body``), so the API's 400 and the
builder can point at it.

A send step's ``template`` is copied when the spec is checked (``campaigns.msgtemplates.template_fill``, the rule a
campaign created from a template follows) and then checked like any body; the version keeps the copy, not the
template's id (a later change to the template, or its deletion, leaves the journey's messages as they were).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from campaigns.authoring import CampaignError, body_errors, merge_fields_known
from campaigns.models import Campaign, CampaignKind, CampaignMedia, CampaignPurpose, CampaignStatus
from campaigns.msgtemplates import template_fill
from campaigns.rendering import used_fields
from media.models import MediaFile
from tenants.models import Tenant

from .models import Journey, JourneyStep, JourneyVersion, Path, StepKind

MAX_STEPS = 100
MAX_DEPTH = 5
CONDITIONS = ("clicked", "replied", "converted", "tag", "field")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class StepError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass
class _Checker:
    tenant: Tenant
    known: tuple[str, ...]
    properties: bool  # the trigger carries properties (an API event): any other name is one of them
    count: int = 0


def steps_check(*, tenant: Tenant, steps, event_trigger: bool = False) -> list[dict]:
    """The spec, normalized (durations in seconds), or ``StepError``. ``event_trigger``: merge fields may name the
    event's properties (any name: an event's properties are the integrator's)."""
    if not isinstance(steps, list) or not steps:
        raise StepError("steps", "A journey needs at least one step (a list).")
    steps = _templates_fill(tenant, steps, "steps")
    bodies = _bodies(steps)
    checker = _Checker(tenant, merge_fields_known(tenant_id=tenant.pk, bodies=bodies), event_trigger)
    return _check_list(checker, steps, "steps", 0)


def _templates_fill(tenant: Tenant, steps, path: str):
    """``steps`` with each send step that names a ``template`` given that template's body, link and media where it
    gives none (the tenant's templates only: another id is a ``StepError`` on ``<step>.template``). Whatever is
    not a list of steps is left for the checker to refuse."""
    if not isinstance(steps, list):
        return steps
    out = []
    for i, step in enumerate(steps):
        if isinstance(step, dict):
            step = dict(step)
            for key in ("yes", "no"):
                if key in step:
                    step[key] = _templates_fill(tenant, step[key], f"{path}[{i}].{key}")
            template_id = step.pop("template", None)
            if step.get("kind") == StepKind.SEND and template_id not in (None, ""):
                try:
                    step = template_fill(tenant=tenant, template_id=template_id, fields=step)
                except CampaignError as exc:
                    raise StepError(f"{path}[{i}].template", " ".join(exc.errors.get("template", []))) from None
        out.append(step)
    return out


def _bodies(steps) -> list[str]:
    out = []
    for s in steps if isinstance(steps, list) else []:
        if isinstance(s, dict):
            if isinstance(s.get("body"), str):
                out.append(s["body"])
            for key in ("yes", "no"):
                out.extend(_bodies(s.get(key)))
    return out


def _check_list(c: _Checker, steps, path: str, depth: int) -> list[dict]:
    if not isinstance(steps, list):
        raise StepError(path, "must be a list of steps.")
    if depth > MAX_DEPTH:
        raise StepError(path, f"branches nest at most {MAX_DEPTH} deep.")
    out = []
    for i, step in enumerate(steps):
        c.count += 1
        if c.count > MAX_STEPS:
            raise StepError(path, f"a journey has at most {MAX_STEPS} steps.")
        out.append(_check_step(c, step, f"{path}[{i}]", depth))
    return out


def _check_step(c: _Checker, step, path: str, depth: int) -> dict:
    if not isinstance(step, dict):
        raise StepError(path, "a step is an object with a kind.")
    kind = step.get("kind")
    if kind not in StepKind.values:
        raise StepError(f"{path}.kind", f"unknown kind {kind!r}; one of {', '.join(StepKind.values)}.")
    if kind == StepKind.SEND:
        return _check_send(c, step, path)
    if kind == StepKind.WAIT:
        return _check_wait(step, path)
    if kind == StepKind.BRANCH:
        cond = step.get("condition")
        if not isinstance(cond, dict) or cond.get("type") not in CONDITIONS:
            raise StepError(f"{path}.condition", f"a condition with a type: one of {', '.join(CONDITIONS)}.")
        condition = {"type": cond["type"]}
        if cond["type"] == "tag":
            condition["tag"] = _text(cond.get("tag"), f"{path}.condition.tag", 64)
        elif cond["type"] == "field":
            condition["field"] = _name(cond.get("field"), f"{path}.condition.field")
            condition["value"] = str(cond.get("value") or "")[:200]
        return {
            "kind": kind,
            "condition": condition,
            "yes": _check_list(c, step.get("yes") or [], f"{path}.yes", depth + 1),
            "no": _check_list(c, step.get("no") or [], f"{path}.no", depth + 1),
        }
    if kind == StepKind.TAG:
        add = _tags(step.get("add"), f"{path}.add")
        remove = _tags(step.get("remove"), f"{path}.remove")
        if not add and not remove:
            raise StepError(path, "name a tag to add or to remove.")
        return {"kind": kind, "add": add, "remove": remove}
    if kind == StepKind.FIELD:
        return {
            "kind": kind,
            "name": _name(step.get("name"), f"{path}.name"),
            "value": str(step.get("value") if step.get("value") is not None else "")[:500],
        }
    if kind == StepKind.WEBHOOK:
        return {"kind": kind, "label": str(step.get("label") or "")[:100]}
    return {"kind": kind}


def _check_send(c: _Checker, step: dict, path: str) -> dict:
    body = step.get("body") or ""
    if not isinstance(body, str):
        raise StepError(f"{path}.body", "must be text.")
    media = step.get("media") or []
    if not isinstance(media, list) or not all(isinstance(m, int) for m in media):
        raise StepError(f"{path}.media", "a list of media ids.")
    found = set(MediaFile.objects.filter(tenant=c.tenant, pk__in=media).values_list("pk", flat=True))
    if missing := [m for m in media if m not in found]:
        raise StepError(f"{path}.media", f"no such media: {', '.join(map(str, missing))}.")
    known = c.known if not c.properties else (*c.known, *used_fields(body))
    if errors := body_errors(body, has_media=bool(media), known=known):
        raise StepError(f"{path}.body", " ".join(errors))
    link_url = step.get("link_url") or ""
    if not isinstance(link_url, str) or (link_url and not link_url.startswith(("http://", "https://"))):
        raise StepError(f"{path}.link_url", "an http(s) URL.")
    if "{{link}}" in body.replace(" ", "") and not link_url:
        raise StepError(f"{path}.link_url", "the body uses {{link}}: give the URL it points to.")
    purpose = step.get("purpose") or CampaignPurpose.MARKETING
    if purpose not in CampaignPurpose.values:
        raise StepError(f"{path}.purpose", f"one of {', '.join(CampaignPurpose.values)}.")
    return {"kind": StepKind.SEND, "body": body, "link_url": link_url, "media": media, "purpose": purpose}


def _check_wait(step: dict, path: str) -> dict:
    if step.get("until"):
        until = str(step["until"])
        if not _TIME.match(until):
            raise StepError(f"{path}.until", "a time of day as HH:MM (24 h).")
        return {"kind": StepKind.WAIT, "until": until}
    seconds = 0
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1)):
        value = step.get(unit) or 0
        if not isinstance(value, int) or value < 0:
            raise StepError(f"{path}.{unit}", "a whole number, 0 or more.")
        seconds += value * size
    if seconds <= 0 or seconds > 366 * 86400:
        raise StepError(path, "wait between one second and a year (days, hours, minutes) or until a time of day.")
    return {"kind": StepKind.WAIT, "seconds": seconds}


def _text(value, path: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StepError(path, "required.")
    return value.strip()[:limit]


def _name(value, path: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise StepError(path, "a field name: letters, digits and _, not starting with a digit.")
    return value


def _tags(value, path: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v for v in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StepError(path, "a list of tag names.")
    return [v.strip()[:64] for v in value if v.strip()]


# --- a version from a spec ------------------------------------------------------------------------------------


def version_build(*, journey: Journey, spec: list[dict], number: int) -> JourneyVersion:
    """A new version with the (checked) spec's steps; a send step gets its carrier campaign, ``sending`` while the
    journey is active (paused otherwise), never fanned out."""
    version = JourneyVersion.objects.create(tenant=journey.tenant, journey=journey, number=number)
    _build_list(journey, version, spec, parent=None, path=Path.ROOT)
    return version


def _build_list(journey: Journey, version: JourneyVersion, steps: list[dict], parent, path: str) -> None:
    for position, spec in enumerate(steps):
        config = {k: v for k, v in spec.items() if k not in ("kind", "yes", "no")}
        campaign = _carrier(journey, version, spec, position) if spec["kind"] == StepKind.SEND else None
        step = JourneyStep.objects.create(
            tenant=journey.tenant,
            version=version,
            parent=parent,
            path=path,
            position=position,
            kind=spec["kind"],
            config=config,
            campaign=campaign,
        )
        if spec["kind"] == StepKind.BRANCH:
            _build_list(journey, version, spec["yes"], parent=step, path=Path.YES)
            _build_list(journey, version, spec["no"], parent=step, path=Path.NO)


def carrier_status(journey: Journey) -> str:
    from .models import JourneyStatus

    return CampaignStatus.SENDING if journey.status == JourneyStatus.ACTIVE else CampaignStatus.PAUSED


def _carrier(journey: Journey, version: JourneyVersion, spec: dict, position: int) -> Campaign:
    from django.utils import timezone

    now = timezone.now()
    campaign = Campaign.objects.create(
        tenant=journey.tenant,
        kind=CampaignKind.JOURNEY,
        name=f"{journey.name} v{version.number}: message {position + 1}"[:200],
        body=spec["body"],
        link_url=spec["link_url"],
        purpose=spec["purpose"],
        status=carrier_status(journey),
        started_at=now,
        fanned_out_at=now,
    )
    CampaignMedia.objects.bulk_create(
        [CampaignMedia(campaign=campaign, media_id=m, position=i) for i, m in enumerate(spec["media"])]
    )
    return campaign


def version_spec(version: JourneyVersion) -> list[dict]:
    """The spec a version was built from (for the builder and the API)."""
    steps = list(version.steps.all())
    children: dict[tuple[int | None, str], list[JourneyStep]] = {}
    for s in steps:
        children.setdefault((s.parent_id, s.path), []).append(s)

    def walk(parent_id, path) -> list[dict]:
        out = []
        for s in sorted(children.get((parent_id, path), []), key=lambda s: s.position):
            item = {"kind": s.kind, **s.config, "id": s.pk}
            if s.kind == StepKind.BRANCH:
                item["yes"] = walk(s.pk, Path.YES)
                item["no"] = walk(s.pk, Path.NO)
            out.append(item)
        return out

    return walk(None, Path.ROOT)


# --- the way through ------------------------------------------------------------------------------------------


class Tree:
    """A version's steps in memory: the first step, the step after any step. Built once per batch."""

    def __init__(self, steps: list[JourneyStep]) -> None:
        self.by_id = {s.pk: s for s in steps}
        self.paths: dict[tuple[int | None, str], list[JourneyStep]] = {}
        for s in steps:
            self.paths.setdefault((s.parent_id, s.path), []).append(s)
        for path in self.paths.values():
            path.sort(key=lambda s: s.position)

    def first(self, parent_id: int | None = None, path: str = Path.ROOT) -> JourneyStep | None:
        steps = self.paths.get((parent_id, path))
        return steps[0] if steps else None

    def after(self, step: JourneyStep) -> JourneyStep | None:
        """The step after ``step`` on its path; at a path's end, the step after its branch; None: the end."""
        while step is not None:
            siblings = self.paths[(step.parent_id, step.path)]
            i = siblings.index(step)
            if i + 1 < len(siblings):
                return siblings[i + 1]
            step = self.by_id.get(step.parent_id) if step.parent_id else None
        return None

    def branch_target(self, step: JourneyStep, yes: bool) -> JourneyStep | None:
        return self.first(step.pk, Path.YES if yes else Path.NO) or self.after(step)


def wait_until(*, config: dict, now: dt.datetime, zone: str) -> dt.datetime:
    """When a wait step started at ``now`` is over: after its seconds, or at the next HH:MM in ``zone``."""
    if "seconds" in config:
        return now + dt.timedelta(seconds=config["seconds"])
    from zoneinfo import ZoneInfo

    hour, minute = (int(x) for x in config["until"].split(":"))
    local = now.astimezone(ZoneInfo(zone))
    target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= local:
        target += dt.timedelta(days=1)
    return target.astimezone(dt.UTC)
