"""Fixtures: a Shopify and a HubSpot connection per tenant, and requests signed the platforms' documented ways
(computed here from the raw body, not with the code under test)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest

from crm.models import CrmConnection
from integrations.tests.receiver import Receiver

SHOPIFY_SECRET_A = "shpss_alice_0123456789abcdef"
SHOPIFY_SECRET_B = "shpss_bob_fedcba9876543210"
HUBSPOT_SECRET_A = "hubspot-client-secret-alice"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def shopify_a(tenant_a):
    return CrmConnection.objects.create(
        tenant=tenant_a, kind="shopify", name="acme.myshopify.com", secret=SHOPIFY_SECRET_A
    )


@pytest.fixture
def shopify_b(tenant_b):
    return CrmConnection.objects.create(
        tenant=tenant_b, kind="shopify", name="bobs.myshopify.com", secret=SHOPIFY_SECRET_B
    )


@pytest.fixture
def hubspot_a(tenant_a):
    return CrmConnection.objects.create(tenant=tenant_a, kind="hubspot", name="Acme HubSpot", secret=HUBSPOT_SECRET_A)


def shopify_post(
    client,
    connection,
    topic: str,
    payload,
    *,
    secret: str | None = None,
    webhook_id: str | None = None,
    raw: bytes | None = None,
    signature: str | None = None,
):
    body = raw if raw is not None else json.dumps(payload).encode()
    digest = hmac.new((secret or connection.secret).encode(), body, hashlib.sha256).digest()
    headers = {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_HMAC_SHA256": signature if signature is not None else base64.b64encode(digest).decode(),
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or str(uuid.uuid4()),
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": connection.name,
    }
    return client.post(f"/webhooks/shopify/{connection.token}/", data=body, content_type="application/json", **headers)


def hubspot_post(
    client,
    connection,
    events,
    *,
    secret: str | None = None,
    timestamp_ms: int | None = None,
    base_url: str | None = None,
):
    from django.conf import settings

    base_url = base_url or settings.PUBLIC_BASE_URL
    body = json.dumps(events).encode()
    path = f"/webhooks/hubspot/{connection.token}/"
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    source = b"POST" + (base_url + path).encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new((secret or connection.secret).encode(), source, hashlib.sha256).digest())
    return client.post(
        path,
        data=body,
        content_type="application/json",
        HTTP_X_HUBSPOT_SIGNATURE_V3=signature.decode(),
        HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=timestamp,
    )
