"""The read replica (common/replica.py): the dashboard's, exports' and analytics' reads go to ``replica`` when it is
configured, every write and every other read to ``default``; without it everything is ``default``.

The ``replica`` fixture adds the alias at run time pointing at the test database (what the ``TEST: MIRROR``
setting does when ``DATABASE_REPLICA_URL`` is set: ``test_settings_*`` below check that path). It is a second
connection, so the tests that read through it commit their data (``transaction=True``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test.utils import CaptureQueriesContext

from analytics.tests.conftest import seed_ab_campaign
from campaigns.models import Campaign, MessageStatusCount
from common.replica import REPLICA, ReplicaRouter, replica, replica_lag_seconds, replica_reads
from tenants.models import Tenant

ROOT = Path(__file__).resolve().parents[2]
WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def replica_alias(transactional_db):
    """``replica`` → the test database, through its own connection (added once the test's databases are set up,
    which would otherwise refuse a connection they were not told about)."""
    connections.settings[REPLICA] = {**connections[DEFAULT_DB_ALIAS].settings_dict}
    try:
        connections[REPLICA].connect()  # connected here: the test case refuses to open a connection it was not told of
        yield connections[REPLICA]
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


def _sql(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries]


def _reads_counters(sqls: list[str]) -> bool:
    return any('"campaigns_messagestatuscount"' in s for s in sqls)


# --- without a replica -------------------------------------------------------------------------------------------


def test_without_a_replica_everything_reads_the_primary(db):
    assert REPLICA not in connections.settings
    assert replica() == DEFAULT_DB_ALIAS
    router = ReplicaRouter()
    with replica_reads() as alias:
        assert alias == DEFAULT_DB_ALIAS
        with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as ctx:
            list(MessageStatusCount.objects.all())
        assert _reads_counters(_sql(ctx))
    assert router.db_for_read(Campaign) is None  # outside the block: Django's default
    assert replica_lag_seconds() == 0.0


def test_the_dashboard_api_reads_the_primary_without_a_replica(ab_campaign, api_alice):
    campaign, _m, _c = ab_campaign
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as ctx:
        body = api_alice.get("/api/v1/stats/overview/").json()
        assert api_alice.get(f"/api/v1/campaigns/{campaign.pk}/stats/timeseries/").status_code == 200
    assert _reads_counters(_sql(ctx))
    assert body["replica_lag_seconds"] == 0.0


# --- the router --------------------------------------------------------------------------------------------------


def test_router_sends_only_marked_reads_to_the_replica(replica_alias, transactional_db):
    router = ReplicaRouter()
    assert router.db_for_read(Campaign) is None
    with replica_reads() as alias:
        assert alias == REPLICA
        assert router.db_for_read(Campaign) == REPLICA
        assert router.db_for_write(Campaign) == DEFAULT_DB_ALIAS
        with transaction.atomic():  # a transaction on the primary reads its own writes there
            assert router.db_for_read(Campaign) is None
    assert router.db_for_read(Campaign) is None
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "campaigns") and not router.allow_migrate(REPLICA, "campaigns")


@pytest.mark.django_db(transaction=True)
def test_writes_inside_replica_reads_go_to_the_primary(replica_alias, tenant_a):
    on_primary = CaptureQueriesContext(connections[DEFAULT_DB_ALIAS])
    with CaptureQueriesContext(replica_alias) as on_replica, on_primary, replica_reads():
        Tenant.objects.filter(pk=tenant_a.pk).update(name="Renamed")
        assert Tenant.objects.get(pk=tenant_a.pk).name == "Renamed"  # read back on the replica
    assert not any(s.lstrip().upper().startswith(WRITES) for s in _sql(on_replica))
    assert any(s.startswith("UPDATE") for s in _sql(on_primary))
    assert any('"tenants_tenant"' in s and s.startswith("SELECT") for s in _sql(on_replica))


# --- the dashboard, exports and analytics with a replica ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_analytics_reads_go_to_the_replica(replica_alias, tenant_a, api_alice, api_bob):
    campaign, messages, _codes = seed_ab_campaign(tenant_a)
    base = f"/api/v1/campaigns/{campaign.pk}"
    for path in ("stats/timeseries/", "stats/breakdown/", "stats/variants/"):
        on_primary = CaptureQueriesContext(connections[DEFAULT_DB_ALIAS])
        with CaptureQueriesContext(replica_alias) as on_replica, on_primary:
            response = api_alice.get(f"{base}/{path}")
        assert response.status_code == 200, path
        assert _reads_counters(_sql(on_replica)), path
        assert not _reads_counters(_sql(on_primary)), path  # the figures are not read twice
        assert any('"campaigns_campaign"' in s for s in _sql(on_primary)), path  # scoping: on the primary
        assert not any(s.lstrip().upper().startswith(WRITES) for s in _sql(on_replica)), path
    # The figures read on the replica are the same as the primary's (same data here).
    assert api_alice.get(f"{base}/stats/variants/").json()["variants"][0]["recipients"] == 5

    with CaptureQueriesContext(replica_alias) as on_replica:
        response = api_alice.get(f"{base}/export/messages.csv", HTTP_ACCEPT="text/csv")
        text = b"".join(response.streaming_content).decode()
    assert all(m.to in text for m in messages.values())
    assert any('"campaigns_message"' in s for s in _sql(on_replica))

    with CaptureQueriesContext(replica_alias) as on_replica:
        body = api_alice.get("/api/v1/stats/overview/").json()
    assert body["totals"]["campaigns"] == 1 and body["replica_lag_seconds"] == 0.0  # not in recovery: no lag
    assert _reads_counters(_sql(on_replica))
    assert any("pg_last_xact_replay_timestamp" in s for s in _sql(on_replica))

    # Another tenant: a 404 before anything is read on the replica.
    with CaptureQueriesContext(replica_alias) as on_replica:
        assert api_bob.get(f"{base}/stats/timeseries/").status_code == 404
        assert api_bob.get(f"{base}/export/clicks.csv", HTTP_ACCEPT="text/csv").status_code == 404
    assert _sql(on_replica) == []


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_page_reads_the_replica_and_shows_its_lag(replica_alias, tenant_a, alice, bob, client):
    campaign, _m, _c = seed_ab_campaign(tenant_a)
    client.force_login(alice)
    page = f"/admin/campaigns/campaign/{campaign.pk}/dashboard/"
    with CaptureQueriesContext(replica_alias) as on_replica:
        response = client.get(page)
        unknowns = client.get(f"{page}unknowns/").json()
    assert response.status_code == 200
    assert 'data-field="replica-lag-seconds">0.0<' in response.content.decode()
    assert response.context["config"]["replica_lag_seconds"] == 0.0
    assert unknowns == {"unknown": 0, "checking": 0, "needs_person": 0, "replica_lag_seconds": 0.0}
    assert _reads_counters(_sql(on_replica)) and any('"campaigns_message"' in s for s in _sql(on_replica))
    client.force_login(bob)
    assert client.get(f"{page}unknowns/").status_code == 404


def test_replica_lag_is_read_on_the_replica(replica_alias, transactional_db):
    with CaptureQueriesContext(replica_alias) as on_replica:
        assert replica_lag_seconds() == 0.0
    assert len(on_replica.captured_queries) == 1


# --- the settings ------------------------------------------------------------------------------------------------


def _settings_of(**env) -> dict:
    """Some settings as a fresh process builds them from the environment."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'databases': settings.DATABASES, 'routers': settings.DATABASE_ROUTERS, "
        "'prepared': settings.TRACKING_PREPARED_STATEMENTS}, default=str))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "smscampaigns.settings", **env}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_settings_add_the_replica_alias_only_when_set():
    without = _settings_of(DATABASE_REPLICA_URL="")
    assert set(without["databases"]) == {"default"}
    assert without["routers"] == ["common.replica.ReplicaRouter"]
    with_replica = _settings_of(DATABASE_REPLICA_URL="postgres://reader@replica.internal:5432/smsc")
    alias = with_replica["databases"]["replica"]
    assert (alias["HOST"], alias["USER"], alias["NAME"]) == ("replica.internal", "reader", "smsc")
    assert alias["TEST"]["MIRROR"] == "default"


def test_settings_under_pgbouncer_keep_no_session_state():
    plain = _settings_of(DATABASE_POOLER="")
    assert not plain["databases"]["default"].get("DISABLE_SERVER_SIDE_CURSORS") and plain["prepared"] is True
    pooled = _settings_of(DATABASE_POOLER="pgbouncer", DATABASE_REPLICA_URL="postgres://r@replica:5432/smsc")
    assert pooled["databases"]["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert pooled["databases"]["replica"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert pooled["prepared"] is False  # the status webhook's PREPARE is session state
