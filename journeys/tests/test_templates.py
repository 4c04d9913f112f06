"""A journey's send step started from a message template (#21): the step's empty body, link and media are the
tenant's template's (``campaigns.msgtemplates.template_fill``, the campaigns' rule), copied into the version; an id
that is not one of the tenant's templates is an error naming the step's ``template``; the builder offers them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignMedia, Message, MessageTemplate
from campaigns.tests.conftest import always_open
from campaigns.tests.factories import MessageTemplateFactory
from compliance.models import InboundKind, InboundMessage
from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from journeys.models import Journey, JourneyStep, TriggerKind
from journeys.services import StepError, journey_create, journey_set_status, journey_update, journeys_tick
from journeys.steps import version_spec
from media.models import MediaFile
from media.tests.factories import MediaFileFactory

pytestmark = pytest.mark.django_db

CITY = "Hi {{first_name|there}}, new in {{city|your area}}: {{link}}"


def _template(tenant, **kw):
    ContactFactory(tenant=tenant, custom_fields={"city": "Boston"})  # {{city}} is a field the tenant knows
    return MessageTemplateFactory(tenant=tenant, body=CITY, link_url="https://shop.example/new", **kw)


def _journey(tenant, steps, **kw) -> Journey:
    return journey_create(
        tenant=tenant, name="From a template", trigger_kind=TriggerKind.KEYWORD, trigger_value="NEW", steps=steps, **kw
    )


def test_a_send_step_takes_the_templates_body_link_and_media_it_leaves_empty(tenant_a):
    image, gone = MediaFileFactory(tenant=tenant_a), MediaFileFactory(tenant=tenant_a)
    template = _template(tenant_a, media=[gone.pk, image.pk])
    MediaFile.objects.filter(pk=gone.pk).delete()  # deleted from the library since the template was saved
    journey = _journey(
        tenant_a,
        [
            {"kind": "send", "template": template.pk},
            {"kind": "wait", "days": 1},
            {"kind": "send", "template": template.pk, "body": "Last call: {{link}}", "link_url": "https://x.example/"},
        ],
    )
    spec = version_spec(journey.versions.get())
    assert (spec[0]["body"], spec[0]["link_url"], spec[0]["media"]) == (CITY, template.link_url, [image.pk])
    assert "template" not in spec[0]  # the version keeps the copy, not the id
    # What the step gives wins; the template fills the rest (here only the media).
    assert (spec[2]["body"], spec[2]["link_url"], spec[2]["media"]) == (
        "Last call: {{link}}",
        "https://x.example/",
        [image.pk],
    )
    carrier = JourneyStep.objects.get(version__journey=journey, position=0).campaign
    assert carrier.body == CITY and list(
        CampaignMedia.objects.filter(campaign=carrier).values_list("media_id", flat=True)
    ) == [image.pk]
    # A later change to the template leaves the journey's message as it was.
    MessageTemplate.objects.filter(pk=template.pk).update(body="Changed")
    assert version_spec(journey.versions.get())[0]["body"] == CITY


def test_the_journey_texts_the_templates_body_rendered_per_contact(tenant_a):
    always_open(tenant_a)
    template = _template(tenant_a)
    journey = journey_set_status(
        journey=_journey(tenant_a, [{"kind": "send", "template": template.pk}]), status="active"
    )
    boston = ContactFactory(tenant=tenant_a, first_name="Ada", custom_fields={"city": "Boston"})
    nowhere = ContactFactory(tenant=tenant_a, first_name="")
    for contact in (boston, nowhere):
        InboundMessage.objects.create(
            tenant=tenant_a, contact=contact, from_number=contact.phone_number, body="new", kind=InboundKind.REPLY
        )
    journeys_tick(now=timezone.now() + dt.timedelta(seconds=30))
    sent = {m.to: m.body for m in Message.objects.filter(campaign__journey_step__version__journey=journey)}
    assert sent[boston.phone_number].startswith("Hi Ada, new in Boston: http")
    assert sent[nowhere.phone_number].startswith("Hi there, new in your area: http")


def test_another_tenants_or_an_unknown_template_is_an_error_naming_the_step(tenant_a, tenant_b):
    theirs = MessageTemplateFactory(tenant=tenant_b, body="Theirs")
    nested = [
        {"kind": "wait", "days": 1},
        {
            "kind": "branch",
            "condition": {"type": "clicked"},
            "yes": [],
            "no": [{"kind": "send", "template": theirs.pk}],
        },
    ]
    with pytest.raises(StepError) as exc:
        _journey(tenant_a, nested)
    assert exc.value.path == "steps[1].no[0].template" and "message templates" in exc.value.message
    for bad in (987654, "1", True):
        with pytest.raises(StepError) as exc:
            _journey(tenant_a, [{"kind": "send", "template": bad}])
        assert exc.value.path == "steps[0].template"
    assert not Journey.objects.exists()
    # The template's own body is checked like any step's: a template whose custom field nobody carries any more.
    mine = _template(tenant_a)
    journey = _journey(tenant_a, [{"kind": "send", "template": mine.pk}])
    Contact.objects.filter(tenant=tenant_a).update(custom_fields={})
    with pytest.raises(StepError) as exc:
        journey_update(journey=journey, steps=[{"kind": "send", "template": mine.pk}])
    assert exc.value.path == "steps[0].body" and "city" in exc.value.message


def test_the_api_takes_a_template_and_names_the_step_on_a_bad_one(api_alice, api_bob, tenant_a):
    template = _template(tenant_a)
    payload = {
        "name": "New",
        "trigger_kind": "keyword",
        "trigger_value": "NEW",
        "steps": [{"kind": "send", "template": template.pk}],
    }
    resp = api_alice.post("/api/v1/journeys/", payload, format="json")
    assert resp.status_code == 201, resp.json()
    step = resp.json()["steps"][0]
    assert (step["body"], step["link_url"]) == (CITY, template.link_url) and "template" not in step
    # Bob's token: Alice's template is not his.
    resp = api_bob.post("/api/v1/journeys/", payload, format="json")
    assert resp.status_code == 400 and resp.json()["steps"][0].startswith("steps[0].template: ")


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _config(html: str) -> dict:
    start = html.index('<script id="journey-builder-config" type="application/json">') + len(
        '<script id="journey-builder-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_the_builder_offers_the_tenants_templates_and_saves_a_step_from_one(alice, tenant_a, tenant_b):
    image = MediaFileFactory(tenant=tenant_a)
    mine = _template(tenant_a, media=[image.pk])
    theirs = MessageTemplateFactory(tenant=tenant_b, name="Theirs")
    client = _login(alice)
    add = reverse("admin:journeys_journey_add")
    config = _config(client.get(add).content.decode())
    assert config["templates"] == [
        {"id": mine.pk, "name": mine.name, "body": CITY, "link_url": mine.link_url, "media": [image.pk]}
    ]
    form = {
        "name": "From T",
        "trigger_kind": TriggerKind.KEYWORD,
        "trigger_value": "NEW",
        "trigger_time": "",
        "reentry": "never",
        "reentry_days": "30",
    }
    # Another tenant's template: nothing saved, the error on the step's template.
    resp = client.post(add, {**form, "steps": json.dumps([{"kind": "send", "template": theirs.pk, "body": ""}])})
    assert resp.status_code == 200 and not Journey.objects.exists()
    assert _config(resp.content.decode())["error"]["path"] == "steps[0].template"
    resp = client.post(add, {**form, "steps": json.dumps([{"kind": "send", "template": mine.pk, "body": ""}])})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    spec = version_spec(Journey.objects.get(tenant=tenant_a).versions.get())
    assert (spec[0]["body"], spec[0]["media"]) == (CITY, [image.pk])


@pytest.mark.django_db(transaction=True)
def test_in_the_browser_start_from_a_template_fills_the_step(page, live_server, alice, tenant_a, tenant_b):
    from campaigns.tests.test_dashboard_browser import _login as _browser_login
    from campaigns.tests.test_dashboard_browser import _strict_csp, page_errors

    image = MediaFileFactory(tenant=tenant_a, original_name="new-in.png")
    _template(tenant_a, name="New in town", media=[image.pk])
    MessageTemplateFactory(tenant=tenant_b, name="Bobs template")
    violations: list[str] = []
    _strict_csp(page, violations)
    errors = page_errors(page)
    url = reverse("admin:journeys_journey_add")
    _browser_login(page, live_server, alice, url)
    page.goto(f"{live_server.url}{url}")
    page.fill("#id_name", "New in town")
    page.select_option("#id_trigger_kind", "keyword")
    page.fill("#id_trigger_value", "NEW")
    lst = page.locator('ol.jb-list[data-path="steps"]')
    lst.locator("select.jb-add-kind").select_option("send")
    lst.locator("button.jb-add-btn").click()
    send = page.locator('li.jb-step[data-path="steps[0]"]')
    choice = send.locator('[data-field="template"]')
    assert choice.locator("option").all_inner_texts() == ["—", "New in town"]  # the tenant's own only
    send.locator('[data-field="link_url"]').fill("https://mine.example/")  # what the step gives stays
    choice.select_option(label="New in town")
    send = page.locator('li.jb-step[data-path="steps[0]"]')
    assert send.locator('[data-field="body"]').input_value() == CITY
    assert send.locator('[data-field="link_url"]').input_value() == "https://mine.example/"
    assert send.locator("label.jb-media-item", has_text="new-in.png").locator("input").is_checked()
    send.locator('[data-field="body"]').fill(CITY + " Reply STOP to opt out.")  # editable after the fill
    with page.expect_navigation():
        page.click("input[name=_save]")
    spec = version_spec(Journey.objects.get(tenant=tenant_a).versions.get())
    assert spec[0]["body"] == CITY + " Reply STOP to opt out." and spec[0]["link_url"] == "https://mine.example/"
    assert spec[0]["media"] == [image.pk] and "template" not in spec[0]
    assert errors == [] and violations == []
