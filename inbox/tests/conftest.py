from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.test import Client
from twilio.request_validator import RequestValidator

INBOUND = "/webhooks/twilio/inbound/"
STATUS = "/webhooks/twilio/status/"


def inbound_post(tenant, body: str, *, from_number: str, client: Client | None = None):
    """A text from ``from_number`` to the tenant, as Twilio posts it: signed with the tenant's token."""
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": tenant.twilio_account_sid,
        "From": from_number,
        "To": tenant.sender,
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(tenant.twilio_auth_token).compute_signature(settings.PUBLIC_BASE_URL + INBOUND, params)
    response = (client or Client()).post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200, response.content
    return response


def status_post(params: dict, token: str):
    """A status callback, signed as Twilio signs it."""
    signature = RequestValidator(token).compute_signature(settings.PUBLIC_BASE_URL + STATUS, params)
    return Client().post(STATUS, params, HTTP_X_TWILIO_SIGNATURE=signature)


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def client_alice(alice):
    return admin_client(alice)


@pytest.fixture
def client_charlie(charlie):
    return admin_client(charlie)
