"""A receiver written from docs/integrations.md alone verifies what we send.

``verify_from_steps`` follows the numbered steps of the documentation without
using anything from ``integrations``; the documentation's own Python snippet is
also executed as printed. Both run against a real delivery to a loopback server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from pathlib import Path

from integrations import services
from integrations.tests.factories import EventSubscriptionFactory

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


def verify_from_steps(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    key = base64.b64decode(secret[len("whsec_") :])  # 1.
    signed = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body  # 2.
    mine = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()  # 3.
    ok = False
    for pair in headers["webhook-signature"].split(" "):  # 4.
        version, _, sig = pair.partition(",")
        ok = ok or (version == "v1" and hmac.compare_digest(sig, mine))
    fresh = abs((now or time.time()) - int(headers["webhook-timestamp"])) <= 300  # 5.
    return ok and fresh


def doc_snippet_verify():
    source = DOC.read_text()
    block = re.search(r"```python\n(import base64.*?)```", source, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the documentation's own example
    return namespace["verify"]


def test_a_receiver_written_from_the_docs_accepts_our_deliveries(tenant_a, receiver):
    sub = EventSubscriptionFactory(tenant=tenant_a, url=receiver.url, event_types=["link.clicked"])
    event = services.event_emit(
        tenant_id=tenant_a.pk, type="link.clicked", payload={"code": "aZ3kP9qL", "country": "US"}, contact_id=12
    )
    [delivery] = event.deliveries.all()
    assert services.delivery_attempt(delivery_id=delivery.pk) == "succeeded"

    [got] = receiver.received
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == str(event.id)
    assert verify_from_steps(sub.secret, got.headers, got.body)
    assert doc_snippet_verify()(sub.secret, got.headers, got.body)
    envelope = json.loads(got.body)
    assert envelope["id"] == str(event.id) and envelope["type"] == "link.clicked"
    assert envelope["data"] == {"code": "aZ3kP9qL", "country": "US"}

    # Tampering with anything signed is caught, by both receivers.
    verify_doc = doc_snippet_verify()
    for name, headers, body in [
        ("body", got.headers, got.body.replace(b"US", b"FR")),
        ("id", {**got.headers, "webhook-id": "other"}, got.body),
        ("timestamp", {**got.headers, "webhook-timestamp": str(int(got.headers["webhook-timestamp"]) + 1)}, got.body),
    ]:
        assert not verify_from_steps(sub.secret, headers, body), name
        assert not verify_doc(sub.secret, headers, body), name
    assert not verify_from_steps(EventSubscriptionFactory.build().secret, got.headers, got.body)
    # A captured request replayed later is stale.
    assert not verify_from_steps(sub.secret, got.headers, got.body, now=time.time() + 301)


def test_the_doc_describes_every_header_and_event_type():
    from integrations.models import EventType

    text = DOC.read_text()
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert f"`{header}`" in text
    for value in EventType.values:
        assert f"`{value}`" in text
