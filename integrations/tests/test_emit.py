"""event_emit: cheap, transactional, never raises, no HTTP in the caller's thread."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations import services
from integrations.models import DeliveryStatus, Event, EventDelivery

from .factories import EventSubscriptionFactory


@pytest.fixture
def no_http(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("event_emit made an HTTP request")

    monkeypatch.setattr(services.outbound, "webhook_post", refuse)


def test_emit_writes_one_delivery_per_interested_active_endpoint(
    tenant_a, tenant_b, django_capture_on_commit_callbacks, monkeypatch, no_http
):
    wants = EventSubscriptionFactory(tenant=tenant_a, event_types=["message.sent", "link.clicked"])
    EventSubscriptionFactory(tenant=tenant_a, event_types=["contact.opted_out"])  # not this type
    EventSubscriptionFactory(tenant=tenant_a, event_types=["message.sent"], active=False)
    EventSubscriptionFactory(tenant=tenant_b, event_types=["message.sent"])  # another tenant
    enqueued = []
    monkeypatch.setattr(services, "deliveries_enqueue", lambda *, delivery_ids: enqueued.extend(delivery_ids))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with CaptureQueriesContext(connection) as queries:
            event = services.event_emit(
                tenant_id=tenant_a.pk, type="message.sent", payload={"message_id": 1}, contact_id=9
            )
    assert event is not None and event.type == "message.sent" and event.contact_id == 9
    [delivery] = EventDelivery.objects.all()
    assert delivery.subscription == wants and delivery.tenant == tenant_a
    assert delivery.status == DeliveryStatus.PENDING and delivery.contact_id == 9
    assert len(callbacks) == 1 and enqueued == [delivery.pk]
    assert len(queries) <= 6  # read endpoints, savepoint, two inserts, release


def test_emit_without_interested_endpoint_writes_nothing(tenant_a, no_http):
    EventSubscriptionFactory(tenant=tenant_a, event_types=["contact.opted_out"])
    assert services.event_emit(tenant_id=tenant_a.pk, type="message.sent", payload={}) is None
    assert not Event.objects.exists()


def test_unknown_type_is_logged_not_raised(tenant_a, caplog):
    EventSubscriptionFactory(tenant=tenant_a)
    assert services.event_emit(tenant_id=tenant_a.pk, type="message.exploded", payload={}) is None
    assert "unknown event type" in caplog.text


def test_emit_never_raises_and_leaves_the_callers_transaction_usable(tenant_a, monkeypatch, caplog):
    EventSubscriptionFactory(tenant=tenant_a)
    with transaction.atomic():
        # Not serialisable: the insert fails inside emit's savepoint.
        assert services.event_emit(tenant_id=tenant_a.pk, type="message.sent", payload={"x": object()}) is None
        # The caller's transaction goes on.
        tenant_a.name = "Still fine"
        tenant_a.save()
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Still fine"
    assert "could not record a message.sent event" in caplog.text
    assert not Event.objects.exists()


def test_emit_is_rolled_back_with_the_callers_change(tenant_a, django_capture_on_commit_callbacks):
    EventSubscriptionFactory(tenant=tenant_a)
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.event_emit(tenant_id=tenant_a.pk, type="message.sent", payload={})
            raise RuntimeError("the caller's change failed")
    assert not Event.objects.exists() and callbacks == []


def test_a_broken_broker_does_not_reach_the_caller(tenant_a, monkeypatch, django_capture_on_commit_callbacks):
    from common import enqueue

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(enqueue.current_app, "send_task", broker_down)
    EventSubscriptionFactory(tenant=tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        event = services.event_emit(tenant_id=tenant_a.pk, type="message.sent", payload={})
    # The row is there; the periodic dispatcher picks it up.
    assert event is not None and EventDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1
