"""Hosted sign-up forms through the real doors: the public page with Django's test client (no login), the
confirmation through the sending pipeline to the local Twilio-compatible server, YES through the signed inbound
webhook, the consent ledger holding the disclosure verbatim; honeypot, throttles, the fraud guard's countries, 404s.
"""

from __future__ import annotations

from html import escape

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from campaigns.models import CampaignKind, Message, MessageStatus
from campaigns.sending import dispatch
from campaigns.tests.conftest import always_open
from campaigns.tests.factories import MessageFactory
from compliance.models import ConsentEvent, ConsentKind, ConsentSource
from compliance.selectors import compliance_settings_get
from compliance.services import suppression_add
from compliance.tests.test_inbound_webhook import post, reply_text
from contacts.models import ConsentStatus, Contact
from contacts.tests.factories import ContactFactory
from growth.models import DEFAULT_DISCLOSURE
from growth.tests.factories import SignupFormFactory

pytestmark = pytest.mark.django_db

NUMBER = "+14155550123"
SEND_TASK = "campaigns.tasks.messages_send"


@pytest.fixture
def form(tenant_a):
    return SignupFormFactory(
        tenant=tenant_a, slug="vip", title="VIP club", ask_email=True, custom_fields=["City"], tags=["web", "vip"]
    )


@pytest.fixture(autouse=True)
def _sending(settings, tenant_a, tenant_b):
    settings.SENDING_THROTTLE_ENABLED = False
    always_open(tenant_a, tenant_b)


def _submit(client=None, path="/f/acme/vip/", **fields):
    data = {"phone_number": "(415) 555-0123", "consent": "on", "first_name": "Ada", "email": "ada@example.com"}
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return (client or Client()).post(path, data, HTTP_USER_AGENT="Mozilla/5.0 (test)")


def _disclosure(tenant) -> str:
    return DEFAULT_DISCLOSURE.replace("{brand}", tenant.name)


def test_the_public_page_renders_without_login_script_or_inline_style(form, tenant_a):
    page = Client().get("/f/acme/vip/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "VIP club" in html and escape(_disclosure(tenant_a)) in html
    for field in ("first_name", "email", "custom_city", "phone_number", "consent"):
        assert f'name="{field}"' in html
    assert 'name="last_name"' not in html  # not asked by this form
    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert "growth/signup.css" in html
    # Embeddable: any site may frame it (this page only), CSP otherwise as strict as everywhere.
    csp = page["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "script-src 'self'" in csp
    assert "X-Frame-Options" not in page


def test_double_opt_in_from_the_form_to_yes(
    form, tenant_a, fake_twilio, sent_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = _submit(custom_city="Oslo")
    assert answer.status_code == 200
    assert form.success_text in answer.content.decode()

    contact = Contact.objects.get(tenant=tenant_a, phone_number=NUMBER)
    assert (contact.first_name, contact.email, contact.custom_fields) == ("Ada", "ada@example.com", {"City": "Oslo"})
    assert set(contact.tags.values_list("name", flat=True)) == {"web", "vip"}
    assert contact.consent_status == ConsentStatus.UNKNOWN  # pending until YES
    requested = ConsentEvent.objects.get(tenant=tenant_a)
    assert (requested.kind, requested.source) == (ConsentKind.REQUESTED, ConsentSource.WEB_FORM)
    assert requested.disclosure_text == _disclosure(tenant_a)  # verbatim, as shown next to the checkbox
    assert requested.disclosure_version == "1"
    assert requested.source_url == f"{settings.PUBLIC_BASE_URL}/f/acme/vip/"
    assert requested.ip_address == "127.0.0.1" and requested.user_agent == "Mozilla/5.0 (test)"
    assert requested.created_at is not None

    # The confirmation is a direct message through the pipeline, enqueued at the commit, sent by the dispatch.
    message = Message.objects.get(tenant=tenant_a)
    assert message.campaign.kind == CampaignKind.DIRECT and message.status == MessageStatus.PENDING
    prompt = compliance_settings_get(tenant=tenant_a).join_prompt.replace("{brand}", "Acme")
    assert message.body.startswith(prompt)
    batches = [kw["message_ids"] for name, _args, kw in sent_tasks if name == SEND_TASK]
    assert batches == [[message.pk]]
    dispatch.messages_send_batch(message_ids=batches[0])
    sent = fake_twilio.created()
    assert [(m["to"], m["body"].startswith(prompt)) for m in sent] == [(NUMBER, True)]
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.sid == sent[0]["sid"]

    # YES through the signed inbound webhook grants consent with the form's disclosure.
    confirmed = reply_text(post(tenant_a, "yes"))
    assert confirmed == compliance_settings_get(tenant=tenant_a).join_confirmation.replace("{brand}", "Acme")
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.GRANTED
    assert contact.consent_text == _disclosure(tenant_a)
    granted = ConsentEvent.objects.get(tenant=tenant_a, kind=ConsentKind.GRANTED)
    assert granted.source == ConsentSource.WEB_FORM and granted.source_url == requested.source_url
    assert granted.disclosure_text == _disclosure(tenant_a) and granted.disclosure_version == "1"
    assert granted.contact_id == contact.pk and granted.inbound is not None


def test_single_opt_in_grants_at_once_and_texts_nothing(form, tenant_a, sent_tasks, django_capture_on_commit_callbacks):
    form.double_opt_in = False
    form.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert _submit().status_code == 200
    contact = Contact.objects.get(tenant=tenant_a, phone_number=NUMBER)
    assert contact.consent_status == ConsentStatus.GRANTED
    event = ConsentEvent.objects.get(tenant=tenant_a)
    assert event.kind == ConsentKind.GRANTED and event.disclosure_text == _disclosure(tenant_a)
    assert not Message.objects.filter(tenant=tenant_a).exists() and sent_tasks == []


def test_single_opt_in_of_an_opted_out_number_still_asks_yes(form, tenant_a):
    form.double_opt_in = False
    form.save()
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source="keyword")
    assert _submit().status_code == 200
    assert ConsentEvent.objects.filter(tenant=tenant_a).first().kind == ConsentKind.REQUESTED
    contact = Contact.objects.get(tenant=tenant_a, phone_number=NUMBER)
    assert contact.consent_status != ConsentStatus.GRANTED
    # The pipeline never texts an opted-out number: the confirmation is screened out, not sent.
    assert Message.objects.get(tenant=tenant_a).status == MessageStatus.SUPPRESSED


def test_the_confirmation_is_not_held_by_the_daily_cap_of_marketing_texts(form, tenant_a):
    cfg = compliance_settings_get(tenant=tenant_a)
    cfg.frequency_cap = 1
    cfg.save()
    contact = ContactFactory(tenant=tenant_a, phone_number=NUMBER)
    MessageFactory(tenant=tenant_a, contact=contact, to=NUMBER, status=MessageStatus.DELIVERED, sent_at=timezone.now())
    assert _submit().status_code == 200
    confirmation = Message.objects.filter(tenant=tenant_a, campaign__kind=CampaignKind.DIRECT).get()
    assert confirmation.status == MessageStatus.PENDING  # not "capped": the person is waiting for it


def test_a_changed_disclosure_is_a_new_version_in_the_ledger(form, tenant_a):
    form.disclosure_text = "New words for {brand}: texts, STOP to end."
    form.save()
    form.refresh_from_db()
    assert form.disclosure_version == 2
    assert _submit().status_code == 200
    event = ConsentEvent.objects.get(tenant=tenant_a)
    assert (event.disclosure_text, event.disclosure_version) == ("New words for Acme: texts, STOP to end.", "2")


def test_errors_are_per_field_and_nothing_is_written(form, tenant_a):
    answer = _submit(phone_number="12", consent=None, email="not-an-email")
    assert answer.status_code == 200  # the page again, each field with its error
    html = answer.content.decode()
    assert "Enter a valid mobile number" in html
    assert "Tick the box to agree to receive texts." in html
    assert "Enter a valid email address." in html
    assert 'value="Ada"' in html  # what was typed stays
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists() and not Message.objects.exists()


def test_a_number_outside_the_allowed_countries_is_refused_clearly(form, tenant_a):
    answer = _submit(phone_number="+44 20 7183 8750")
    assert answer.status_code == 200
    assert "We can only text mobile numbers in US" in answer.content.decode()
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_the_honeypot_refuses_silently(form, tenant_a, sent_tasks):
    answer = _submit(website="http://spam.example")
    assert answer.status_code == 200
    assert form.success_text in answer.content.decode()  # a bot learns nothing
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists() and sent_tasks == []


def test_a_bot_flood_from_one_address_gets_429s(form, tenant_a, settings):
    settings.GROWTH_SIGNUP_PER_ADDRESS = "5/h"
    client = Client()
    codes = [_submit(client, phone_number=f"+1415555{1000 + i}").status_code for i in range(8)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429] * 3
    throttled = _submit(client, phone_number="+14155552000")
    assert throttled.status_code == 429 and 0 < int(throttled["Retry-After"]) <= 3600
    assert "Too many sign-ups" in throttled.content.decode()
    assert ConsentEvent.objects.filter(tenant=tenant_a).count() == 5
    # Another tenant's form is counted apart.
    other = SignupFormFactory(tenant=form.tenant.__class__.objects.get(slug="bobs"), slug="club")
    assert _submit(client, path=f"/f/bobs/{other.slug}/").status_code == 200


def test_one_number_signed_up_over_and_over_is_throttled(form, tenant_a, tenant_b, settings):
    settings.GROWTH_SIGNUP_PER_NUMBER = "2/h"
    codes = [_submit().status_code for _ in range(4)]
    assert codes == [200, 200, 429, 429]
    assert ConsentEvent.objects.filter(tenant=tenant_a).count() == 2
    assert Message.objects.filter(tenant=tenant_a).count() == 2


@pytest.mark.parametrize("path", ["/f/bobs/vip/", "/f/acme/nope/", "/f/nobody/vip/"])
def test_another_tenants_or_an_unknown_address_is_a_404(form, tenant_b, path):
    assert Client().get(path).status_code == 404
    assert _submit(path=path).status_code == 404
    assert not ConsentEvent.objects.exists()


def test_an_inactive_form_is_a_404(form):
    form.active = False
    form.save()
    assert Client().get("/f/acme/vip/").status_code == 404
    assert _submit().status_code == 404


def test_the_ledger_and_the_audience_show_the_sign_up_to_its_tenant_only(form, tenant_a, api_alice, api_bob):
    assert _submit().status_code == 200
    reply_text(post(tenant_a, "YES"))

    events = api_alice.get("/api/v1/consent-events/").json()["results"]
    assert sorted((e["kind"], e["source"]) for e in events) == [("granted", "web_form"), ("requested", "web_form")]
    assert {e["disclosure_text"] for e in events} == {_disclosure(tenant_a)}
    assert {e["source_url"] for e in events} == {f"{settings.PUBLIC_BASE_URL}/f/acme/vip/"}
    contacts = api_alice.get("/api/v1/contacts/").json()["results"]
    assert [(c["phone_number"], c["consent_status"]) for c in contacts] == [(NUMBER, "granted")]
    assert api_bob.get("/api/v1/consent-events/").json()["count"] == 0
    assert api_bob.get("/api/v1/contacts/").json()["count"] == 0
