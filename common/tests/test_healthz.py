from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_healthz_ok(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker"}


@pytest.mark.django_db
def test_healthz_reports_a_dead_broker(client, settings):
    from smscampaigns.celery import app

    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        resp = client.get("/healthz")
    finally:
        app.conf.broker_url = old
    assert resp.status_code == 503
    assert resp.json()["checks"]["broker"].startswith("error")


@pytest.mark.django_db
def test_schema_is_served(client):
    resp = client.get("/api/schema/?format=json")
    assert resp.status_code == 200
    assert "/api/v1/contacts/" in resp.json()["paths"]
