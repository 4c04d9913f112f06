"""NUL characters, which PostgreSQL text and jsonb cannot hold: a 400 naming where at the API and admin doors,
and dropped from Twilio's webhooks after the signature check (a STOP must not be lost to a 500).

Found by the schema fuzzer (``FUZZ_SCALE=15 FUZZ_RANDOM=1``): ``GET /api/v1/contacts/?tag=…%00…`` was a 500.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.models import Message, MessageStatus
from common.parsers import nul_path
from compliance.models import InboundMessage
from compliance.selectors import is_suppressed
from compliance.tests.test_inbound_webhook import NUMBER, reply_text
from compliance.tests.test_inbound_webhook import post as inbound_post
from contacts.models import Contact
from tracking.tests.conftest import callback, sent_message, signed_post


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/contacts/", {"search": "ann\x00"}, "search"),
        ("/api/v1/contacts/", {"tag": ["vip", "a\x00b"]}, "tag"),
        ("/api/v1/consent-events/", {"phone_number": "+1415\x00"}, "phone_number"),
        ("/api/v1/webhook-deliveries/", {"status": "\x00"}, "status"),
    ],
)
def test_api_query_string(api_alice, path, params, field):
    resp = api_alice.get(path, params)
    assert resp.status_code == 400
    assert resp.json() == {field: ["Null characters are not allowed."]}


@pytest.mark.parametrize(
    "name",
    ["admin:campaigns_campaign_changelist", "admin:links_click_changelist", "admin:campaigns_message_changelist"],
)
def test_admin_list_filters(alice, name):
    client = Client()
    client.force_login(alice)
    resp = client.get(reverse(name), {"status": "sent\x00", "country": "F\x00R"})
    assert resp.status_code == 400
    assert resp["Content-Type"].startswith("text/plain") and b"Null characters" in resp.content


CONTACT = {"phone_number": "+14155550101"}
CAMPAIGN = {"name": "n", "body": "hi"}


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/api/v1/contacts/", {**CONTACT, "custom_fields": {"city": "Par\x00is"}}, "custom_fields.city"),
        ("/api/v1/contacts/", {**CONTACT, "custom_fields": {"ci\x00ty": "Paris"}}, "custom_fields.ci\\0ty"),
        ("/api/v1/campaigns/", {**CAMPAIGN, "audience": {"tags": ["vip", "a\x00"]}}, "audience.tags[1]"),
        ("/api/v1/campaigns/", {**CAMPAIGN, "variants": [{"body": "a"}, {"body": "b\x00"}]}, "variants[1].body"),
    ],
)
def test_api_json_body(api_alice, path, body, where):
    resp = api_alice.post(path, body, format="json")
    assert resp.status_code == 400
    assert resp.json() == {where: ["Null characters are not allowed."]}
    assert not Contact.objects.exists()


def test_a_clean_body_still_goes_in(api_alice):
    resp = api_alice.post("/api/v1/contacts/", {**CONTACT, "custom_fields": {"city": "Paris"}}, format="json")
    assert resp.status_code == 201, resp.content


def test_nul_path():
    assert nul_path({"a": [1, "x", {"b": None, "c": "y\x00"}]}) == "a[2].c"
    assert nul_path("\x00") == "(body)"
    assert nul_path({"a": ["x", 1.5, None, True], "b": {"c": "d"}}) is None


def test_inbound_stop_with_a_nul_is_recorded_not_lost(tenant_a):
    answer = reply_text(inbound_post(tenant_a, "STOP\x00"))
    assert "unsubscribed" in answer
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    assert InboundMessage.objects.get(tenant=tenant_a).body == "STOP"


def test_status_callback_with_a_nul_in_the_error_message_is_applied(tenant_a, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    message = sent_message(tenant_a)
    params = callback(message, "undelivered", tenant_a, ErrorCode="30003", ErrorMessage="Unreachable\x00handset")
    resp = signed_post(Client(), params, tenant_a.twilio_auth_token)
    assert resp.status_code == 204, resp.content
    message = Message.objects.get(pk=message.pk)
    assert (message.status, message.error_code) == (MessageStatus.UNDELIVERED, 30003)


def test_an_account_sid_with_a_nul_is_refused(tenant_a, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    message = sent_message(tenant_a)
    params = callback(message, "delivered", tenant_a)
    params["AccountSid"] += "\x00"
    resp = signed_post(Client(), params, tenant_a.twilio_auth_token)
    assert resp.status_code == 403
    assert Message.objects.get(pk=message.pk).status == MessageStatus.QUEUED
