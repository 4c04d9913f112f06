"""The journey builder's form (the journey's settings and the steps' tree as JSON in a hidden field, written by
``static/journeys/builder.js``), and the tree as an indented list for the pages that show it (read-only, without
JavaScript too): a step in words, its figures, the error the last save found on it."""

from __future__ import annotations

import json
import re

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from campaigns.models import CampaignPurpose, MessageTemplate
from media.models import MediaFile
from tenants.models import Tenant

from .models import Journey, StepKind, TriggerKind

#: What the trigger's value is, by trigger kind (the builder relabels the field; empty: no value asked).
TRIGGER_VALUE_LABELS = {
    TriggerKind.KEYWORD: "Keyword",
    TriggerKind.TAG_ADDED: "Tag",
    TriggerKind.EVENT: "Event name",
    TriggerKind.DATE_FIELD: "Date field",
    TriggerKind.LINK_CLICKED: "Campaign id (empty: any link)",
    TriggerKind.REPLY: "",
    TriggerKind.CONTACT_CREATED: "",
    TriggerKind.CONVERSION: "",
}
CONDITION_LABELS = {
    "clicked": "Clicked a link in this journey's messages",
    "replied": "Replied since entering",
    "converted": "Converted since entering",
    "tag": "Has the tag",
    "field": "Field equals",
}
MERGE_HINT = (
    "Merge fields: {{first_name}}, {{last_name}}, {{link}} (the link URL below, shortened and tracked), a custom "
    "field such as {{city}}, an API event's properties such as {{cart_url}}; a fallback: {{first_name|there}}."
)
#: "steps[2].yes[0].body" → ("steps[2].yes[0]", "body"); "steps" → ("steps", "").
_ERROR_PATH = re.compile(r"^(steps(?:\[\d+\](?:\.(?:yes|no)\[\d+\])*)?)(?:\.(.+))?$")


class JourneyForm(forms.ModelForm):
    """The journey's own fields; ``steps`` is the builder's tree (the spec of ``journeys.steps``), checked by the
    services when the admin saves (their errors come back on the step they name)."""

    steps = forms.CharField(widget=forms.HiddenInput, required=False)
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.all(), required=False)

    class Meta:
        model = Journey
        fields = [
            "name", "trigger_kind", "trigger_value", "trigger_time", "reentry", "reentry_days", "exit_on_conversion",
        ]  # fmt: skip
        widgets = {"trigger_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}

    def __init__(self, *args, request_tenant: Tenant | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_tenant = request_tenant
        if request_tenant is not None or self.instance.pk:
            del self.fields["tenant"]  # a tenant user's journeys are their tenant's; a journey keeps its tenant
        else:
            self.fields["tenant"].required = True
        self.fields["trigger_value"].label = "Keyword, tag, event name or date field"
        self.fields["trigger_time"].help_text = "Date-field trigger only: the contact's local time (e.g. 10:00)."
        self.fields["reentry_days"].help_text = "With “again, N days after”: how many days."
        self.fields["name"].widget.attrs.setdefault("size", 60)

    def clean_steps(self) -> list:
        raw = self.cleaned_data.get("steps") or "[]"
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError("The steps could not be read; reload the page and try again.") from None
        if not isinstance(value, list):
            raise forms.ValidationError("The steps could not be read; reload the page and try again.")
        return value

    def journey_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"].strip(),
            "trigger_kind": data["trigger_kind"],
            # A reply, a conversion or a new contact names nothing: a value left from another kind would match
            # no one, so it goes.
            "trigger_value": (data.get("trigger_value") or "").strip()
            if TRIGGER_VALUE_LABELS.get(data["trigger_kind"])
            else "",
            "trigger_time": data.get("trigger_time") if data["trigger_kind"] == TriggerKind.DATE_FIELD else None,
            "reentry": data["reentry"],
            "reentry_days": data.get("reentry_days") or 30,
            "exit_on_conversion": bool(data.get("exit_on_conversion")),
        }


def media_choices(*, tenant_id: int | None) -> list[dict]:
    """The tenant's library for the send steps' picker: id, name, thumbnail."""
    if tenant_id is None:
        return []
    return [
        {"id": m.pk, "name": m.original_name or m.filename, "thumb": m.public_path if m.is_image else ""}
        for m in MediaFile.objects.filter(tenant_id=tenant_id).order_by("-id")[:200]
    ]


def template_choices(*, tenant_id: int | None, library: list[dict]) -> list[dict]:
    """The tenant's message templates for the send steps' "Start from a template": what picking one fills in the
    builder (its media as far as the library still has them); the server fills by the same rule on save."""
    if tenant_id is None:
        return []
    alive = {m["id"] for m in library}
    saved = MessageTemplate.objects.filter(tenant_id=tenant_id).order_by("name", "id")[:200]
    return [
        {
            "id": t.pk,
            "name": t.name,
            "body": t.body,
            "link_url": t.link_url,
            "media": [i for i in t.media if i in alive],
        }
        for t in saved
    ]


def builder_config(*, steps: list, error: tuple[str, str] | None, tenant_id: int | None) -> dict:
    """What builder.js needs (given to it with ``json_script``: no inline script)."""
    library = media_choices(tenant_id=tenant_id)
    return {
        "steps": steps,
        "error": {"path": error[0], "message": error[1]} if error else None,
        "media": library,
        "templates": template_choices(tenant_id=tenant_id, library=library),
        "kinds": [[k, label] for k, label in StepKind.choices],
        "conditions": [[k, label] for k, label in CONDITION_LABELS.items()],
        "purposes": [[k, label] for k, label in CampaignPurpose.choices],
        "trigger_labels": {str(k): v for k, v in TRIGGER_VALUE_LABELS.items()},
        "merge_hint": MERGE_HINT,
    }


def error_split(path: str) -> tuple[str, str]:
    """A ``StepError.path`` as (the step's path, the setting): ``steps[2].yes[0].body`` → both parts."""
    match = _ERROR_PATH.match(path or "")
    if not match:
        return "steps", path
    return match.group(1), match.group(2) or ""


# --- a step in words -------------------------------------------------------------------------------------------


def _config(item: dict) -> dict:
    """A tree item's settings: ``version_tree`` nests them in ``config``, the spec has them at the top."""
    return item["config"] if isinstance(item.get("config"), dict) else item


def duration_words(seconds: int) -> str:
    parts = []
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return ", ".join(parts) or "0 seconds"


def _wait_seconds(cfg: dict) -> int:
    if isinstance(cfg.get("seconds"), int):
        return cfg["seconds"]
    total = 0
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        value = cfg.get(unit) or 0
        total += value * size if isinstance(value, int) else 0
    return total


def condition_words(cond: dict) -> str:
    kind = (cond or {}).get("type", "")
    if kind == "tag":
        return f"has the tag “{cond.get('tag', '')}”"
    if kind == "field":
        return f"field {cond.get('field', '')} is “{cond.get('value', '')}”"
    return {
        "clicked": "clicked a link in this journey's messages",
        "replied": "replied since entering",
        "converted": "converted since entering",
    }.get(kind, "(no condition)")


def step_words(item: dict) -> str:
    """One step in words, for the read-only tree and the test run."""
    kind, cfg = item.get("kind"), _config(item)
    if kind == StepKind.SEND:
        body = str(cfg.get("body") or "")
        text = f"“{body[:160]}{'…' if len(body) > 160 else ''}”" if body else "(no text)"
        if cfg.get("template") and not body:  # a step not saved yet: the template fills it on save
            text = f"from message template {cfg['template']}"
        if cfg.get("link_url"):
            text += f" · link {cfg['link_url']}"
        if cfg.get("media"):
            text += f" · {len(cfg['media'])} media file{'s' if len(cfg['media']) != 1 else ''}"
        if cfg.get("purpose") == CampaignPurpose.TRANSACTIONAL:
            text += " · transactional"
        return text
    if kind == StepKind.WAIT:
        if cfg.get("until"):
            return f"until {cfg['until']} (the contact's local time)"
        return f"for {duration_words(_wait_seconds(cfg))}"
    if kind == StepKind.BRANCH:
        return f"if the contact {condition_words(cfg.get('condition') or {})}"
    if kind == StepKind.TAG:
        parts = []
        for key, verb in (("add", "add"), ("remove", "remove")):
            names = cfg.get(key) or []
            names = names.split(",") if isinstance(names, str) else names
            if names:
                parts.append(f"{verb} {', '.join(str(n).strip() for n in names)}")
        return "; ".join(parts) or "(no tags)"
    if kind == StepKind.FIELD:
        return f"set {cfg.get('name', '')} to “{cfg.get('value', '')}”"
    if kind == StepKind.WEBHOOK:
        return f"journey.webhook “{cfg.get('label', '')}”"
    if kind == StepKind.EXIT:
        return "end the run here"
    return ""


def _join(parts: list) -> SafeString:
    return format_html_join("", "{}", ((p,) for p in parts))


FIGURES = ("entered", "exited", "sent", "delivered", "failed", "suppressed", "clicked", "converted")


def _figures_html(figures: dict) -> SafeString:
    shown = [(k, k, figures[k]) for k in FIGURES if k in figures]
    return format_html(
        '<div class="jt-figures">{}</div>',
        format_html_join(" ", '<span class="jt-fig" data-figure="{}">{} <b>{}</b></span>', shown),
    )


def tree_html(
    steps: list[dict], *, error: tuple[str, str] | None = None, base: str = "steps", outcomes: dict | None = None
) -> SafeString:
    """The steps as nested lists (a branch's yes and no paths indented under it), each with its figures when the
    items carry them (``version_tree``), the error on the step it names, and ``outcomes`` (path → html) beside."""
    error_step, error_field = error_split(error[0]) if error else ("", "")
    items = []
    for i, item in enumerate(steps):
        path = f"{base}[{i}]"
        kind = item.get("kind", "")
        label = dict(StepKind.choices).get(kind, kind)
        parts = [
            format_html(
                '<span class="jt-num">{}</span> <strong class="jt-kind">{}</strong> <span class="jt-words">{}</span>',
                i + 1,
                label,
                step_words(item),
            )
        ]
        if error and error_step == path:
            where = f"{error_field}: " if error_field else ""
            parts.append(format_html('<p class="errornote jt-error" role="alert">{}{}</p>', where, error[1]))
        if isinstance(item.get("figures"), dict):
            parts.append(_figures_html(item["figures"]))
        if outcomes and path in outcomes:
            parts.append(outcomes[path])
        if kind == StepKind.BRANCH:
            for key, word in (("yes", "Yes"), ("no", "No")):
                sub = item.get(key) or []
                inner = (
                    tree_html(sub, error=error, base=f"{path}.{key}", outcomes=outcomes)
                    if sub
                    else mark_safe('<ol class="jt-list"><li class="jt-empty">nothing: on to the next step</li></ol>')
                )
                parts.append(
                    format_html(
                        '<div class="jt-path jt-{}"><span class="jt-path-label">{} →</span>{}</div>', key, word, inner
                    )
                )
        items.append(format_html('<li class="jt-step jt-kind-{}" data-path="{}">{}</li>', kind, path, _join(parts)))
    if not items:
        return mark_safe('<ol class="jt-list"><li class="jt-empty">No steps yet.</li></ol>')
    return format_html('<ol class="jt-list">{}</ol>', _join(items))
