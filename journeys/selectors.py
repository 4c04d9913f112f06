"""Reads for the journey pages and the API: the step tree with each step's figures, a run's history."""

from __future__ import annotations

from django.db.models import Count, Q

from campaigns.stats import campaign_stats
from integrations.models import Conversion

from .enroll import current_version
from .models import Journey, JourneyRun, JourneyStep, JourneyVersion, Path, RunStatus, StepKind


def journey_figures(*, journey: Journey) -> dict:
    """Runs by status, all versions."""
    counts = dict(
        JourneyRun.objects.filter(journey=journey)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "entered": sum(counts.values()),
        "active": counts.get(RunStatus.ACTIVE, 0),
        "completed": counts.get(RunStatus.COMPLETED, 0),
        "exited": counts.get(RunStatus.EXITED, 0),
    }


def step_figures(step: JourneyStep) -> dict:
    """entered / exited (maintained counters), and for a send step its carrier's message figures: sent,
    delivered, clicked, converted (conversions attributed to its messages' links)."""
    out = {"entered": step.entered, "exited": step.exited}
    if step.kind == StepKind.SEND and step.campaign_id:
        stats = campaign_stats(campaign_id=step.campaign_id)
        handed = ("queued", "sent", "delivered", "undelivered", "failed")  # a read message counts as delivered
        out.update(
            sent=sum(stats.get(k, 0) for k in handed),
            delivered=stats.get("delivered", 0),
            failed=stats.get("failed", 0) + stats.get("undelivered", 0),
            suppressed=stats.get("suppressed", 0) + stats.get("blocked", 0) + stats.get("capped", 0),
            clicked=stats.get("unique_clicks", 0),
            converted=Conversion.objects.filter(campaign_id=step.campaign_id).count(),
        )
    return out


def version_tree(*, version: JourneyVersion) -> list[dict]:
    """The version's steps as nested dicts (kind, config, figures, and ``yes``/``no`` for a branch), in order."""
    steps = list(JourneyStep.objects.filter(version=version).select_related("campaign"))
    paths: dict[tuple, list[JourneyStep]] = {}
    for s in steps:
        paths.setdefault((s.parent_id, s.path), []).append(s)

    def walk(parent_id, path, depth) -> list[dict]:
        out = []
        for s in sorted(paths.get((parent_id, path), []), key=lambda s: s.position):
            item = {"id": s.pk, "kind": s.kind, "label": s.get_kind_display(), "config": s.config, "depth": depth}
            item["figures"] = step_figures(s)
            if s.kind == StepKind.BRANCH:
                item["yes"] = walk(s.pk, Path.YES, depth + 1)
                item["no"] = walk(s.pk, Path.NO, depth + 1)
            out.append(item)
        return out

    return walk(None, Path.ROOT, 0)


def journey_versions(*, journey: Journey) -> list[dict]:
    counts = dict(
        JourneyRun.objects.filter(journey=journey)
        .values("version_id")
        .annotate(n=Count("id"), active=Count("id", filter=Q(status=RunStatus.ACTIVE)))
        .values_list("version_id", "active")
    )
    return [
        {"id": v.pk, "number": v.number, "created_at": v.created_at, "active_runs": counts.get(v.pk, 0)}
        for v in JourneyVersion.objects.filter(journey=journey).order_by("-number")
    ]


def journey_current_version(*, journey: Journey) -> JourneyVersion | None:
    return current_version(journey)
