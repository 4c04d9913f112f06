"""Authoring end to end in a real browser (Debian's Chromium through Playwright, against a live server, under a
strict CSP): a marketer saves a message template whose body uses a custom field with a default, builds a saved
segment of two OR-ed groups in the segment editor, creates a campaign from the template with that segment as its
audience, texts a test to their own number (verified by the texted code), goes through the confirmation step and
sends, and watches the campaign's dashboard count deliveries without a reload.

The gateway is the local Twilio-compatible server (``FakeTwilio``): the code, the test and the campaign's messages
are real HTTP requests to it, and its signed status callbacks reach the live server's webhook. The worker's tasks
are captured (``sent_tasks``) and run here, one at a time, so the page is watched between two send batches.

``AUTHORING_SCREENSHOTS=docs/img`` also writes the template, segment, test-send and confirmation pages there (for
the docs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignStatus, Message, MessageTemplate
from campaigns.tasks import campaign_fanout, messages_send
from campaigns.tests.conftest import always_open
from campaigns.tests.test_dashboard_browser import KPIS_JS, _login, _strict_csp, page_errors
from contacts.tests.factories import ContactFactory, TagFactory
from segments.models import Segment
from tenants.models import Role
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BODY = "Hi {{first_name|there}}, new in {{city|your area}}: {{link}}"
OWN_NUMBER = "+14155560199"


def _screenshot(page, name: str) -> None:
    """A picture for the docs when asked for (``AUTHORING_SCREENSHOTS``): never an assertion."""
    folder = os.environ.get("AUTHORING_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _audience(tenant_a, tenant_b) -> dict[str, list]:
    """12 contacts in "city is Boston OR has the tag vip" (two in both), 3 in neither, 2 of Bob's in Boston."""
    vip = TagFactory(tenant=tenant_a, name="vip")
    boston = [ContactFactory(tenant=tenant_a, first_name=f"Bo{i}", custom_fields={"city": "Boston"}) for i in range(7)]
    for contact in boston[:2]:
        contact.tags.add(vip)
    vips = [ContactFactory(tenant=tenant_a, first_name=f"Vi{i}") for i in range(5)]
    for contact in vips:
        contact.tags.add(vip)
    denver = [ContactFactory(tenant=tenant_a, custom_fields={"city": "Denver"}) for _ in range(3)]
    theirs = [ContactFactory(tenant=tenant_b, custom_fields={"city": "Boston"}) for _ in range(2)]
    return {"boston": boston, "vips": vips, "out": denver + theirs}


def _run(sent_tasks, name: str, count: int | None = None) -> list[dict]:
    """Run the captured tasks called ``name`` (the first ``count`` of them) as a worker would; their kwargs."""
    tasks = {"campaigns.tasks.campaign_fanout": campaign_fanout, "campaigns.tasks.messages_send": messages_send}
    mine = [i for i, (n, _, _) in enumerate(sent_tasks) if n == name][:count]
    ran = []
    for i in reversed(mine):
        ran.insert(0, sent_tasks.pop(i)[2])
    for kwargs in ran:
        tasks[name](**kwargs)
    return ran


def _kpi(page, name: str, value: int) -> None:
    page.wait_for_function(
        '([name, value]) => Number(document.querySelector(`[data-kpi="${name}"]`).dataset.value) === value',
        arg=[name, value],
        timeout=20_000,
    )


def test_a_marketer_authors_tests_confirms_and_watches_a_campaign(
    page, live_server, tenant_a, tenant_b, fake_twilio, sent_tasks, settings
):
    settings.PUBLIC_BASE_URL = live_server.url  # the status callbacks go to the live server's webhook
    settings.SENDING_BATCH_SIZE = 10  # two send batches for the 12: the page is watched between them
    always_open(tenant_a)
    people = _audience(tenant_a, tenant_b)
    marketer = UserFactory(email="mara@acme.example", tenant=tenant_a, role=Role.MARKETER)
    violations: list[str] = []
    _strict_csp(page, violations)
    errors = page_errors(page)
    _login(page, live_server, marketer, reverse("admin:index"))

    # 1. A template whose body uses a custom field with a default.
    page.goto(f"{live_server.url}{reverse('admin:campaigns_messagetemplate_add')}")
    page.fill("#id_name", "New in town")
    page.fill("#id_body", BODY)
    page.fill("#id_link_url", "https://shop.example/new")
    _screenshot(page, "template-add.png")
    with page.expect_navigation():
        page.click("input[name=_save]")
    assert "New in town" in page.inner_text(".messagelist") and "added successfully" in page.inner_text(".messagelist")
    assert page.locator("#result_list").inner_text().count("New in town") == 1
    template = MessageTemplate.objects.get(tenant=tenant_a)
    assert (template.body, template.link_url, template.created_by) == (BODY, "https://shop.example/new", marketer)

    # 2. A saved segment: group 1 "city is Boston" OR group 2 "has the tag vip"; the live count says 12.
    page.goto(f"{live_server.url}{reverse('admin:segments_segment_add')}")
    page.fill("#id_name", "Boston or VIP")
    page.select_option("#id_c0_group", "1")
    page.select_option("#id_c0_what", "field")
    page.fill("#id_c0_field", "city")
    page.select_option("#id_c0_op", "equals")
    page.fill("#id_c0_value", "Boston")
    page.wait_for_function("() => document.querySelector('#segment-count .sc-count').textContent === '7'")
    page.select_option("#id_c1_group", "2")
    page.select_option("#id_c1_what", "tag")
    page.select_option("#id_c1_op", "equals")
    page.fill("#id_c1_value", "vip")
    page.wait_for_function("() => document.querySelector('#segment-count .sc-count').textContent === '12'")
    assert "consent granted 12" in page.inner_text("#segment-count .sc-consent")
    assert not page.is_visible("#segment-count .sc-errors")  # an earlier half-typed row's error is gone
    _screenshot(page, "segment-or.png")
    with page.expect_navigation():
        page.click("input[name=_save]")
    assert "added successfully" in page.inner_text(".messagelist")
    segment = Segment.objects.get(tenant=tenant_a)
    assert [[c["type"] for c in g] for g in segment.definition["groups"]] == [["field"], ["tag"]]

    # 3. A campaign from the template, the segment its audience: the body left empty is the template's.
    page.goto(f"{live_server.url}{reverse('admin:campaigns_campaign_add')}")
    page.fill("#id_name", "New in town: December")
    assert page.locator("#id_template option").all_inner_texts() == ["---------", "New in town"]
    page.select_option("#id_template", label="New in town")
    page.select_option("#id_segment", label="Boston or VIP")
    with page.expect_navigation():
        page.click("input[name=_continue]")
    assert "added successfully" in page.inner_text(".messagelist")
    campaign = Campaign.objects.get(tenant=tenant_a)
    assert (campaign.body, campaign.link_url, campaign.audience) == (BODY, template.link_url, {"segment": segment.pk})
    assert page.input_value("#id_body") == BODY
    assert page.input_value("#id_link_url") == "https://shop.example/new"
    page.wait_for_function("() => document.querySelector('#campaign-preview .cp-recipients').textContent === '12'")

    # 4. A test to the marketer's own number: a code texted first, typed to verify, then the test.
    page.click("a.testlink")
    page.wait_for_url(f"**{reverse('admin:campaigns_campaign_test', args=[campaign.pk])}")
    assert "No number yet." in page.inner_text(".campaign-test-send")
    page.fill("input[name=phone_number]", OWN_NUMBER)
    with page.expect_navigation():
        page.click("input[value='Text me a code']")
    assert "Code sent" in page.inner_text(".messagelist")
    assert page.inner_text("tr.test-number").split("\t")[:2] == [OWN_NUMBER, "not verified"]
    code_sms = [m for m in fake_twilio.created() if m["to"] == OWN_NUMBER]
    assert len(code_sms) == 1
    code = re.search(r"(\d{6})$", code_sms[0]["body"]).group(1)
    page.fill("input[name=code]", code)
    with page.expect_navigation():
        page.click("input[value=Verify]")
    assert page.inner_text(".messagelist") == f"Number …{OWN_NUMBER[-4:]} verified."
    assert page.inner_text("tr.test-number").split("\t")[:2] == [OWN_NUMBER, "verified"]
    with page.expect_navigation():
        page.click("input[value='Send the test']")
    assert "It is not counted in the campaign's figures." in page.inner_text(".messagelist")
    to_me = [m["body"] for m in fake_twilio.created() if m["to"] == OWN_NUMBER]
    assert len(to_me) == 2
    assert re.match(r"\[Test\] Hi Bo\d, new in Boston: https://shop\.example/new", to_me[1]), to_me[1]
    assert not Message.objects.filter(campaign=campaign).exists()  # a test is never one of the campaign's
    _screenshot(page, "campaign-test-send.png")

    # 5. The confirmation step, then the send.
    page.click("text=Back to the campaign")
    page.click("a.sendlink")
    page.wait_for_url(f"**{reverse('admin:campaigns_campaign_send', args=[campaign.pk])}")
    assert page.inner_text(".send-recipients") == "12"
    assert re.match(r"Hi (Bo|Vi)\d, new in (Boston|your area): http", page.inner_text(".send-sample"))
    assert not [n for n, _, _ in sent_tasks if n.startswith("campaigns.")]  # looking sends nothing
    _screenshot(page, "campaign-send-confirm.png")
    with page.expect_navigation():
        page.click("input[value='Send to 12 recipients now']")
    assert page.url.endswith(reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk]))
    assert "Sending to 12 recipients." in page.inner_text(".messagelist")
    assert page.get_attribute("#campaign-dashboard", "data-live") == "on"
    page.wait_for_function("() => Number(document.querySelector('.an-page').dataset.refreshes) >= 1")
    assert page.evaluate(KPIS_JS)["recipients"] == 0  # nothing fanned out yet
    page.evaluate("() => { window.__notReloaded = true; }")

    # 6. The worker's part: the fan-out, then the first send batch; the carrier reports deliveries.
    _run(sent_tasks, "campaigns.tasks.campaign_fanout")
    batches = [kw["message_ids"] for n, _, kw in sent_tasks if n == "campaigns.tasks.messages_send"]
    assert sorted(len(b) for b in batches) == [2, 10]
    _kpi(page, "recipients", 12)
    first = _run(sent_tasks, "campaigns.tasks.messages_send", count=1)[0]["message_ids"]
    sids = dict(Message.objects.filter(pk__in=first).values_list("pk", "sid"))
    for message_id in first[:4]:
        assert fake_twilio.report(sids[message_id], "delivered") == 204
    _kpi(page, "delivered", 4)
    assert page.inner_text('[data-kpi="delivered"] .an-kpi-value') == "4"
    for message_id in first[4:]:
        assert fake_twilio.report(sids[message_id], "delivered") == 204
    _kpi(page, "delivered", len(first))
    assert page.text_content('[data-field="status"]') == "Sending"
    # The last batch: the campaign is sent, and the page says so (final figures, no more refreshing).
    _run(sent_tasks, "campaigns.tasks.messages_send")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT
    page.wait_for_function("() => document.querySelector('#campaign-dashboard').dataset.live === 'off'", timeout=20_000)
    assert page.text_content('[data-field="status"]') == "Sent"
    assert page.evaluate("() => window.__notReloaded") is True

    # Each of the 12 got one message, rendered from the template with their own city (or the default).
    got = {m["to"]: m["body"] for m in fake_twilio.created() if m["to"] != OWN_NUMBER}
    assert set(got) == {c.phone_number for c in people["boston"] + people["vips"]}
    for contact in people["boston"]:
        assert got[contact.phone_number].startswith(f"Hi {contact.first_name}, new in Boston: http")
    for contact in people["vips"]:
        assert got[contact.phone_number].startswith(f"Hi {contact.first_name}, new in your area: http")
    assert Message.objects.filter(campaign=campaign).count() == 12
    assert errors == [] and violations == [] and page.evaluate("() => window.__csp") == []
