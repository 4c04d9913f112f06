"""Journeys in the admin, tenant-scoped like every page (``tenants.admin_scoping``).

The builder (add, and "Edit" on a journey) is a form of the journey's settings and a step tree that
``static/journeys/builder.js`` edits and writes, as the spec of ``journeys.steps``, into a hidden field; the
services check it on save and their error comes back beside the step it names. Without JavaScript the tree shows
read-only. The journey page (the change view) is the tree with each step's figures, the runs' totals, the versions
and the status buttons; a test run walks the steps for one contact without sending or writing anything. Runs are a
read-only list with each run's step history.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from contacts.models import Contact
from contacts.phone import InvalidPhoneNumber, phone_normalize
from tenants.admin_scoping import TenantReadOnlyInline, TenantScopedAdmin, request_tenant

from .forms import JourneyForm, builder_config, error_split, step_words, tree_html
from .models import Journey, JourneyRun, JourneyStatus, StepRun, TriggerKind
from .selectors import journey_current_version, journey_figures, journey_versions, version_tree
from .services import JourneyError, StepError, journey_create, journey_set_status, journey_update
from .steps import version_spec
from .testrun import journey_test_run

#: status → the moves offered from it: (new status, button label, needs a confirmation page)
MOVES = {
    JourneyStatus.DRAFT: [(JourneyStatus.ACTIVE, "Activate", True), (JourneyStatus.ARCHIVED, "Archive", True)],
    JourneyStatus.ACTIVE: [(JourneyStatus.PAUSED, "Pause", False), (JourneyStatus.ARCHIVED, "Archive", True)],
    JourneyStatus.PAUSED: [(JourneyStatus.ACTIVE, "Resume", False), (JourneyStatus.ARCHIVED, "Archive", True)],
    JourneyStatus.ARCHIVED: [],
}
CONFIRM_TEXT = {
    JourneyStatus.ACTIVE: "Activating starts the journey: it will text people who trigger it, from now on, through "
    "the normal sending pipeline (consent, suppression, quiet hours, frequency cap).",
    JourneyStatus.ARCHIVED: "Archiving ends the journey for good: the runs in flight exit now and nobody enters "
    "any more.",
}


def trigger_words(journey: Journey) -> str:
    words = journey.get_trigger_kind_display()
    if journey.trigger_value:
        words += f": {journey.trigger_value}"
    if journey.trigger_kind == TriggerKind.DATE_FIELD and journey.trigger_time:
        words += f" at {journey.trigger_time:%H:%M}"
    return words


TEST_RUN_MATCHES = 20


class TestRunForm(forms.Form):
    phone_number = forms.CharField(
        label="Contact",
        max_length=100,
        help_text="A contact of yours: their phone number (+14155550123) or name.",
    )


@admin.register(Journey)
class JourneyAdmin(TenantScopedAdmin):
    list_display = ("name", "status", "trigger", "runs_link", "updated_at")
    list_filter = ("status", "trigger_kind")
    search_fields = ("name",)

    @admin.display(description="Trigger")
    def trigger(self, obj: Journey) -> str:
        return trigger_words(obj)

    @admin.display(description="Runs")
    def runs_link(self, obj: Journey):
        url = reverse(f"{self.admin_site.name}:journeys_journeyrun_changelist") + f"?journey__id__exact={obj.pk}"
        return format_html('<a href="{}">Runs</a>', url)

    def has_delete_permission(self, request, obj=None):
        return False  # archived, never deleted: its runs and messages are records

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such journey.")  # another tenant's is as unknown as a missing one

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/builder/", view(self.builder_change_view), name="journeys_journey_builder"),
            path("<path:object_id>/status/", view(require_POST(self.status_view)), name="journeys_journey_status"),
            path("<path:object_id>/test-run/", view(self.test_run_view), name="journeys_journey_test_run"),
            *super().get_urls(),
        ]

    def _journey(self, request, object_id: str) -> Journey:
        """The tenant's journey, or a 404 (another tenant's is as unknown as a missing one)."""
        journey = self.get_object(request, unquote(object_id))
        if journey is None or not self.has_view_permission(request, journey):
            raise Http404("No such journey.")
        return journey

    def _context(self, request, journey: Journey | None, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "journey": journey,
            "original": journey,
            "title": title,
            "has_view_permission": True,
            "can_edit": self.has_change_permission(request, journey),
        }

    # --- the builder --------------------------------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._builder(request, None)

    def builder_change_view(self, request, object_id: str):
        journey = self._journey(request, object_id)
        if not self.has_change_permission(request, journey):
            raise PermissionDenied
        return self._builder(request, journey)

    def _builder(self, request, journey: Journey | None):
        tenant = request_tenant(request)
        error: tuple[str, str] | None = None
        version = journey_current_version(journey=journey) if journey else None
        steps: list = version_spec(version) if version else []
        if request.method == "POST":
            form = JourneyForm(request.POST, instance=journey, request_tenant=tenant)
            try:
                posted = json.loads(request.POST.get("steps") or "[]")
                steps = posted if isinstance(posted, list) else steps
            except ValueError:
                pass
            if form.is_valid():
                saved = self._save(request, form, journey, tenant)
                if isinstance(saved, Journey):
                    page = reverse(f"{self.admin_site.name}:journeys_journey_change", args=[saved.pk])
                    return HttpResponseRedirect(page)
                if isinstance(saved, StepError):
                    error = (saved.path, saved.message)
        else:
            form = JourneyForm(instance=journey, request_tenant=tenant)
        tenant_id = tenant.pk if tenant else (journey.tenant_id if journey else None)
        runs_on_version = JourneyRun.objects.filter(version=version).count() if version else 0
        context = {
            **self._context(request, journey, f"Edit {journey.name}" if journey else "New journey"),
            "form": form,
            "steps_json": json.dumps(steps),
            "config": builder_config(steps=steps, error=error, tenant_id=tenant_id),
            "tree": tree_html(steps, error=error),
            "error": error,
            "error_top": error[1] if error and error_split(error[0])[0] == "steps" else "",
            "version": version,
            "runs_on_version": runs_on_version,
            "add": journey is None,
        }
        return TemplateResponse(request, "admin/journeys/journey/builder.html", context)

    def _save(self, request, form: JourneyForm, journey: Journey | None, tenant) -> Journey | StepError | None:
        """The journey saved through the services; or the step error to show on its step; or None, the error on
        a field of the form."""
        fields = form.journey_fields()
        steps = form.cleaned_data["steps"]
        try:
            if journey is None:
                owner = tenant or form.cleaned_data["tenant"]
                saved = journey_create(tenant=owner, steps=steps, **fields)
                self.message_user(request, f"Journey “{saved.name}” saved as a draft: activate it when it is ready.")
                return saved
            before = journey_current_version(journey=journey)
            saved = journey_update(journey=journey, steps=steps, **fields)
            after = journey_current_version(journey=saved)
            if before and after and after.number != before.number:
                self.message_user(
                    request,
                    f"Saved as version {after.number}: new runs take it; runs in flight finish on version "
                    f"{before.number}.",
                )
            else:
                self.message_user(request, f"Journey “{saved.name}” saved.")
            return saved
        except StepError as exc:
            return exc
        except JourneyError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return None

    # --- the journey page ---------------------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        journey = self._journey(request, object_id)
        versions = journey_versions(journey=journey)
        current = journey_current_version(journey=journey)
        shown = current
        wanted = request.GET.get("version", "")
        if wanted.isdigit():
            shown = journey.versions.filter(number=int(wanted)).first() or current
        tree = version_tree(version=shown) if shown else []
        runs_on_current = JourneyRun.objects.filter(version=current).count() if current else 0
        site = self.admin_site.name
        context = {
            **self._context(request, journey, journey.name),
            "trigger": trigger_words(journey),
            "figures": journey_figures(journey=journey),
            "versions": versions,
            "current": current,
            "shown": shown,
            "tree": tree_html(tree),
            "runs_on_current": runs_on_current,
            "moves": MOVES.get(journey.status, []) if self.has_change_permission(request, journey) else [],
            "runs_url": reverse(f"{site}:journeys_journeyrun_changelist") + f"?journey__id__exact={journey.pk}",
            "builder_url": reverse(f"{site}:journeys_journey_builder", args=[journey.pk]),
            "test_run_url": reverse(f"{site}:journeys_journey_test_run", args=[journey.pk]),
            "status_url": reverse(f"{site}:journeys_journey_status", args=[journey.pk]),
        }
        return TemplateResponse(request, "admin/journeys/journey/page.html", context)

    def status_view(self, request, object_id: str):
        journey = self._journey(request, object_id)
        if not self.has_change_permission(request, journey):
            raise PermissionDenied
        wanted = request.POST.get("status", "")
        move = next((m for m in MOVES.get(journey.status, []) if m[0] == wanted), None)
        page = reverse(f"{self.admin_site.name}:journeys_journey_change", args=[journey.pk])
        if move is None:
            self.message_user(
                request,
                f"A {journey.get_status_display().lower()} journey cannot go {wanted or 'there'}.",
                messages.ERROR,
            )
            return HttpResponseRedirect(page)
        status, label, confirm = move
        if confirm and request.POST.get("confirmed") != "yes":
            context = {
                **self._context(request, journey, f"{label} {journey.name}?"),
                "status": status,
                "label": label,
                "text": CONFIRM_TEXT.get(status, ""),
                "trigger": trigger_words(journey),
                "status_url": reverse(f"{self.admin_site.name}:journeys_journey_status", args=[journey.pk]),
                "back": page,
            }
            return TemplateResponse(request, "admin/journeys/journey/status_confirm.html", context)
        journey_set_status(journey=journey, status=status)
        self.message_user(request, f"{label}: “{journey.name}” is {JourneyStatus(status).label.lower()} now.")
        return HttpResponseRedirect(page)

    # --- the test run -------------------------------------------------------------------------------------

    def test_run_view(self, request, object_id: str):
        journey = self._journey(request, object_id)
        result = None
        form = TestRunForm(request.GET or None)
        contact, matches = None, []
        if request.GET.get("contact", "").isdigit():
            contact = Contact.objects.filter(tenant_id=journey.tenant_id, pk=int(request.GET["contact"])).first()
            if contact is None:
                raise Http404("No such contact.")
            form = TestRunForm(initial={"phone_number": contact.phone_number})
        elif form.is_bound and form.is_valid():
            contact, matches = self._test_run_contact(journey, form)
        if contact is not None:
            result = journey_test_run(journey=journey, contact=contact)
        context = {
            **self._context(request, journey, f"Test run: {journey.name}"),
            "form": form,
            "contact": contact,
            "result": result,
            "matches": matches,
            "page_url": reverse(f"{self.admin_site.name}:journeys_journey_change", args=[journey.pk]),
        }
        return TemplateResponse(request, "admin/journeys/journey/test_run.html", context)

    def _test_run_contact(self, journey: Journey, form: TestRunForm) -> tuple[Contact | None, list[Contact]]:
        """The contact a number names; or, for a name (or part of a number), the few that match, to pick from."""
        text = form.cleaned_data["phone_number"].strip()
        contacts = Contact.objects.filter(tenant_id=journey.tenant_id)
        try:
            number = phone_normalize(text, default_country=journey.tenant.default_country)
        except InvalidPhoneNumber:
            number = None
        if number is not None:
            contact = contacts.filter(phone_number=number).first()
            if contact is None:
                form.add_error("phone_number", "None of your contacts has this number.")
            return contact, []
        words = text.split()
        query = Q(phone_number__contains=text.replace(" ", ""))
        if words:
            name = Q()
            for word in words:
                name &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
            query |= name
        matches = list(contacts.filter(query).order_by("first_name", "last_name", "pk")[:TEST_RUN_MATCHES])
        if len(matches) == 1:
            return matches[0], []
        if not matches:
            form.add_error("phone_number", "None of your contacts has this number or name.")
        return None, matches


# --- runs ---------------------------------------------------------------------------------------------------------


class StepRunInline(TenantReadOnlyInline, admin.TabularInline):
    model = StepRun
    fields = ("at", "step_words", "outcome", "message_id")
    readonly_fields = fields
    ordering = ("at", "id")
    verbose_name = "step"
    verbose_name_plural = "Steps run"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("step")

    @admin.display(description="Step")
    def step_words(self, obj: StepRun) -> str:
        step = obj.step
        return f"{step.get_kind_display()}: {step_words({'kind': step.kind, 'config': step.config})}"


@admin.register(JourneyRun)
class JourneyRunAdmin(TenantScopedAdmin):
    list_display = ("id", "journey", "contact", "status", "version_number", "next_step", "due_at", "entered_at")
    list_filter = ("status", "journey")
    list_select_related = ("journey", "contact", "version", "step")
    search_fields = ("contact__phone_number",)
    fields = (
        "journey", "version_number", "contact", "status", "next_step", "due_at", "entered_at", "finished_at",
        "exit_reason", "source",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [StepRunInline]

    @admin.display(description="Version")
    def version_number(self, obj: JourneyRun) -> str:
        return f"v{obj.version.number}"

    @admin.display(description="Next step")
    def next_step(self, obj: JourneyRun) -> str:
        if obj.step is None:
            return "—"
        return f"{obj.step.get_kind_display()}: {step_words({'kind': obj.step.kind, 'config': obj.step.config})}"

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such run.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
