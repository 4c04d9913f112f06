"""Journeys: automated flows a contact enters by what they do, one step at a time, each step at most once.

``Journey``: the trigger (a keyword, a contact created or tagged, a click, a reply, a conversion, an API event,
a date field at a local time), the re-entry policy and the exit rules. Its steps live in numbered
``JourneyVersion``\\ s: editing a journey whose version has runs makes a new version, and runs in flight finish
on theirs.

``JourneyStep``: an ordered tree. Root steps have no parent; a branch's steps hang under it on its ``yes`` or
``no`` path. After a step a run goes to the next step on the same path; at a path's end, to the step after the
branch; past the last root step, it is completed. A send step owns a carrier campaign
(``campaigns.CampaignKind.JOURNEY``) whose messages go through the whole sending pipeline, one per run
(``Message.run_id``; a unique index makes a second one impossible).

``JourneyRun``: one contact's way through one version. active → completed | exited. At most one active run per
contact and journey (a partial unique index), and one run per trigger occurrence (``source``: re-reading a
trigger's rows never enrolls twice). ``step`` is the next step to run, ``due_at`` when.

``StepRun``: that a run ran a step, and what came of it; unique per (run, step): written in the same
transaction as the step's effects, so a step runs at most once per run, and exactly once unless the run exits.
"""

from __future__ import annotations

from django.db import models

from tenants.models import TenantOwned


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class TriggerKind(models.TextChoices):
    KEYWORD = "keyword", "A keyword is texted in"
    CONTACT_CREATED = "contact_created", "A contact is created"
    TAG_ADDED = "tag_added", "A contact is tagged"
    LINK_CLICKED = "link_clicked", "A link is clicked"
    REPLY = "reply", "A contact replies"
    CONVERSION = "conversion", "A conversion is recorded"
    EVENT = "event", "An API event arrives"
    DATE_FIELD = "date_field", "A date field comes round (birthday, renewal)"
    SEGMENT = "segment", "A contact comes into a saved segment"


class Reentry(models.TextChoices):
    NEVER = "never", "Never: a contact goes through once"
    AFTER_DAYS = "after_days", "Again, N days after their last entry"


class Journey(TenantOwned):
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT)
    trigger_kind = models.CharField("trigger", max_length=16, choices=TriggerKind.choices)
    trigger_value = models.CharField(
        max_length=100,
        blank=True,
        help_text="The keyword, tag, event name or date field the trigger watches (any, when empty, for a click, "
        "a reply or a conversion).",
    )
    trigger_time = models.TimeField(
        null=True, blank=True, help_text="Date field: the contact's local time of day the journey starts them at"
    )
    reentry = models.CharField("re-entry", max_length=10, choices=Reentry.choices, default=Reentry.NEVER)
    reentry_days = models.PositiveIntegerField("re-entry after (days)", default=30)
    exit_on_conversion = models.BooleanField(
        "exit on conversion (goal reached)",
        default=False,
        help_text="A conversion recorded after entry ends the run before its next step.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class JourneyVersion(TenantOwned):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["journey", "-number"]
        constraints = [models.UniqueConstraint(fields=["journey", "number"], name="journeyversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.journey} v{self.number}"


class StepKind(models.TextChoices):
    SEND = "send", "Send a message"
    WAIT = "wait", "Wait"
    BRANCH = "branch", "Branch on a condition"
    TAG = "tag", "Add or remove tags"
    FIELD = "field", "Update a field"
    WEBHOOK = "webhook", "Call a signed webhook"
    EXIT = "exit", "Exit"


class Path(models.TextChoices):
    ROOT = "", "Main path"
    YES = "yes", "Yes"
    NO = "no", "No"


class JourneyStep(TenantOwned):
    """One step of a version. ``config`` is written only by ``journeys.steps`` (validated), never typed by hand."""

    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="steps")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    path = models.CharField(max_length=3, choices=Path.choices, default=Path.ROOT, blank=True)
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=StepKind.choices)
    config = models.JSONField(default=dict, blank=True)
    campaign = models.OneToOneField(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="journey_step"
    )
    # Maintained counters (one UPDATE per step and batch): runs that ran this step, and runs that ended at it.
    entered = models.PositiveIntegerField(default=0)
    exited = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "parent_id", "path", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "parent", "path", "position"],
                name="journeystep_unique_place",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.pk})"


class RunStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


class JourneyRun(TenantOwned):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(JourneyVersion, on_delete=models.PROTECT, related_name="runs")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="journey_runs")
    status = models.CharField(max_length=9, choices=RunStatus.choices, default=RunStatus.ACTIVE)
    step = models.ForeignKey(JourneyStep, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    due_at = models.DateTimeField()
    context = models.JSONField(default=dict, blank=True, help_text="The trigger's properties (an API event's)")
    source = models.CharField(max_length=64, help_text="The trigger occurrence, e.g. inbound:42, event:7")
    entered_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "contact"], condition=models.Q(status="active"), name="journeyrun_one_active"
            ),
            models.UniqueConstraint(fields=["journey", "source"], name="journeyrun_unique_source"),
        ]
        indexes = [
            models.Index(fields=["due_at"], name="journeyrun_due", condition=models.Q(status="active")),
            models.Index(fields=["journey", "contact", "-entered_at"], name="journeyrun_contact_entries"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.journey_id}"


class StepRun(TenantOwned):
    run = models.ForeignKey(JourneyRun, on_delete=models.CASCADE, related_name="step_runs")
    step = models.ForeignKey(JourneyStep, on_delete=models.CASCADE, related_name="step_runs")
    outcome = models.CharField(max_length=200, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="steprun_once_per_run")]

    def __str__(self) -> str:
        return f"step {self.step_id} of run {self.run_id}: {self.outcome}"


class TriggerEvent(TenantOwned):
    """An API event (``POST /api/v1/events/``): a name and properties, for one contact; starts the journeys that
    trigger on its name (read by the enrollment in bulk, like every other trigger's rows)."""

    name = models.CharField(max_length=100)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class TriggerCursor(models.Model):
    """How far the enrollment has read a trigger source's rows (ids; rows newer than the settle window are read
    again each time, the runs' unique ``source`` keeps that harmless)."""

    source = models.CharField(max_length=32, unique=True)
    last_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.source} at {self.last_id}"
