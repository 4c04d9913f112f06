"""The segment editor: condition rows a marketer fills in (no JSON), grouped by a number, with a live count."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from tenants.admin_scoping import TenantScopedAdmin, form_tenant, request_tenant
from tenants.models import Tenant

from .conditions import DefinitionError, definition_describe, definition_validate
from .models import Segment
from .selectors import definition_count, segment_count
from .services import SegmentError, SegmentInUse, segment_create, segment_delete, segment_update

#: Condition rows on the form; rows left on "—" are ignored.
ROWS = 12
GROUPS = 5

WHAT_CHOICES = [
    ("", "—"),
    ("field", "Field (contact or custom)"),
    ("tag", "Tag"),
    ("consent", "Consent"),
    ("delivered", "Was delivered a text"),
    ("clicked", "Clicked a link"),
    ("replied", "Replied"),
    ("converted", "Converted (an order)"),
    ("journey", "Journey (its id in Value)"),
]
OP_CHOICES = [
    ("equals", "is / has"),
    ("not_equals", "is not / has not"),
    ("contains", "contains"),
    ("empty", "is empty"),
    ("not_empty", "is not empty"),
    ("eq", "= (number)"),
    ("gt", "> (number)"),
    ("gte", "≥ (number)"),
    ("lt", "< (number)"),
    ("lte", "≤ (number)"),
    ("before", "before (date)"),
    ("after", "after (date)"),
    ("in_last_days", "in the last N days"),
    ("not_in_last_days", "not in the last N days"),
    ("ever", "ever"),
    ("never", "never"),
    ("completed", "completed (journey)"),
]
ROW_PARTS = ("group", "what", "field", "op", "value", "days")


def _row_fields(i: int) -> dict[str, forms.Field]:
    return {
        f"c{i}_group": forms.TypedChoiceField(
            choices=[(g, f"Group {g}") for g in range(1, GROUPS + 1)],
            coerce=int,
            initial=1,
            empty_value=1,
            required=False,
            label="Group",
        ),
        f"c{i}_what": forms.ChoiceField(choices=WHAT_CHOICES, required=False, label="Condition"),
        f"c{i}_field": forms.CharField(
            required=False,
            label="Field",
            max_length=100,
            help_text="first_name, last_name, email, phone_number, created_at or a custom field (city)"
            if i == 0
            else "",
        ),
        f"c{i}_op": forms.ChoiceField(choices=OP_CHOICES, required=False, label="Test"),
        f"c{i}_value": forms.CharField(
            required=False,
            label="Value",
            max_length=200,
            help_text="Text, a number, a date (2026-01-31), a tag, or granted / unknown / revoked" if i == 0 else "",
        ),
        f"c{i}_days": forms.IntegerField(required=False, min_value=1, max_value=3650, label="N days"),
    }


def _row_condition(what: str, field: str, op: str, value: str, days) -> dict:
    """One form row as a definition condition (before validation, which says what is wrong with it)."""
    if what == "field":
        cond = {"type": "field", "field": field.strip(), "op": op}
    elif what == "tag":
        cond = {"type": "tag", "op": {"equals": "has", "not_equals": "has_not"}.get(op, op)}
    elif what == "consent":
        cond = {"type": "consent", "op": {"equals": "is", "not_equals": "is_not"}.get(op, op)}
        value = value.strip().lower()
    elif what == "journey":  # "is / has": in it now; "is not": not in it now; ever, never, completed
        cond = {"type": "journey", "op": {"equals": "in", "not_equals": "not_in"}.get(op, op)}
    else:
        cond = {"type": "engagement", "event": what, "op": op}
    if value.strip():
        cond["value"] = value.strip()
    if days is not None:
        cond["days"] = days
    return cond


class _SegmentFormBase(forms.ModelForm):
    request_tenant: Tenant | None = None

    class Meta:
        model = Segment
        fields = ["tenant", "name", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self._initial_rows(self.instance.definition or {})

    def _initial_rows(self, definition: dict) -> None:
        i = 0
        for g, group in enumerate(definition.get("groups") or [], start=1):
            for cond in group:
                if i >= ROWS:
                    return
                kind = cond.get("type")
                what = cond.get("event") if kind == "engagement" else kind
                op = {
                    "has": "equals",
                    "has_not": "not_equals",
                    "is": "equals",
                    "is_not": "not_equals",
                    "in": "equals",
                    "not_in": "not_equals",
                }.get(cond.get("op"), cond.get("op"))
                self.initial.update(
                    {
                        f"c{i}_group": min(g, GROUPS),
                        f"c{i}_what": what,
                        f"c{i}_field": cond.get("field", ""),
                        f"c{i}_op": op,
                        f"c{i}_value": cond.get("value", cond.get("journey", "")),
                        f"c{i}_days": cond.get("days"),
                    }
                )
                i += 1

    def definition(self) -> dict:
        """The rows as ``{"groups": [...]}``, groups in number order, empty groups dropped."""
        data = getattr(self, "cleaned_data", {})
        groups: dict[int, list] = {}
        for i in range(ROWS):
            what = data.get(f"c{i}_what") or ""
            if not what:
                continue
            cond = _row_condition(
                what,
                data.get(f"c{i}_field") or "",
                data.get(f"c{i}_op") or "",
                data.get(f"c{i}_value") or "",
                data.get(f"c{i}_days"),
            )
            groups.setdefault(data.get(f"c{i}_group") or 1, []).append(cond)
        return {"groups": [groups[g] for g in sorted(groups)]}

    def clean(self):
        data = super().clean()
        tenant_id = self.request_tenant.pk if self.request_tenant else getattr(data.get("tenant"), "pk", None)
        name = (data.get("name") or "").strip()
        if tenant_id and name:
            taken = Segment.objects.filter(tenant_id=tenant_id, name=name).exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("name", f"You have a segment named {name!r} already.")
        try:
            self.cleaned_definition = definition_validate(self.definition())
        except DefinitionError as exc:
            self.add_error(None, f"Conditions: {exc} (groups are numbered in order, conditions within a group too)")
        return data


#: The form with its condition rows (``ROWS`` of ``ROW_PARTS``), declared so the admin's fieldsets may name them.
SegmentForm = type(
    "SegmentForm",
    (_SegmentFormBase,),
    {"__module__": __name__, **{n: f for i in range(ROWS) for n, f in _row_fields(i).items()}},
)


@admin.register(Segment)
class SegmentAdmin(TenantScopedAdmin):
    form = SegmentForm
    list_display = ("name", "conditions", "updated_at")
    search_fields = ("name",)
    readonly_fields = ("conditions", "contacts_now", "created_by", "created_at", "updated_at")
    change_form_template = "admin/segments/segment/change_form.html"

    class Media:
        js = ("segments/segment_count.js",)
        css = {"all": ("segments/segment_admin.css",)}

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return ((None, {"fields": ["name", "description", "conditions", "contacts_now"]}),)
        main = ["name", "description"]
        if request.user.is_superuser:
            main.insert(0, "tenant")
        rows = [tuple(f"c{i}_{part}" for part in ROW_PARTS) for i in range(ROWS)]
        shown = [*main, "contacts_now"] if obj is not None else main
        return (
            (None, {"fields": shown}),
            (
                "Conditions",
                {
                    "fields": rows,
                    "description": "A contact is in the segment when ALL the conditions of ANY one group hold: "
                    "conditions with the same group number are AND-ed, the groups OR-ed. Leave a row on — to "
                    "skip it.",
                    "classes": ("segment-rows",),
                },
            ),
        )

    @admin.display(description="conditions")
    def conditions(self, obj: Segment) -> str:
        return definition_describe(obj.definition)

    @admin.display(description="contacts now")
    def contacts_now(self, obj: Segment) -> str:
        if obj.pk is None:
            return "–"
        counted = segment_count(segment=obj)
        c = counted["by_consent"]
        return f"{counted['count']} (consent granted {c['granted']}, unknown {c['unknown']}, revoked {c['revoked']})"

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class Scoped(form):
            request_tenant = request_tenant(request)

        return Scoped

    def save_model(self, request, obj, form, change):
        tenant = request_tenant(request) or form.cleaned_data.get("tenant") or obj.tenant
        definition = form.cleaned_definition
        data = form.cleaned_data
        try:
            if change:
                saved = segment_update(
                    segment=obj, name=data["name"], definition=definition, description=data.get("description") or ""
                )
            else:
                saved = segment_create(
                    tenant=tenant,
                    name=data["name"],
                    definition=definition,
                    description=data.get("description") or "",
                    user=request.user,
                )
        except SegmentError as exc:  # raced past the form's checks (the same name saved meanwhile)
            self.message_user(request, str(exc), messages.ERROR)
            raise PermissionDenied from None
        form.instance = saved
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # no relations of its own

    def delete_model(self, request, obj):
        try:
            segment_delete(segment=obj)
        except SegmentInUse as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request, queryset):
        for segment in queryset:
            self.delete_model(request, segment)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["count_url"] = reverse(f"{self.admin_site.name}:segments_segment_count")
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_urls(self):
        urls = [
            path(
                "count/",
                self.admin_site.admin_view(require_POST(self.count_view)),
                name="segments_segment_count",
            )
        ]
        return urls + super().get_urls()

    def count_view(self, request):
        """The live count behind the editor: JSON for the posted rows (saved or not)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        tenant = form_tenant(request)
        if tenant is None:  # a superuser who has not picked one yet
            return JsonResponse({"errors": ["Pick the tenant first."]}, status=400)
        form = self.get_form(request)(data=request.POST)
        form.is_valid()
        definition = getattr(form, "cleaned_definition", None)
        if definition is None:
            errors = [str(m) for m in form.non_field_errors()] or ["Fill in at least one condition."]
            return JsonResponse({"errors": errors})
        return JsonResponse({"errors": [], **definition_count(tenant_id=tenant.pk, definition=definition)})
