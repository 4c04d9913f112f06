"""The journey builder in a real browser (Debian's Chromium through Playwright, against a live server, under a
strict CSP): a marketer builds the welcome journey (keyword JOIN → message → wait 1 day → branch on clicked → yes:
tag / no: message) without typing JSON, saves it, activates it, and after contacts join sees each step's figures.

``JOURNEY_SCREENSHOTS=docs/img`` also writes journey-builder.png and journey-page.png there (for the docs)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignStatus, Message
from campaigns.tests.conftest import always_open
from campaigns.tests.test_dashboard_browser import _login, _strict_csp, page_errors
from compliance.models import InboundKind, InboundMessage
from compliance.selectors import compliance_settings_get
from contacts.tests.factories import ContactFactory
from journeys.models import Journey, JourneyRun, JourneyStatus, JourneyStep
from journeys.services import journeys_tick
from media.tests.factories import MediaFileFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _screenshot(page, name: str) -> None:
    """A picture for the docs when asked for (``JOURNEY_SCREENSHOTS``): never an assertion."""
    folder = os.environ.get("JOURNEY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _add(page, path: str, kind: str):
    """Add a step of ``kind`` at the end of the list at ``path`` (``steps``, ``steps[2].yes``); the new step."""
    lst = page.locator(f'ol.jb-list[data-path="{path}"]')
    add = lst.locator(":scope > li.jb-add")
    add.locator("select.jb-add-kind").select_option(kind)
    add.locator("button.jb-add-btn").click()
    return lst.locator(":scope > li.jb-step").last


def test_a_marketer_builds_the_welcome_journey_and_sees_its_figures(page, live_server, alice, tenant_a, tenant_b):
    always_open(tenant_a)
    picture = MediaFileFactory(tenant=tenant_a, original_name="welcome-gift.png")
    theirs = MediaFileFactory(tenant=tenant_b, original_name="bobs-bikes.png")
    compliance_settings_get(tenant=tenant_a)  # JOIN is the tenant's double opt-in word: runs start at the YES
    violations: list[str] = []
    _strict_csp(page, violations)
    errors = page_errors(page)
    url = reverse("admin:journeys_journey_add")
    _login(page, live_server, alice, url)
    page.goto(f"{live_server.url}{url}")

    # The journey: a keyword trigger, its value field labelled by the kind; the date-field time only for dates.
    page.fill("#id_name", "Welcome series")
    page.select_option("#id_trigger_kind", "date_field")
    assert page.is_visible('[data-row="trigger_time"]')
    page.select_option("#id_trigger_kind", "keyword")
    assert page.inner_text('[data-row="trigger_value"] label') == "Keyword:"
    assert not page.is_visible('[data-row="trigger_time"]')
    page.fill("#id_trigger_value", "JOIN")
    assert not page.is_visible("#jb-static")  # the read-only tree is for pages without JavaScript

    # The steps, no JSON: the wait added first, then the message moved above it.
    wait = _add(page, "steps", "wait")
    assert wait.locator('[data-field="days"]').input_value() == "1"
    send = _add(page, "steps", "send")
    send.locator('[data-field="body"]').fill("Welcome {{first_name}}! Your 10% code: {{link}}")
    send.locator('[data-field="link_url"]').fill("https://shop.example/welcome")
    # The media library as thumbnails to tick: the tenant's own files only.
    assert send.locator(f'img[src="{picture.public_path}"]').count() == 1 and "bobs-bikes" not in page.content()
    assert theirs.public_path not in page.content()
    send.locator("label.jb-media-item", has_text="welcome-gift.png").click()
    send.locator("button.jb-up").click()
    assert page.locator('li.jb-step[data-path="steps[0]"]').get_attribute("class").split()[1] == "jb-kind-send"
    branch = _add(page, "steps", "branch")
    assert branch.locator('[data-field="condition"]').input_value() == "clicked"
    yes = _add(page, "steps[2].yes", "tag")
    yes.locator('[data-field="add"]').fill("engaged, welcomed")
    no = _add(page, "steps[2].no", "send")
    no.locator('[data-field="body"]').fill("Still there, {{favourite_colour}}?")
    # Saved with a merge field no contact has: the page comes back with the whole tree and the error on that step.
    with page.expect_navigation():
        page.click("input[name=_save]")
    assert not Journey.objects.filter(tenant=tenant_a).exists()
    wrong = page.locator('li.jb-step.jb-has-error[data-path="steps[2].no[0]"]')
    assert "favourite_colour" in wrong.locator(".jb-error").inner_text()
    assert "jb-invalid" in wrong.locator('[data-field="body"]').get_attribute("class")
    assert page.locator("li.jb-has-error").count() == 1
    assert (
        page.locator('li.jb-step[data-path="steps[2].yes[0]"] [data-field="add"]').input_value() == "engaged, welcomed"
    )
    assert page.input_value("#id_trigger_value") == "JOIN"
    no = page.locator('li.jb-step[data-path="steps[2].no[0]"]')
    no.locator('[data-field="body"]').fill("Still there, {{first_name|friend}}? Reply STOP to opt out.")
    # An extra step, removed again.
    _add(page, "steps[2].no", "exit").locator("button.jb-remove").click()
    assert page.locator('ol.jb-list[data-path="steps[2].no"] > li.jb-step').count() == 1

    with page.expect_navigation():
        page.click("input[name=_save]")
    journey = Journey.objects.get(tenant=tenant_a, name="Welcome series")
    assert journey.status == JourneyStatus.DRAFT and journey.trigger_value == "JOIN"
    steps = {(s.parent_id is None, s.path, s.position): s for s in JourneyStep.objects.filter(version__journey=journey)}
    assert steps[(True, "", 0)].kind == "send" and steps[(True, "", 0)].config["link_url"].endswith("/welcome")
    assert steps[(True, "", 0)].config["media"] == [picture.pk]
    assert steps[(True, "", 1)].config == {"seconds": 86400}
    assert steps[(True, "", 2)].config == {"condition": {"type": "clicked"}}
    assert steps[(False, "yes", 0)].config == {"add": ["engaged", "welcomed"], "remove": []}
    assert steps[(False, "no", 0)].config["body"].startswith("Still there")

    # Activate: asks first, saying what it will do.
    page.click('button[data-move="active"]')
    page.wait_for_selector("#jp-confirm")
    assert "text people who trigger it" in page.inner_text(".jp-confirm-text")
    with page.expect_navigation():
        page.click("#jp-confirm")
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ACTIVE
    assert {
        s.campaign.status for s in JourneyStep.objects.filter(version=steps[(True, "", 0)].version, kind="send")
    } == {CampaignStatus.SENDING}

    # Two contacts join (their YES to the JOIN prompt), one of Bob's texts JOIN to Bob: the tick enrolls ours.
    for i in range(2):
        c = ContactFactory(tenant=tenant_a, first_name=f"Ada{i}", phone_number=f"+1415555020{i}")
        InboundMessage.objects.create(
            tenant=tenant_a, contact=c, from_number=c.phone_number, body="YES", kind=InboundKind.CONFIRM
        )
    bobs = ContactFactory(tenant=tenant_b, phone_number="+14155550299")
    InboundMessage.objects.create(
        tenant=tenant_b, contact=bobs, from_number=bobs.phone_number, body="YES", kind=InboundKind.CONFIRM
    )
    journeys_tick(now=timezone.now() + dt.timedelta(seconds=30))
    assert JourneyRun.objects.filter(journey=journey).count() == 2

    page.reload()
    figures = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#journey-tree li.jt-step')].map(li =>
             [li.dataset.path, Object.fromEntries([...li.querySelectorAll(':scope > .jt-figures .jt-fig')].map(
               f => [f.dataset.figure, Number(f.querySelector('b').textContent)]))]))"""
    )
    assert figures["steps[0]"]["entered"] == 2
    assert set(figures["steps[0]"]) == {"entered", "exited", "sent", "delivered", "failed", "suppressed", "clicked",
                                        "converted"}  # fmt: skip
    assert Message.objects.filter(campaign=steps[(True, "", 0)].campaign, run_id__isnull=False).count() == 2
    assert figures["steps[1]"]["entered"] == 2  # waiting a day
    assert figures["steps[2]"]["entered"] == 0 and figures["steps[2].yes[0]"]["entered"] == 0
    assert page.inner_text('[data-total="entered"]') == "2" and page.inner_text('[data-total="active"]') == "2"
    assert page.is_visible('.jt-path.jt-yes li.jt-step[data-path="steps[2].yes[0]"]')
    _screenshot(page, "journey-page.png")

    # A test run for one of them: what each step would do, nothing sent.
    sent_before = Message.objects.count()
    with page.expect_navigation():
        page.click("#jp-test-run")
    page.fill("#id_phone_number", "+14155550201")
    with page.expect_navigation():
        page.click(".jt-run-form input[type=submit]")
    outcome = page.locator('#jt-run-steps li[data-path="steps[0]"]')
    assert outcome.locator(".jt-body").inner_text().startswith("Welcome Ada1! Your 10% code: http")
    assert "Would be sent" in outcome.locator(".jt-outcome").inner_text()
    assert page.locator('#jt-run-steps li[data-path="steps[2].no[0]"]').count() == 1  # no click: the no path
    assert Message.objects.count() == sent_before
    _screenshot(page, "journey-test-run.png")

    # Back in the builder, the saved version comes back as the forms it was made with; it now has runs: it says so.
    page.goto(f"{live_server.url}{reverse('admin:journeys_journey_builder', args=[journey.pk])}")
    assert "saving new steps makes version 2" in page.inner_text(".jb-note")
    assert page.locator('li[data-path="steps[1]"] [data-field="days"]').input_value() == "1"
    assert page.locator('li[data-path="steps[2].yes[0]"] [data-field="add"]').input_value() == "engaged, welcomed"
    assert page.locator('li[data-path="steps[0]"] .jb-media input[type=checkbox]').is_checked()
    _screenshot(page, "journey-builder.png")

    assert errors == [], errors
    assert page.evaluate("() => window.__csp") == [] and violations == []
