"""Benchmark: what event_emit costs the caller, and delivery throughput to a loopback receiver.

    python bench/events/run.py            # uses DATABASE_URL (a throwaway test database is created)

Figures, each with a ceiling measured in the same run:
- event_emit per call vs one bare INSERT of an Event row (the least any recording could cost);
- sequential deliveries per second (claim, sign, POST, record) vs bare HTTP POSTs of
  the same body to the same receiver.
"""

from __future__ import annotations

import http.client
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")
os.environ.setdefault("DEBUG", "1")
os.environ["WEBHOOKS_ALLOW_PRIVATE_TARGETS"] = "true"

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

EMITS = int(os.environ.get("BENCH_EMITS", "2000"))
DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "300"))


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run() -> None:
    from unittest import mock

    from integrations import services
    from integrations.models import Event, EventDelivery, EventSubscription
    from integrations.signing import secret_generate
    from integrations.tests.receiver import Receiver
    from tenants.models import Tenant

    tenant = Tenant.objects.create(name="Bench", slug="bench")
    receiver = Receiver().start()
    EventSubscription.objects.create(
        tenant=tenant, url=receiver.url, secret=secret_generate(), event_types=["message.delivered"]
    )
    payload = {"message_id": 1, "campaign_id": 1, "to": "+14155550100", "status": "delivered", "sid": "SM" + "0" * 32}

    # 1. The caller's cost: event_emit inside the caller's transaction (enqueue not counted: on_commit
    #    callbacks are replaced by a no-op so that the broker is not part of the figure).
    with mock.patch.object(services, "deliveries_enqueue", lambda **kw: None):
        started = time.perf_counter()
        for i in range(EMITS):
            with transaction.atomic():
                services.event_emit(tenant_id=tenant.pk, type="message.delivered", payload=payload, contact_id=i)
        emit_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(EMITS):
        with transaction.atomic():
            Event.objects.create(tenant=tenant, type="message.delivered", payload=payload, contact_id=i)
    bare_s = time.perf_counter() - started
    print(f"event_emit: {emit_s / EMITS * 1e6:.0f} µs per call ({EMITS} calls)")
    print(f"  ceiling, one bare INSERT of an Event: {bare_s / EMITS * 1e6:.0f} µs; ratio {emit_s / bare_s:.2f}x")

    # 2. Deliveries, one worker thread, sequential.
    ids = list(EventDelivery.objects.order_by("pk").values_list("pk", flat=True)[:DELIVERIES])
    started = time.perf_counter()
    outcomes = [services.delivery_attempt(delivery_id=pk) for pk in ids]
    deliver_s = time.perf_counter() - started
    assert outcomes.count("succeeded") == len(ids), set(outcomes)
    body = services.event_body(Event.objects.first())
    started = time.perf_counter()
    for _ in ids:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
        conn.request("POST", "/hooks", body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
    raw_s = time.perf_counter() - started
    receiver.stop()
    print(f"deliveries: {len(ids) / deliver_s:.0f}/s on one thread ({len(ids)} deliveries)")
    print(f"  ceiling, bare HTTP POSTs to the same receiver: {len(ids) / raw_s:.0f}/s; ratio {raw_s / deliver_s:.2f}")
    print(f"database: PostgreSQL {connection.pg_version // 10000}; taken on a 2-core machine shared with other work")


if __name__ == "__main__":
    main()
