"""Test sends to the person's own verified numbers (#21 part 3): a texted code first, the test through the
gateway marked "[Test]", never a Message nor counted; two tenants, an outsider, a viewer."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.counters import campaign_status_counts
from campaigns.models import Message, UserTestNumber
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from gateways import SendResult
from tenants.models import Role
from tenants.tests.factories import UserFactory


class Recorder:
    def __init__(self):
        self.sent = []

    def send(self, tenant, sms):
        self.sent.append((tenant.pk, sms.to, sms.body, sms.status_callback))
        return SendResult(sid=f"SM{len(self.sent):032d}", status="queued")


@pytest.fixture
def gateway(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr("campaigns.testsends.get_gateway", lambda: recorder)
    return recorder


@pytest.fixture
def draft(tenant_a):
    ContactFactory(tenant=tenant_a, first_name="Ann")
    return CampaignFactory(tenant=tenant_a, name="Spring", body="Hi {{first_name}}: {{link}}")


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(campaign) -> str:
    return reverse("admin:campaigns_campaign_test", args=[campaign.pk])


def _verified(client, campaign, gateway, number="+14155550199"):
    assert client.post(_url(campaign), {"op": "add", "phone_number": number}).status_code == 302
    code = re.search(r"(\d{6})$", gateway.sent[-1][2]).group(1)
    row = UserTestNumber.objects.get(phone_number=number)
    assert client.post(_url(campaign), {"op": "verify", "number": row.pk, "code": code}).status_code == 302
    return row


def test_change_page_has_the_button(alice, draft):
    html = _login(alice).get(reverse("admin:campaigns_campaign_change", args=[draft.pk])).content.decode()
    assert _url(draft) in html


def test_verify_then_send_a_test(alice, draft, gateway, settings):
    client = _login(alice)
    row = _verified(client, draft, gateway)
    assert row.user == alice and row.tenant_id == draft.tenant_id
    row.refresh_from_db()
    assert row.verified_at is not None and row.code_hash == ""
    assert client.post(_url(draft), {"op": "send", "number": row.pk}).status_code == 302
    tenant, to, body, callback = gateway.sent[-1]
    assert (tenant, to, callback) == (draft.tenant_id, "+14155550199", "")
    assert body.startswith("[Test] Hi Ann: https://shop.example.com/sale") and "STOP" in body
    # Never a message, never counted.
    assert not Message.objects.filter(campaign=draft).exists()
    assert sum(campaign_status_counts(draft.pk).values()) == 0


def test_an_unverified_number_gets_no_test(alice, draft, gateway):
    client = _login(alice)
    assert client.post(_url(draft), {"op": "add", "phone_number": "(415) 555-0198"}).status_code == 302
    row = UserTestNumber.objects.get()
    assert row.phone_number == "+14155550198"
    resp = client.post(_url(draft), {"op": "send", "number": row.pk})
    assert resp.status_code == 400 and "Verify the number first" in resp.content.decode()
    assert len(gateway.sent) == 1  # the code only


def test_wrong_codes_and_attempts(alice, draft, gateway):
    client = _login(alice)
    client.post(_url(draft), {"op": "add", "phone_number": "+14155550197"})
    row = UserTestNumber.objects.get()
    for _ in range(5):
        resp = client.post(_url(draft), {"op": "verify", "number": row.pk, "code": "000000x"})
        assert resp.status_code == 400
    code = re.search(r"(\d{6})$", gateway.sent[-1][2]).group(1)
    resp = client.post(_url(draft), {"op": "verify", "number": row.pk, "code": code})
    assert resp.status_code == 400 and "Too many wrong codes" in resp.content.decode()
    # Another code so soon is refused too.
    resp = client.post(_url(draft), {"op": "add", "phone_number": "+14155550197"})
    assert resp.status_code == 400 and "wait a minute" in resp.content.decode()


def test_bad_number_is_a_form_error(alice, draft, gateway):
    resp = _login(alice).post(_url(draft), {"op": "add", "phone_number": "not a number"})
    assert resp.status_code == 400 and not gateway.sent


def test_numbers_are_the_persons_own(alice, bob, charlie, tenant_a, tenant_b, draft, gateway):
    row = _verified(_login(alice), draft, gateway)
    marketer = UserFactory(email="m@acme.example", tenant=tenant_a, role=Role.MARKETER)
    # A colleague cannot text Alice's number, nor see it.
    client = _login(marketer)
    assert "+14155550199" not in client.get(_url(draft)).content.decode()
    assert client.post(_url(draft), {"op": "send", "number": row.pk}).status_code == 404
    # Another tenant's users and an outsider: the campaign is a 404.
    for user in (bob, charlie):
        assert _login(user).get(_url(draft)).status_code == 404
        assert _login(user).post(_url(draft), {"op": "send", "number": row.pk}).status_code == 404
    # Bob's own verified number cannot take Alice's campaign either.
    theirs = CampaignFactory(tenant=tenant_b)
    bobs = _verified(_login(bob), theirs, gateway, number="+14155550150")
    assert _login(alice).post(_url(draft), {"op": "send", "number": bobs.pk}).status_code == 404
    sent = len(gateway.sent)
    viewer = UserFactory(email="v@acme.example", tenant=tenant_a, role=Role.VIEWER)
    assert _login(viewer).post(_url(draft), {"op": "add", "phone_number": "+14155550140"}).status_code == 403
    assert len(gateway.sent) == sent
