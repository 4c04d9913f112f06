"""Inbound texts for tenants sharing one Twilio account: routed by ``To`` / ``MessagingServiceSid``.

Twilio signs all of an account's webhooks with the account's auth token, so the
tenants on it normally hold the same token. A configuration that would leave a
text's tenant in doubt (two tenants, one sender; a tenant with no sender) is
refused when it is saved, from every door.
"""

from __future__ import annotations

import itertools
from io import StringIO

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from twilio.request_validator import RequestValidator

from compliance.models import InboundMessage, Suppression
from compliance.selectors import is_suppressed
from compliance.tests.test_inbound_webhook import reply_text
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

PATH = "/webhooks/twilio/inbound/"
ACCOUNT = "AC" + "6" * 32
TOKEN = "shared-account-token-0001"
NUMBER_A = "+14155550001"
MG_B = "MG" + "b" * 32
POOL_NUMBER_B = "+14155557777"  # one of the numbers in B's Messaging Service
PERSON = "+14155550123"
_sids = itertools.count(1)


@pytest.fixture
def shop_a(db):
    return TenantFactory(
        slug="shared-a", name="Shop A", twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, sender=NUMBER_A
    )


@pytest.fixture
def shop_b(shop_a):
    return TenantFactory(
        slug="shared-b", name="Shop B", twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, sender=MG_B
    )


def inbound(body: str, *, to: str, service: str | None = None, token: str = TOKEN):
    """What Twilio posts for a text to ``to`` (through Messaging Service ``service``), signed with ``token``."""
    params = {
        "MessageSid": f"SM{next(_sids):032x}",
        "AccountSid": ACCOUNT,
        "From": PERSON,
        "To": to,
        "Body": body,
        "NumMedia": "0",
    }
    if service:
        params["MessagingServiceSid"] = service
    signature = RequestValidator(token).compute_signature(settings.PUBLIC_BASE_URL + PATH, params)
    return Client().post(PATH, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_stop_to_bs_service_suppresses_at_b_in_bs_name(shop_a, shop_b):
    """The bug: A suppressed the number and answered in A's name; B kept texting it."""
    answer = reply_text(inbound("STOP", to=POOL_NUMBER_B, service=MG_B))
    assert "Shop B" in answer and "Shop A" not in answer
    assert is_suppressed(tenant_id=shop_b.pk, phone_number=PERSON)
    assert not is_suppressed(tenant_id=shop_a.pk, phone_number=PERSON)
    assert InboundMessage.objects.get().tenant_id == shop_b.pk


def test_stop_to_as_number_suppresses_at_a_only(shop_a, shop_b):
    answer = reply_text(inbound("STOP", to=NUMBER_A))
    assert "Shop A" in answer and "Shop B" not in answer
    assert is_suppressed(tenant_id=shop_a.pk, phone_number=PERSON)
    assert not is_suppressed(tenant_id=shop_b.pk, phone_number=PERSON)


def test_a_text_to_a_number_no_tenant_sends_from_is_refused_and_kept_nowhere(shop_a, shop_b):
    resp = inbound("STOP", to="+14155559999")
    assert resp.status_code == 422
    assert not InboundMessage.objects.exists() and not Suppression.objects.exists()


def test_the_signature_must_be_the_routed_tenants(shop_a, shop_b):
    """A tenant that typed this account SID with a token of its own cannot send B a STOP."""
    TenantFactory(slug="claims", twilio_account_sid=ACCOUNT, twilio_auth_token="own-token", sender="+14155550003")
    assert inbound("STOP", to=POOL_NUMBER_B, service=MG_B, token="own-token").status_code == 403
    assert not InboundMessage.objects.exists() and not Suppression.objects.exists()


def test_a_tenant_left_with_the_old_token_is_refused_until_updated(shop_a, shop_b):
    shop_a.twilio_auth_token = "rotated-token-0002"
    shop_a.save()
    assert inbound("STOP", to=POOL_NUMBER_B, service=MG_B, token="rotated-token-0002").status_code == 403
    assert not Suppression.objects.exists()
    shop_b.twilio_auth_token = "rotated-token-0002"
    shop_b.save()
    assert reply_text(inbound("STOP", to=POOL_NUMBER_B, service=MG_B, token="rotated-token-0002"))
    assert is_suppressed(tenant_id=shop_b.pk, phone_number=PERSON)


def test_a_lone_tenant_on_its_account_takes_texts_to_any_of_its_numbers(shop_a):
    reply_text(inbound("STOP", to="+14155558888"))
    assert is_suppressed(tenant_id=shop_a.pk, phone_number=PERSON)


# Refused at save time: model validation, the create_tenant command, the admin form.


def _twin(**fields) -> Tenant:
    values = {"slug": "twin", "name": "Twin", "twilio_account_sid": ACCOUNT, "twilio_auth_token": TOKEN, **fields}
    return Tenant(**values)


def test_the_same_sender_on_the_same_account_is_refused(shop_a):
    with pytest.raises(ValidationError) as info:
        _twin(sender=NUMBER_A).full_clean()
    assert "sender" in info.value.message_dict
    assert "Twilio account" in " ".join(info.value.message_dict["sender"])


def test_no_sender_on_a_shared_account_is_refused_both_ways(shop_a):
    with pytest.raises(ValidationError) as info:
        _twin(sender="").full_clean()
    assert "sender" in info.value.message_dict
    lone = TenantFactory(slug="lone", twilio_account_sid="AC" + "7" * 32, sender="")
    lone.full_clean()  # alone on its account: no sender needed
    with pytest.raises(ValidationError) as info:
        _twin(twilio_account_sid=lone.twilio_account_sid, sender="+14155550005").full_clean()
    assert "twilio_account_sid" in info.value.message_dict


def test_another_sender_on_the_same_account_is_accepted_and_editing_oneself_is_fine(shop_a, shop_b):
    _twin(sender="+14155550005").full_clean()
    shop_b.full_clean()  # its own row is not "another tenant"


def test_create_tenant_refuses_a_shared_sender_naming_the_field(shop_a):
    with pytest.raises(CommandError) as info:
        call_command(
            "create_tenant",
            "--slug",
            "twin",
            "--name",
            "Twin",
            "--admin-email",
            "boss@twin.example",
            "--admin-password",
            "plum-orchard-4817",
            "--twilio-account-sid",
            ACCOUNT,
            "--twilio-auth-token",
            TOKEN,
            "--twilio-from",
            NUMBER_A,
            stdout=StringIO(),
        )
    assert "sender" in str(info.value) and "Twilio account" in str(info.value)
    assert not Tenant.objects.filter(slug="twin").exists()


def test_the_admin_form_refuses_a_shared_sender_on_the_field(shop_a, django_user_model):
    root = django_user_model.objects.create_superuser("root@example.com", "pw-123456")
    client = Client()
    client.force_login(root)
    form = {
        "name": "Twin",
        "slug": "twin",
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "sender": NUMBER_A,
        "sender_type": "long_code",
        "sending_rate": "",
        "default_country": "US",
        "help_text": "help",
        "quiet_hours_start": "08:00",
        "quiet_hours_end": "21:00",
        "legal_quiet_hours": "on",
        "sending_paused_reason": "",
    }
    resp = client.post("/admin/tenants/tenant/add/", form)
    assert resp.status_code == 200  # the form again, not a redirect
    assert "Twilio account" in str(resp.context["adminform"].form.errors.get("sender"))
    assert not Tenant.objects.filter(slug="twin").exists()
    form["sender"] = "+14155550005"
    assert client.post("/admin/tenants/tenant/add/", form).status_code == 302
    assert Tenant.objects.filter(slug="twin", sender="+14155550005").exists()
