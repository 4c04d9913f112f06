from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

from gateways.signatures import twilio_request_tenant

URL = "http://127.0.0.1:8000/webhooks/twilio/status/"


def _request(params, token):
    sig = RequestValidator(token).compute_signature(URL, params) if token else ""
    return RequestFactory().post("/webhooks/twilio/status/", params, HTTP_X_TWILIO_SIGNATURE=sig)


def test_valid_signature_finds_tenant(tenant_a, tenant_b):
    params = {"AccountSid": tenant_a.twilio_account_sid, "MessageSid": "SM1", "MessageStatus": "sent"}
    assert twilio_request_tenant(_request(params, tenant_a.twilio_auth_token)) == tenant_a


@pytest.mark.parametrize("token", ["", "forged", "other-tenant"])
def test_bad_signatures_are_refused(tenant_a, tenant_b, token):
    params = {"AccountSid": tenant_a.twilio_account_sid, "MessageSid": "SM1", "MessageStatus": "sent"}
    if token == "other-tenant":
        token = tenant_b.twilio_auth_token
    with pytest.raises(PermissionDenied):
        twilio_request_tenant(_request(params, token))


def test_signature_over_another_url_is_refused(tenant_a):
    params = {"AccountSid": tenant_a.twilio_account_sid, "MessageSid": "SM1"}
    sig = RequestValidator(tenant_a.twilio_auth_token).compute_signature("http://evil.example/x", params)
    req = RequestFactory().post("/webhooks/twilio/status/", params, HTTP_X_TWILIO_SIGNATURE=sig)
    with pytest.raises(PermissionDenied):
        twilio_request_tenant(req)
