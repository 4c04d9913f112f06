"""The journeys admin: the builder (a hidden-field tree, errors on the step they name), the journey page (figures,
versions, status buttons), the test run (reads only) and the runs list, each tenant's alone."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.tests.conftest import always_open
from common.tests.html import off_site_assets
from compliance.models import InboundKind, InboundMessage
from compliance.services import suppression_add
from contacts.models import ConsentStatus
from contacts.tests.factories import ContactFactory, TagFactory
from journeys.models import Journey, JourneyRun, JourneyStatus, JourneyStep, StepRun, TriggerKind
from journeys.services import journey_create, journey_set_status, journeys_tick
from tenants.models import Role
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WELCOME = [
    {"kind": "send", "body": "Welcome {{first_name}}! {{link}}", "link_url": "https://shop.example/welcome"},
    {"kind": "wait", "days": 1, "hours": 0, "minutes": 0},
    {
        "kind": "branch",
        "condition": {"type": "clicked"},
        "yes": [{"kind": "tag", "add": ["engaged"], "remove": []}],
        "no": [{"kind": "send", "body": "Still there, {{first_name}}? 10% off today.", "link_url": "", "media": []}],
    },
]


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(name="Welcome", steps=WELCOME, **over) -> dict:
    data = {
        "name": name,
        "trigger_kind": TriggerKind.KEYWORD,
        "trigger_value": "JOIN",
        "trigger_time": "",
        "reentry": "never",
        "reentry_days": "30",
        "steps": json.dumps(steps),
    }
    data.update(over)
    return data


def _journey(tenant, name="Welcome", steps=WELCOME, **kw) -> Journey:
    return journey_create(
        tenant=tenant, name=name, trigger_kind=TriggerKind.KEYWORD, trigger_value="JOIN", steps=steps, **kw
    )


def _page(journey) -> str:
    return reverse("admin:journeys_journey_change", args=[journey.pk])


def test_the_builder_creates_the_welcome_journey_from_the_hidden_tree(alice, tenant_a):
    client = _login(alice)
    html = client.get(reverse("admin:journeys_journey_add")).content.decode()
    assert "/static/journeys/builder.js" in html and 'id="journey-builder-config"' in html
    assert off_site_assets(html) == [] and "<script>" not in html  # CSP: the only script is the static file
    assert 'name="steps"' in html and 'type="hidden"' in html

    response = client.post(reverse("admin:journeys_journey_add"), _form())
    journey = Journey.objects.get(tenant=tenant_a, name="Welcome")
    assert response.status_code == 302 and response["Location"] == _page(journey)
    assert journey.status == JourneyStatus.DRAFT and journey.trigger_value == "JOIN"
    steps = JourneyStep.objects.filter(version__journey=journey)
    assert sorted(steps.values_list("kind", flat=True)) == ["branch", "send", "send", "tag", "wait"]
    branch = steps.get(kind="branch")
    assert branch.config == {"condition": {"type": "clicked"}}
    assert list(branch.children.values_list("path", "kind")) in (
        [("no", "send"), ("yes", "tag")],
        [("yes", "tag"), ("no", "send")],
    )
    assert steps.get(kind="wait").config == {"seconds": 86400}
    # The carriers of its send steps wait, paused, until the journey is activated.
    assert set(Campaign.objects.filter(journey_step__version__journey=journey).values_list("status", flat=True)) == {
        CampaignStatus.PAUSED
    }


def test_an_error_on_a_nested_step_is_shown_on_that_step_and_nothing_is_saved(alice, tenant_a):
    bad = json.loads(json.dumps(WELCOME))
    bad[2]["no"][0]["body"] = "Hi {{favourite_colour}}"  # no contact carries that field
    response = _login(alice).post(reverse("admin:journeys_journey_add"), _form(steps=bad))
    assert response.status_code == 200
    html = response.content.decode()
    assert not Journey.objects.filter(tenant=tenant_a).exists()
    # The read-only tree carries the error on the step it names, and the builder gets its path.
    config = response.context["config"]
    assert config["error"]["path"] == "steps[2].no[0].body" and "favourite_colour" in config["error"]["message"]
    step_li = html.split('data-path="steps[2].no[0]"', 1)[1].split("</li>", 1)[0]
    assert "jt-error" in step_li and "favourite_colour" in step_li
    assert html.count("jt-error") == 1
    # The posted tree comes back to the builder, not the empty default.
    assert config["steps"][2]["no"][0]["body"] == "Hi {{favourite_colour}}"
    assert response.context["form"]["name"].value() == "Welcome"


def test_a_journey_field_error_names_the_field(alice, tenant_a):
    response = _login(alice).post(reverse("admin:journeys_journey_add"), _form(trigger_value=""))
    assert response.status_code == 200
    assert "trigger_value" in response.context["form"].errors
    assert not Journey.objects.exists()
    empty = _login(alice).post(reverse("admin:journeys_journey_add"), _form(steps=[]))
    assert empty.status_code == 200 and "at least one step" in empty.context["error_top"]


def test_a_value_left_from_another_trigger_kind_is_dropped(alice, tenant_a):
    response = _login(alice).post(reverse("admin:journeys_journey_add"), _form(trigger_kind="reply"))
    assert response.status_code == 302
    journey = Journey.objects.get(tenant=tenant_a)
    assert (journey.trigger_kind, journey.trigger_value) == ("reply", "")  # "JOIN" would have matched no reply


def test_a_superuser_picks_the_tenant(tenant_a, tenant_b, django_user_model):
    root = django_user_model.objects.create_superuser("root@example.com", "pw-123456")
    client = _login(root)
    html = client.get(reverse("admin:journeys_journey_add")).content.decode()
    assert 'name="tenant"' in html
    assert client.post(reverse("admin:journeys_journey_add"), _form()).status_code == 200  # no tenant: refused
    assert not Journey.objects.exists()
    assert client.post(reverse("admin:journeys_journey_add"), _form(tenant=tenant_b.pk)).status_code == 302
    assert Journey.objects.get().tenant == tenant_b


def test_the_outsiders_journey_is_a_404_everywhere(alice, bob, tenant_a, tenant_b):
    theirs = _journey(tenant_b, name="Bob's welcome")
    client = _login(alice)
    for url in (
        _page(theirs),
        reverse("admin:journeys_journey_builder", args=[theirs.pk]),
        reverse("admin:journeys_journey_test_run", args=[theirs.pk]),
    ):
        assert client.get(url).status_code == 404, url
    response = client.post(reverse("admin:journeys_journey_status", args=[theirs.pk]), {"status": "active"})
    assert response.status_code == 404
    assert client.post(reverse("admin:journeys_journey_builder", args=[theirs.pk]), _form()).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == JourneyStatus.DRAFT and theirs.name == "Bob's welcome"
    listing = client.get(reverse("admin:journeys_journey_changelist")).content.decode()
    assert "Bob&#x27;s welcome" not in listing and "Bob's welcome" not in listing
    # Bob sees his own.
    assert _login(bob).get(_page(theirs)).status_code == 200


def test_activate_asks_first_then_pause_and_resume_move_the_carriers(alice, tenant_a):
    journey = _journey(tenant_a)
    client = _login(alice)
    status_url = reverse("admin:journeys_journey_status", args=[journey.pk])
    html = client.get(_page(journey)).content.decode()
    assert 'data-move="active"' in html and 'data-move="paused"' not in html
    # Activate: a confirmation page first, saying what it does; nothing changes yet.
    confirm = client.post(status_url, {"status": "active"})
    assert confirm.status_code == 200 and "text people who trigger it" in confirm.content.decode()
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.DRAFT
    carriers = Campaign.objects.filter(journey_step__version__journey=journey)
    assert set(carriers.values_list("status", flat=True)) == {CampaignStatus.PAUSED}

    response = client.post(status_url, {"status": "active", "confirmed": "yes"})
    assert response.status_code == 302
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ACTIVE
    assert set(carriers.values_list("status", flat=True)) == {CampaignStatus.SENDING}
    html = client.get(_page(journey)).content.decode()
    assert 'data-move="paused"' in html and 'data-move="active"' not in html

    client.post(status_url, {"status": "paused"})  # no confirmation for a pause
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.PAUSED
    assert set(carriers.values_list("status", flat=True)) == {CampaignStatus.PAUSED}
    client.post(status_url, {"status": "active"})  # resume
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ACTIVE
    assert set(carriers.values_list("status", flat=True)) == {CampaignStatus.SENDING}
    # A move the status does not offer is refused, and a GET changes nothing.
    client.post(status_url, {"status": "draft"})
    assert client.get(status_url).status_code == 405
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ACTIVE


def test_archive_asks_first_and_ends_the_runs_in_flight(alice, tenant_a):
    journey = journey_set_status(journey=_journey(tenant_a), status="active")
    _runs(tenant_a, journey, n=2)
    client = _login(alice)
    url = reverse("admin:journeys_journey_status", args=[journey.pk])
    assert "runs in flight exit" in client.post(url, {"status": "archived"}).content.decode()
    assert JourneyRun.objects.filter(journey=journey, status="active").count() == 2
    client.post(url, {"status": "archived", "confirmed": "yes"})
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ARCHIVED
    assert set(JourneyRun.objects.filter(journey=journey).values_list("exit_reason", flat=True)) == {"journey archived"}
    html = client.get(_page(journey)).content.decode()
    assert "data-move" not in html and 'id="jp-edit"' not in html


def test_a_viewer_sees_the_page_but_gets_no_buttons_and_cannot_move_it(tenant_a):
    viewer = UserFactory(email="vera@acme.example", tenant=tenant_a, role=Role.VIEWER)
    journey = _journey(tenant_a)
    client = _login(viewer)
    html = client.get(_page(journey)).content.decode()
    assert "Welcome" in html and "data-move" not in html and 'id="jp-edit"' not in html
    url = reverse("admin:journeys_journey_status", args=[journey.pk])
    assert client.post(url, {"status": "active", "confirmed": "yes"}).status_code == 403
    assert client.get(reverse("admin:journeys_journey_builder", args=[journey.pk])).status_code == 403
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.DRAFT


def _runs(tenant, journey, n=2):
    always_open(tenant)
    contacts = [ContactFactory(tenant=tenant, first_name=f"C{i}") for i in range(n)]
    for c in contacts:
        InboundMessage.objects.create(
            tenant=tenant, contact=c, from_number=c.phone_number, body="join", kind=InboundKind.REPLY
        )
    journeys_tick(now=timezone.now() + dt.timedelta(seconds=30))
    return contacts


def test_the_journey_page_shows_figures_per_step_and_the_version_note(alice, tenant_a):
    journey = journey_set_status(journey=_journey(tenant_a), status="active")
    _runs(tenant_a, journey, n=3)
    client = _login(alice)
    response = client.get(_page(journey))
    html = response.content.decode()
    assert response.context["figures"] == {"entered": 3, "active": 3, "completed": 0, "exited": 0}
    first = html.split('data-path="steps[0]"', 1)[1].split("</li>", 1)[0]
    assert 'data-figure="entered">entered <b>3</b>' in first and 'data-figure="sent">sent <b>' in first
    wait = html.split('data-path="steps[1]"', 1)[1].split("</li>", 1)[0]
    assert 'data-figure="entered">entered <b>3</b>' in wait
    branch = html.split('data-path="steps[2]"', 1)[1]
    assert 'data-figure="entered">entered <b>0</b>' in branch and 'data-path="steps[2].yes[0]"' in branch
    assert "editing the steps makes version 2" in html

    # Editing now makes version 2; the runs stay on version 1, and the page says so.
    edited = json.loads(json.dumps(WELCOME))
    edited[0]["body"] = "Welcome aboard {{first_name}}! {{link}}"
    builder = reverse("admin:journeys_journey_builder", args=[journey.pk])
    assert "saving new steps makes version 2" in client.get(builder).content.decode()
    response = client.post(builder, _form(steps=edited), follow=True)
    assert "Saved as version 2" in response.content.decode()
    assert set(JourneyRun.objects.filter(journey=journey).values_list("version__number", flat=True)) == {1}
    html = client.get(_page(journey)).content.decode()
    assert "Version 1</a>" in html and "Welcome aboard" in html
    old = client.get(_page(journey) + "?version=1").content.decode()
    assert "not the current one" in old and 'data-figure="entered">entered <b>3</b>' in old


def test_the_runs_list_and_a_runs_history_are_the_tenants_own(alice, bob, tenant_a, tenant_b):
    mine = journey_set_status(journey=_journey(tenant_a), status="active")
    theirs = journey_set_status(journey=_journey(tenant_b, name="Bob's"), status="active")
    _runs(tenant_a, mine, n=1)
    _runs(tenant_b, theirs, n=1)
    client = _login(alice)
    changelist = reverse("admin:journeys_journeyrun_changelist")
    response = client.get(changelist + f"?journey__id__exact={mine.pk}&status__exact=active")
    assert response.status_code == 200
    assert [r.journey_id for r in response.context["cl"].result_list] == [mine.pk]
    assert [r.journey_id for r in client.get(changelist).context["cl"].result_list] == [mine.pk]
    run = JourneyRun.objects.get(journey=mine)
    html = client.get(reverse("admin:journeys_journeyrun_change", args=[run.pk])).content.decode()
    assert "Send a message" in html and "sent" in html and "Wait" in html  # the step history inline
    other = JourneyRun.objects.get(journey=theirs)
    assert client.get(reverse("admin:journeys_journeyrun_change", args=[other.pk])).status_code == 404
    # The journey filter offers Alice's journeys only.
    assert "Bob&#x27;s" not in client.get(changelist).content.decode()
    assert "Bob&#x27;s" in _login(bob).get(changelist).content.decode()


def test_editing_a_journey_without_runs_changes_its_version_in_place(alice, tenant_a):
    journey = _journey(tenant_a)
    client = _login(alice)
    builder = reverse("admin:journeys_journey_builder", args=[journey.pk])
    html = client.get(builder).content.decode()
    assert "makes version 2" not in html and 'value="Welcome"' in html
    steps = [{"kind": "send", "body": "Hello {{first_name}}"}, {"kind": "exit"}]
    response = client.post(builder, _form(name="Hello", steps=steps, trigger_value="HELLO"))
    assert response.status_code == 302
    journey.refresh_from_db()
    assert (journey.name, journey.trigger_value, journey.versions.count()) == ("Hello", "HELLO", 1)
    kinds = list(
        JourneyStep.objects.filter(version__journey=journey).order_by("position").values_list("kind", flat=True)
    )
    assert kinds == ["send", "exit"]
    # The old carriers (no message yet) went with the old steps.
    assert Campaign.objects.filter(journey_step__version__journey=journey).count() == 1


def test_the_test_run_shows_each_step_and_writes_nothing(alice, tenant_a, tenant_b):
    always_open(tenant_a)
    steps = [
        *WELCOME[:2],
        {
            "kind": "branch",
            "condition": {"type": "tag", "tag": "vip"},
            "yes": [{"kind": "tag", "add": ["engaged"]}, {"kind": "field", "name": "stage", "value": "vip"}],
            "no": [{"kind": "send", "body": "Still there, {{first_name}}?"}, {"kind": "exit"}],
        },
        {"kind": "webhook", "label": "done"},
    ]
    journey = journey_set_status(journey=_journey(tenant_a, steps=steps), status="active")
    vip = ContactFactory(tenant=tenant_a, first_name="Ada", phone_number="+14155550101")
    vip.tags.add(TagFactory(tenant=tenant_a, name="vip"))
    plain = ContactFactory(tenant=tenant_a, first_name="Bea", phone_number="+14155550102")
    client = _login(alice)
    url = reverse("admin:journeys_journey_test_run", args=[journey.pk])
    before = (Message.objects.count(), JourneyRun.objects.count(), StepRun.objects.count())
    with CaptureQueriesContext(connection) as queries:
        ada = client.get(url, {"phone_number": "+1 415 555 0101"})
        bea = client.get(url, {"contact": plain.pk})
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "django_session" not in q["sql"]
        and "axes" not in q["sql"]
    ]
    assert writes == []
    assert (Message.objects.count(), JourneyRun.objects.count(), StepRun.objects.count()) == before
    assert not vip.tags.filter(name="engaged").exists()
    vip.refresh_from_db()
    assert "stage" not in (vip.custom_fields or {})

    a = ada.context["result"]
    assert [s.kind for s in a.steps] == ["send", "wait", "branch", "tag", "field", "webhook"]
    assert a.steps[0].body.startswith("Welcome Ada! http") and a.steps[0].would_send is True
    assert "1 day" in a.steps[1].outcome and "yes path" in a.steps[2].outcome
    assert a.steps[3].path == "steps[2].yes[0]"
    b = bea.context["result"]
    assert [s.kind for s in b.steps] == ["send", "wait", "branch", "send", "exit"]  # the no path ends it
    assert b.steps[3].body == "Still there, Bea?" and "no path" in b.steps[2].outcome
    assert "Welcome Bea!" in bea.content.decode()

    # Opted out: would not enter, and no send would go.
    suppression_add(tenant=tenant_a, phone_number=plain.phone_number, source="keyword")
    out = client.get(url, {"contact": plain.pk}).context["result"]
    assert out.enters is False and out.steps[0].would_send is False and "suppression" in out.steps[0].outcome
    # Unknown consent is not enough for marketing (the default rules).
    plain2 = ContactFactory(tenant=tenant_a, consent_status=ConsentStatus.UNKNOWN)
    out = client.get(url, {"contact": plain2.pk}).context["result"]
    assert out.steps[0].would_send is False and "consent unknown" in out.steps[0].outcome
    # Another tenant's contact is nobody here.
    outsider = ContactFactory(tenant=tenant_b, phone_number="+14155550109")
    assert client.get(url, {"contact": outsider.pk}).status_code == 404
    missing = client.get(url, {"phone_number": "+14155550109"})
    assert missing.context["result"] is None and "None of your contacts" in missing.content.decode()
    # By name: one match is tested at once; several are offered to pick from (the tenant's only).
    ContactFactory(tenant=tenant_b, first_name="Ada", last_name="Other")
    assert client.get(url, {"phone_number": "ada"}).context["result"].contact == vip
    ContactFactory(tenant=tenant_a, first_name="Adam", last_name="Smith")
    several = client.get(url, {"phone_number": "ada"})
    assert several.context["result"] is None
    assert sorted(c.first_name for c in several.context["matches"]) == ["Ada", "Adam"]
    assert f'href="?contact={vip.pk}"' in several.content.decode()


def test_the_builder_renders_a_saved_journey_read_only_without_javascript(alice, tenant_a):
    journey = _journey(tenant_a)
    html = _login(alice).get(reverse("admin:journeys_journey_builder", args=[journey.pk])).content.decode()
    static = html.split('id="jb-static"', 1)[1].split('id="journey-builder"', 1)[0]
    # The tree as indented lists: the branch's paths nest inside its item.
    assert static.count('<ol class="jt-list">') == 3
    assert "for 1 day" in static and "clicked a link" in static and "add engaged" in static
    assert "Still there, {{first_name}}? 10% off today." in static
    cfg = json.loads(html.split('id="journey-builder-config" type="application/json">', 1)[1].split("</script>")[0])
    assert cfg["steps"][1] == {"kind": "wait", "seconds": 86400, "id": cfg["steps"][1]["id"]}
