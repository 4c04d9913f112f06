"""The inbox in a real browser (Debian's Chromium through Playwright, against a live server, under a strict CSP):
a signed inbound webhook arrives while the page is open, and the thread and the list show it without a reload."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.tests.test_dashboard_browser import _login, _strict_csp
from contacts.tests.factories import ContactFactory
from inbox.models import Conversation
from inbox.services import conversations_refresh

from .conftest import inbound_post

pytestmark = pytest.mark.django_db(transaction=True)

ADA = "+14155550123"
BEN = "+14155550456"


def test_the_inbox_updates_live_when_a_text_arrives(page, live_server, alice, tenant_a, tenant_b):
    ContactFactory(tenant=tenant_a, phone_number=ADA, first_name="Ada")
    inbound_post(tenant_a, "Is the sale still on?", from_number=ADA)
    conversations_refresh(tenant=tenant_a)
    conversation = Conversation.objects.get(tenant=tenant_a)
    violations: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _strict_csp(page, violations)
    thread_url = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    _login(page, live_server, alice, thread_url)
    page.goto(f"{live_server.url}{thread_url}")
    assert page.locator("#inbox-thread li.bubble.in").count() == 1
    marker = page.evaluate("() => (window.__marker = 'same page')")

    # A text from Ada, signed as Twilio signs it, while her thread is open: it shows without a reload.
    inbound_post(tenant_a, "And does it include bikes?", from_number=ADA)
    inbound_post(tenant_b, "Bob's customer writes", from_number=ADA)  # another tenant's: never shown here
    newest = page.locator("#inbox-thread li.bubble.in").first
    newest.locator(".text", has_text="And does it include bikes?").wait_for()
    assert page.locator("#inbox-thread li.bubble").count() == 2
    assert page.evaluate("() => window.__marker") == marker  # no reload happened

    # The list: a text from a new number appears, with the unread total.
    list_url = reverse("admin:inbox_conversation_changelist")
    page.goto(f"{live_server.url}{list_url}")
    assert page.locator("#inbox-list tbody tr[data-id]").count() == 1
    page.evaluate("() => (window.__marker = 'list page')")
    inbound_post(tenant_a, "Hello, who is this?", from_number=BEN)
    row = page.locator("#inbox-list tbody tr.unread", has_text=BEN)
    row.wait_for()
    assert "Hello, who is this?" in row.inner_text()
    assert page.inner_text("#inbox-unread-total") == "1 unread"  # Ada's were read on her open page
    assert page.evaluate("() => window.__marker") == "list page"
    assert "Bob's customer writes" not in page.content()
    assert errors == []
    assert page.evaluate("() => window.__csp") == [] and violations == []
