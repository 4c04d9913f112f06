from __future__ import annotations

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from campaigns.counters import counts_add
from campaigns.models import MessageStatus
from campaigns.tests.factories import CampaignFactory, MessageFactory
from tracking.services import status_callback_params
from tracking.tests.factories import new_sid

PATH = "/webhooks/twilio/status/"


def signed_post(client: Client, params: dict, token: str | None, *, base_url: str = "http://127.0.0.1:8000"):
    """POST ``params`` to the status webhook, signed with ``token`` as Twilio does (None: unsigned)."""
    headers = {}
    if token is not None:
        headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator(token).compute_signature(base_url + PATH, params)
    return client.post(PATH, params, **headers)


def callback(message_or_sid, status: str, tenant, **extra) -> dict:
    sid = message_or_sid if isinstance(message_or_sid, str) else message_or_sid.sid
    extra.setdefault("From", "+14155550000")
    return status_callback_params(
        sid=sid, status=status, account_sid=tenant.twilio_account_sid, to="+14155550123", **extra
    )


def sent_message(tenant, *, status: str = MessageStatus.QUEUED, campaign=None, **kwargs):
    """A message the sender handed to Twilio (it has a SID), counted in its campaign's counters."""
    campaign = campaign or CampaignFactory(tenant=tenant)
    kwargs.setdefault("sid", new_sid())
    message = MessageFactory(tenant=tenant, campaign=campaign, status=status, **kwargs)
    counts_add(campaign_id=campaign.pk, deltas={status: 1})
    return message


@pytest.fixture
def post(settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    client = Client()

    def _post(params: dict, token: str | None):
        return signed_post(client, params, token)

    return _post
