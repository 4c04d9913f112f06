"""Keywords and sign-up forms in the admin: collisions refused on the form, QR codes (SVG, PNG) of the tenant's own
rows only, the form's public address and embed snippet."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from growth.models import Keyword
from growth.qr import qr_image
from growth.tests.factories import KeywordFactory, SignupFormFactory

pytestmark = pytest.mark.django_db

KEYWORDS = "/admin/growth/keyword/"
FORMS = "/admin/growth/signupform/"


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _add_keyword(client, word):
    return client.post(
        f"{KEYWORDS}add/",
        {"word": word, "auto_reply": "{brand}: hi", "tags": "vip, spring", "ask_consent": "on", "active": "on"},
    )


def test_adding_a_keyword_in_the_admin_refuses_a_reserved_word(alice, tenant_a):
    client = _login(alice)
    page = _add_keyword(client, "Stop")
    assert page.status_code == 200
    assert "STOP is an opt-out word" in page.content.decode()
    assert not Keyword.objects.exists()

    assert _add_keyword(client, "vip").status_code == 302
    keyword = Keyword.objects.get()
    assert (keyword.tenant_id, keyword.word, keyword.tags) == (tenant_a.pk, "VIP", ["vip", "spring"])
    page = _add_keyword(client, "VIP")
    assert "You already have the keyword VIP" in page.content.decode()


def test_a_keywords_qr_codes_are_its_sms_link_and_only_for_its_tenant(alice, bob, charlie, tenant_a):
    keyword = KeywordFactory(tenant=tenant_a, word="VIP")
    client = _login(alice)
    page = client.get(f"{KEYWORDS}{keyword.pk}/change/").content.decode()
    assert f"{KEYWORDS}{keyword.pk}/qr.svg" in page and f"{KEYWORDS}{keyword.pk}/qr.png" in page

    link = f"sms:{tenant_a.sender}?&body=VIP"
    svg = client.get(f"{KEYWORDS}{keyword.pk}/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert 'filename="keyword-VIP.svg"' in svg["Content-Disposition"]
    assert svg.content == qr_image(link, fmt="svg") and b"<svg" in svg.content
    png = client.get(f"{KEYWORDS}{keyword.pk}/qr.png")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert png.content == qr_image(link, fmt="png")
    assert client.get(f"{KEYWORDS}{keyword.pk}/qr.gif").status_code == 404

    for outsider in (bob, charlie):
        other = _login(outsider)
        assert other.get(f"{KEYWORDS}{keyword.pk}/qr.svg").status_code == 404
        assert other.get(f"{KEYWORDS}{keyword.pk}/change/").status_code in (302, 404)
        assert "VIP" not in other.get(KEYWORDS).content.decode()


def test_a_messaging_service_tenant_needs_a_number_for_the_qr(alice, tenant_a):
    tenant_a.sender = "MG" + "0" * 32
    tenant_a.save()
    keyword = KeywordFactory(tenant=tenant_a, word="VIP")
    client = _login(alice)
    assert (
        "enter the number people text this keyword to" in client.get(f"{KEYWORDS}{keyword.pk}/change/").content.decode()
    )
    assert client.get(f"{KEYWORDS}{keyword.pk}/qr.svg").status_code == 404
    keyword.sms_number = "+14155550199"
    keyword.save()
    assert client.get(f"{KEYWORDS}{keyword.pk}/qr.svg").content == qr_image("sms:+14155550199?&body=VIP", fmt="svg")


def test_a_forms_page_shows_its_address_snippet_and_qr(alice, bob, tenant_a):
    form = SignupFormFactory(tenant=tenant_a, slug="vip")
    url = f"{settings.PUBLIC_BASE_URL}/f/acme/vip/"
    client = _login(alice)
    page = client.get(f"{FORMS}{form.pk}/change/").content.decode()
    assert url in page
    assert f"&lt;iframe src=&quot;{url}&quot;" in page  # the snippet, to copy
    qr = client.get(f"{FORMS}{form.pk}/qr.png")
    assert qr.status_code == 200 and qr.content == qr_image(url, fmt="png")
    assert _login(bob).get(f"{FORMS}{form.pk}/qr.png").status_code == 404


def test_adding_a_form_in_the_admin_with_a_taken_slug_is_refused(alice, tenant_a, tenant_b):
    SignupFormFactory(tenant=tenant_b, slug="vip")  # another tenant's: no clash
    client = _login(alice)
    data = {
        "title": "VIP",
        "slug": "vip",
        "ask_first_name": "on",
        "custom_fields": "city, birthday",
        "tags": "web",
        "disclosure_text": "I agree to texts from {brand}.",
        "success_text": "Thanks",
        "double_opt_in": "on",
        "active": "on",
    }
    assert client.post(f"{FORMS}add/", data).status_code == 302
    again = client.post(f"{FORMS}add/", data)
    assert "You already have a form with this address." in again.content.decode()


def test_the_replies_inbox_shows_the_keyword_a_text_matched(alice, bob, tenant_a):
    from compliance.models import InboundMessage
    from compliance.tests.test_inbound_webhook import post

    KeywordFactory(tenant=tenant_a, word="SPRING25")
    post(tenant_a, "spring25")
    inbound = InboundMessage.objects.get(tenant=tenant_a)
    page = _login(alice).get(f"/admin/compliance/inboundmessage/{inbound.pk}/change/").content.decode()
    assert "SPRING25" in page and "Keyword" in page
    assert _login(bob).get(f"/admin/compliance/inboundmessage/{inbound.pk}/change/").status_code in (302, 404)
