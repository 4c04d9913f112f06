"""The public sign-up form in a real browser (Debian's Chromium through Playwright, against a live server): it
works with JavaScript on (no script error, no CSP violation under the app's own strict policy) and off."""

from __future__ import annotations

import pytest

from compliance.models import ConsentEvent, ConsentKind
from contacts.models import Contact
from growth.tests.factories import SignupFormFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.text}") if msg.type == "error" else None)
    page.on("response", lambda r: problems.append(f"http {r.status} {r.url}") if r.status >= 400 else None)
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
    return problems


def _sign_up(page, url: str) -> None:
    page.goto(url)
    assert page.inner_text("h1") == "Join the VIP club"
    # Sent empty first: each field says what is wrong, on the server's page.
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "Enter a valid mobile number" not in page.content()  # empty: "required"
    assert page.locator(".sf-error").count() == 2
    page.fill("#id_first_name", "Ada")
    page.fill("#id_phone_number", "+1 415 555 0123")
    page.check("#id_consent")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "Check your phone" in page.inner_text(".sf-success")
    # The honeypot is there for bots, out of sight for people.
    assert not page.locator("#id_website").is_visible() or page.locator("#id_website").bounding_box()["x"] < 0


def test_the_form_works_in_chromium_without_errors(page, live_server, tenant_a, sent_tasks):
    SignupFormFactory(tenant=tenant_a, slug="vip")
    problems = _watch(page)
    _sign_up(page, f"{live_server.url}/f/acme/vip/")
    assert page.evaluate("() => window.__csp") == [], problems
    assert problems == [], problems
    contact = Contact.objects.get(tenant=tenant_a, phone_number="+14155550123")
    assert contact.first_name == "Ada"
    assert ConsentEvent.objects.get(tenant=tenant_a).kind == ConsentKind.REQUESTED
    assert len(sent_tasks) == 1  # the confirmation, handed to the sender


def test_the_form_works_with_javascript_off(browser, live_server, tenant_a, sent_tasks):
    SignupFormFactory(tenant=tenant_a, slug="vip")
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        _sign_up(context.new_page(), f"{live_server.url}/f/acme/vip/")
    finally:
        context.close()
    assert Contact.objects.filter(tenant=tenant_a, phone_number="+14155550123").exists()
