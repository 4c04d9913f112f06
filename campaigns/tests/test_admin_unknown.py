"""Unknown outcomes in the admin: the check history on a message, the "Outcome" filter, "check again"
(action and button) and the dashboard's "Being checked with Twilio" / "Needs a person" boxes.

Alice's tenant owns the messages; Bob (another tenant) and Charlie (an outsider) must neither see nor act on
them, and a viewer of Alice's tenant may look but never check again.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignStatus, MessageCheck
from campaigns.models import MessageStatus as S
from campaigns.sending import resolution
from campaigns.tests.factories import CampaignFactory, MessageFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory

REASON = "Twilio could not be asked for 6.0 h (503 Service Unavailable); check again when it answers."
FOUND_SID = "SM" + "f" * 32

pytestmark = pytest.mark.django_db


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _change(message) -> str:
    return reverse("admin:campaigns_message_change", args=[message.pk])


def _check_again(message) -> str:
    return reverse("admin:campaigns_message_check_again", args=[message.pk])


CHANGELIST = "/admin/campaigns/message/"


def _check(message, minutes_ago: int, **fields) -> MessageCheck:
    return MessageCheck.objects.create(
        message=message, asked_at=timezone.now() - dt.timedelta(minutes=minutes_ago), **fields
    )


@pytest.fixture
def campaign_a(tenant_a):
    return CampaignFactory(tenant=tenant_a, name="Spring sale", status=CampaignStatus.SENT)


@pytest.fixture
def checking(campaign_a):
    """The resolver is still on it: asked twice, next question in a minute."""
    message = MessageFactory(
        campaign=campaign_a, status=S.UNKNOWN, checks=2, check_after=timezone.now() + dt.timedelta(minutes=1)
    )
    _check(message, 3, method="list", outcome=MessageCheck.Outcome.NOT_FOUND, action="ask_again", note="grace")
    _check(message, 2, method="list", outcome=MessageCheck.Outcome.ERROR, action="ask_again", note="503 busy")
    return message


@pytest.fixture
def unresolved(campaign_a):
    """The resolver gave up: Twilio could not be asked for hours."""
    message = MessageFactory(campaign=campaign_a, status=S.UNKNOWN, checks=40, resends=1, unresolved_reason=REASON)
    _check(message, 400, method="list", outcome=MessageCheck.Outcome.NOT_FOUND, action="resent", note="never made")
    _check(message, 300, method="fetch", outcome=MessageCheck.Outcome.FOUND, sid=FOUND_SID, status="queued")
    _check(message, 1, method="list", outcome=MessageCheck.Outcome.ERROR, action="gave_up", note="503 down")
    return message


@pytest.fixture
def delivered(campaign_a):
    return MessageFactory(campaign=campaign_a, status=S.DELIVERED, sid="SM" + "d" * 32)


@pytest.fixture
def bobs_unresolved(tenant_b):
    campaign = CampaignFactory(tenant=tenant_b, name="Bob's launch", status=CampaignStatus.SENT)
    return MessageFactory(campaign=campaign, status=S.UNKNOWN, unresolved_reason=REASON)


@pytest.fixture
def viewer(tenant_a):
    return UserFactory(tenant=tenant_a, role=Role.VIEWER)


def _assert_back_with_the_resolver(message, *, by: str, since: dt.datetime) -> None:
    message.refresh_from_db()
    assert message.status == S.UNKNOWN
    assert message.unresolved_reason == ""
    assert message.check_after is not None and since <= message.check_after <= timezone.now()
    retry = message.checks_made.filter(outcome=MessageCheck.Outcome.RETRY).latest("id")
    assert retry.method == "person" and retry.action == "check_again" and by in retry.note
    # The resolver's own read now picks it up.
    assert message.pk in {m.id for m in resolution._due(now=timezone.now(), limit=100)}


def _assert_untouched(message) -> None:
    before = (message.status, message.unresolved_reason, message.check_after)
    message.refresh_from_db()
    assert (message.status, message.unresolved_reason, message.check_after) == before
    assert not message.checks_made.filter(outcome=MessageCheck.Outcome.RETRY).exists()


# --- the change page ------------------------------------------------------------------------------


def test_change_page_shows_the_resolution_and_the_check_history(alice, unresolved):
    resp = _login(alice).get(_change(unresolved))
    assert resp.status_code == 200
    html = resp.content.decode()
    for label in ("Next check with Twilio", "Checks:", "Resends:", "Unresolved reason:"):
        assert label in html, label
    assert "None: needs a person" in html  # no next check: the resolver gave up
    assert html.count(REASON) >= 2  # the notice above the form and the read-only field
    # The history, read-only, oldest first: every question with its answer.
    inline = html[html.index("Checks with Twilio") :]
    for text in ("Not found", "Found at the gateway", "Could not ask", FOUND_SID, "queued", "gave_up", "503 down"):
        assert text in inline, text
    assert inline.index("never made") < inline.index(FOUND_SID) < inline.index("503 down")
    # No add, change or delete: no new rows allowed, no delete boxes, no inputs for the checks' fields.
    assert 'name="checks_made-MAX_NUM_FORMS" value="0"' in html
    assert "checks_made-0-DELETE" not in html and 'name="checks_made-0-note"' not in html
    # The one-click button: a POST form of its own with a CSRF token.
    form = re.search(r'<form method="post" action="([^"]+)" class="check-again-form">(.*?)</form>', html, re.S)
    assert form and form.group(1) == _check_again(unresolved)
    assert "csrfmiddlewaretoken" in form.group(2)


def test_a_message_the_resolver_is_on_has_no_button(alice, checking, delivered):
    for message in (checking, delivered):
        html = _login(alice).get(_change(message)).content.decode()
        assert "check-again-form" not in html
        assert "Needs a person" not in html
    html = _login(alice).get(_change(checking)).content.decode()
    assert "503 busy" in html  # its history is shown all the same


def test_superuser_sees_the_tenant_and_the_history(django_user_model, unresolved):
    root = django_user_model.objects.create_superuser("root@example.com", "pw-123456")
    html = _login(root).get(_change(unresolved)).content.decode()
    assert "Tenant:" in html and FOUND_SID in html and "check-again-form" in html


# --- the list and its filter -----------------------------------------------------------------------


def test_outcome_filter_lists_the_right_messages(alice, checking, unresolved, delivered, bobs_unresolved):
    client = _login(alice)
    needs = client.get(CHANGELIST, {"outcome": "needs_person"}).content.decode()
    assert _change(unresolved) in needs
    for other in (checking, delivered, bobs_unresolved):
        assert _change(other) not in needs
    assert REASON in needs  # the reason as a column
    assert "Needs a person" in needs and "Being checked with Twilio" in needs  # the filter's choices

    being_checked = client.get(CHANGELIST, {"outcome": "checking"}).content.decode()
    assert _change(checking) in being_checked
    for other in (unresolved, delivered, bobs_unresolved):
        assert _change(other) not in being_checked

    everything = client.get(CHANGELIST).content.decode()
    assert _change(delivered) in everything and _change(unresolved) in everything
    assert REASON not in everything  # the column only comes with the filter


def test_the_filter_scoped_to_one_campaign(alice, campaign_a, unresolved, tenant_a):
    elsewhere = MessageFactory(
        campaign=CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENT), status=S.UNKNOWN, unresolved_reason="x"
    )
    html = (
        _login(alice)
        .get(CHANGELIST, {"campaign__id__exact": campaign_a.pk, "outcome": "needs_person"})
        .content.decode()
    )
    assert _change(unresolved) in html
    assert _change(elsewhere) not in html


# --- check again: the action ------------------------------------------------------------------------


def test_action_puts_unknown_ones_back_with_the_resolver(alice, checking, unresolved, delivered, bobs_unresolved):
    since = timezone.now()
    resp = _login(alice).post(
        CHANGELIST,
        {"action": "check_again", "_selected_action": [unresolved.pk, delivered.pk, bobs_unresolved.pk]},
        follow=True,
    )
    assert resp.status_code == 200
    _assert_back_with_the_resolver(unresolved, by=alice.email, since=since)
    _assert_untouched(delivered)
    _assert_untouched(bobs_unresolved)  # not in Alice's queryset at all
    notes = [str(m) for m in get_messages(resp.wsgi_request)]
    assert any(n.startswith("1 of 2 selected") for n in notes), notes
    assert any("1 left as they were" in n for n in notes), notes


def test_action_is_offered_to_marketers_not_viewers(tenant_a, alice, viewer, unresolved):
    marketer = UserFactory(tenant=tenant_a, role=Role.MARKETER)
    for user in (alice, marketer):
        assert 'value="check_again"' in _login(user).get(CHANGELIST).content.decode()
    assert 'value="check_again"' not in _login(viewer).get(CHANGELIST).content.decode()


def test_viewer_cannot_run_the_action(viewer, unresolved):
    resp = _login(viewer).post(CHANGELIST, {"action": "check_again", "_selected_action": [unresolved.pk]})
    assert resp.status_code in (200, 302)  # "no action selected": the admin does not know it for a viewer
    _assert_untouched(unresolved)


def test_bob_cannot_act_on_alices_messages(bob, unresolved):
    _login(bob).post(CHANGELIST, {"action": "check_again", "_selected_action": [unresolved.pk]})
    _assert_untouched(unresolved)


# --- check again: the button ---------------------------------------------------------------------------


def test_button_puts_it_back_with_the_resolver_and_comes_back(alice, unresolved):
    since = timezone.now()
    client = _login(alice)
    resp = client.post(_check_again(unresolved))
    assert resp.status_code == 302 and resp["Location"] == _change(unresolved)
    _assert_back_with_the_resolver(unresolved, by=alice.email, since=since)
    page = client.get(resp["Location"]).content.decode()
    assert "Checked with Twilio again at the next run." in page
    assert "check-again-form" not in page  # the resolver has it again
    assert "Check again (a person asked)" in page  # and the history says who


def test_button_on_a_message_no_longer_unknown_changes_nothing(alice, delivered):
    resp = _login(alice).post(_check_again(delivered), follow=True)
    assert "no longer unknown" in resp.content.decode()
    _assert_untouched(delivered)


def test_button_is_a_post_with_csrf(alice, unresolved):
    assert _login(alice).get(_check_again(unresolved)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(_check_again(unresolved)).status_code == 403
    _assert_untouched(unresolved)


def test_viewer_sees_the_reason_but_cannot_press(viewer, unresolved):
    client = _login(viewer)
    html = client.get(_change(unresolved)).content.decode()
    assert REASON in html and "503 down" in html
    assert "check-again-form" not in html
    assert client.post(_check_again(unresolved)).status_code == 403
    _assert_untouched(unresolved)


def test_another_tenants_message_is_a_404(bob, charlie, unresolved):
    for user in (bob, charlie):
        client = _login(user)
        page = client.get(_change(unresolved))
        assert page.status_code in (302, 404)  # the admin's change view redirects "doesn't exist"
        assert REASON not in client.get(_change(unresolved), follow=True).content.decode()
        assert client.post(_check_again(unresolved)).status_code == 404
        assert _change(unresolved) not in client.get(CHANGELIST, {"outcome": "needs_person"}).content.decode()
    _assert_untouched(unresolved)


# --- the dashboard ----------------------------------------------------------------------------------------


def _dashboard(campaign) -> str:
    return reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])


def _unknowns(campaign) -> str:
    return reverse("admin:campaigns_campaign_dashboard_unknowns", args=[campaign.pk])


def _box(html: str, name: str) -> str:
    return re.search(rf'<div data-aside="{name}"[^>]*>.*?</div>', html, re.S).group(0)


def test_dashboard_shows_both_counts(alice, campaign_a, checking, unresolved, delivered, bobs_unresolved):
    MessageFactory(campaign=campaign_a, status=S.UNKNOWN)  # a second one being checked
    html = _login(alice).get(_dashboard(campaign_a)).content.decode()
    being_checked = _box(html, "unknown_checking")
    assert 'data-value="2"' in being_checked and "Being checked with Twilio" in being_checked
    needs = _box(html, "needs_person")
    assert 'data-value="1"' in needs and "Needs a person" in needs and " hidden" not in needs
    link = re.search(r'href="([^"]+)"', needs).group(1).replace("&amp;", "&")
    assert link == f"{CHANGELIST}?campaign__id__exact={campaign_a.pk}&outcome=needs_person"
    listed = _login(alice).get(link).content.decode()
    assert _change(unresolved) in listed and _change(checking) not in listed
    # The page's script refreshes both from here (and starts from the same figures).
    config = json.loads(
        re.search(r'<script id="dashboard-config" type="application/json">(.*?)</script>', html).group(1)
    )
    assert config["initial_unknowns"] == {"unknown": 3, "checking": 2, "needs_person": 1}
    assert config["urls"]["unknowns"] == _unknowns(campaign_a)
    assert _login(alice).get(_unknowns(campaign_a)).json() == {
        "unknown": 3,
        "checking": 2,
        "needs_person": 1,
        "replica_lag_seconds": 0.0,  # no replica here: the figures are the primary's
    }


def test_dashboard_hides_needs_a_person_at_zero(alice, campaign_a, checking, delivered):
    html = _login(alice).get(_dashboard(campaign_a)).content.decode()
    assert 'data-value="1"' in _box(html, "unknown_checking")
    assert " hidden" in _box(html, "needs_person")


def test_dashboard_unknowns_are_scoped(bob, charlie, campaign_a, unresolved):
    for user in (bob, charlie):
        assert _login(user).get(_unknowns(campaign_a)).status_code == 404
        assert _login(user).get(_dashboard(campaign_a)).status_code == 404


# --- in a browser: the live refresh and the button --------------------------------------------------------

PASSWORD = "pw-123456"  # UserFactory's


def _browser_login(page, live_server, user, next_url: str) -> None:
    page.goto(f"{live_server.url}{reverse('admin:login')}?next={next_url}")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "/login/" not in page.url


BOX_JS = """([name, value]) => {
  const box = document.querySelector(`[data-aside="${name}"]`);
  return box.dataset.value === value && (name !== "needs_person" || box.hidden === (value === "0"));
}"""


@pytest.mark.django_db(transaction=True)
def test_browser_dashboard_follows_unknowns_and_the_button_works(page, live_server, alice, tenant_a, monkeypatch):
    monkeypatch.setattr("campaigns.admin.dashboard.REFRESH_MS", 300)
    campaign = CampaignFactory(tenant=tenant_a, name="Flash sale", status=CampaignStatus.SENDING)
    MessageFactory(campaign=campaign, status=S.UNKNOWN)
    stuck = MessageFactory(campaign=campaign, status=S.UNKNOWN, unresolved_reason=REASON)
    _check(stuck, 5, method="list", outcome=MessageCheck.Outcome.ERROR, action="gave_up", note="503 down")

    _browser_login(page, live_server, alice, _dashboard(campaign))
    page.wait_for_function(BOX_JS, arg=["unknown_checking", "1"])
    page.wait_for_function(BOX_JS, arg=["needs_person", "1"])
    assert page.is_visible('[data-aside="needs_person"] a')

    # Someone checks it again elsewhere: the page follows without a reload.
    resolution.unknown_check_again(message_ids=[stuck.pk], user=alice)
    page.wait_for_function(BOX_JS, arg=["unknown_checking", "2"])
    page.wait_for_function(BOX_JS, arg=["needs_person", "0"])

    # Given up on again; the link leads to it, and its button puts it back.
    Message = type(stuck)
    Message.objects.filter(pk=stuck.pk).update(unresolved_reason=REASON)
    page.wait_for_function(BOX_JS, arg=["needs_person", "1"])
    with page.expect_navigation():
        page.click('[data-aside="needs_person"] a')
    with page.expect_navigation():
        page.click(f'a[href^="{_change(stuck)}"]')
    assert page.is_visible("text=503 down")
    with page.expect_navigation():
        page.click('[data-action="check-again"]')
    assert page.url.endswith(_change(stuck))
    assert page.is_visible("text=Checked with Twilio again at the next run.")
    _assert_back_with_the_resolver(stuck, by=alice.email, since=timezone.now() - dt.timedelta(minutes=1))
