"""Delivering: retries with backoff, endpoint back-off, give-up, auto-disable, replay, order per contact."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations import services
from integrations.models import DeliveryAttempt, DeliveryStatus, EventDelivery, EventSubscription
from integrations.outbound import OutboundResult

from .factories import EventSubscriptionFactory
from .receiver import free_port


def emit(tenant, contact_id=None, type="message.sent", **payload):
    return services.event_emit(tenant_id=tenant.pk, type=type, payload=payload, contact_id=contact_id)


def delivery_of(event) -> EventDelivery:
    return EventDelivery.objects.get(event=event)


@pytest.fixture
def endpoint(monkeypatch):
    """A scripted endpoint (for clock-driven tests): answers from ``script``, records calls."""

    class Scripted:
        def __init__(self):
            self.script: list[OutboundResult] = []
            self.calls: list[tuple[str, dict]] = []

        def __call__(self, url, *, body, headers):
            import json

            self.calls.append((url, json.loads(body)))
            if self.script:
                return self.script.pop(0)
            return OutboundResult(ok=True, status_code=200, latency_ms=3, excerpt="ok")

    scripted = Scripted()
    monkeypatch.setattr(services.outbound, "webhook_post", scripted)
    return scripted


FAIL = OutboundResult(ok=False, status_code=503, latency_ms=12, excerpt="down", error="HTTP 503.")


def test_success_is_logged_with_status_latency_and_excerpt(tenant_a, receiver):
    receiver.body = b'{"received": true}'
    EventSubscriptionFactory(tenant=tenant_a, url=receiver.url)
    delivery = delivery_of(emit(tenant_a))
    assert services.delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1 and delivery.delivered_at
    [attempt] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.succeeded and attempt.status_code == 200 and attempt.response_excerpt == '{"received": true}'
    assert attempt.tenant_id == tenant_a.pk and attempt.latency_ms >= 0
    # A second run of the same task (redelivery) sends nothing.
    assert services.delivery_attempt(delivery_id=delivery.pk) == "not-pending"
    assert len(receiver.received) == 1


def test_failures_back_off_exponentially_then_give_up(tenant_a, settings, endpoint):
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 30
    settings.WEBHOOKS_RETRY_MAX_DELAY_SECONDS = 3600
    settings.WEBHOOKS_RETRY_WINDOW_SECONDS = 86400
    settings.WEBHOOKS_DISABLE_AFTER_SECONDS = 10**9  # not what this test is about
    sub = EventSubscriptionFactory(tenant=tenant_a)
    delivery = delivery_of(emit(tenant_a))
    start = timezone.now()
    now = start
    waits = []
    for _ in range(60):
        endpoint.script = [FAIL]
        EventSubscription.objects.filter(pk=sub.pk).update(paused_until=None)
        outcome = services.delivery_attempt(delivery_id=delivery.pk, now=now)
        delivery.refresh_from_db()
        if outcome == "failed":
            break
        assert outcome == "retry"
        waits.append(round((delivery.next_attempt_at - now).total_seconds()))
        # Not due before its time.
        assert services.delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at - dt.timedelta(1)) == (
            "not-due"
        )
        now = delivery.next_attempt_at
    assert waits[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert set(waits[8:]) == {3600}
    assert delivery.status == DeliveryStatus.FAILED and delivery.last_error.startswith("Gave up after")
    assert dt.timedelta(hours=23) <= now - start <= dt.timedelta(hours=24)
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == delivery.attempts == len(waits) + 1


def test_a_failing_endpoint_backs_off_as_a_whole(tenant_a, settings, endpoint):
    sub = EventSubscriptionFactory(tenant=tenant_a)
    first, second = delivery_of(emit(tenant_a)), delivery_of(emit(tenant_a))
    endpoint.script = [FAIL]
    assert services.delivery_attempt(delivery_id=first.pk) == "retry"
    sub.refresh_from_db()
    assert sub.failing_since and sub.consecutive_failures == 1 and sub.paused_until > timezone.now()
    # The other event is not tried against the failing endpoint until the pause ends.
    assert services.delivery_attempt(delivery_id=second.pk) == "endpoint-backoff"
    second.refresh_from_db()
    assert second.next_attempt_at == sub.paused_until and len(endpoint.calls) == 1
    # A success clears the endpoint's failure state.
    later = sub.paused_until + dt.timedelta(seconds=1)
    assert services.delivery_attempt(delivery_id=second.pk, now=later) == "succeeded"
    sub.refresh_from_db()
    assert (sub.failing_since, sub.consecutive_failures, sub.paused_until) == (None, 0, None)


def test_endpoint_failing_for_a_day_is_disabled_with_a_reason(tenant_a, settings, endpoint):
    settings.WEBHOOKS_DISABLE_AFTER_SECONDS = 86400
    sub = EventSubscriptionFactory(tenant=tenant_a)
    first, waiting = delivery_of(emit(tenant_a)), delivery_of(emit(tenant_a))
    long_ago = timezone.now() - dt.timedelta(hours=25)
    EventSubscription.objects.filter(pk=sub.pk).update(failing_since=long_ago, consecutive_failures=20)
    endpoint.script = [OutboundResult(ok=False, error="Connection refused.")]
    assert services.delivery_attempt(delivery_id=first.pk) == "failed"
    sub.refresh_from_db()
    assert not sub.active
    assert "Disabled automatically" in sub.disabled_reason and "Connection refused." in sub.disabled_reason
    assert set(EventDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED}
    waiting.refresh_from_db()
    assert waiting.last_error == "Endpoint disabled."
    # Nothing new is recorded for a disabled endpoint.
    assert emit(tenant_a) is None


def test_events_of_one_contact_go_in_order(tenant_a, settings, endpoint, monkeypatch):
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 30
    EventSubscriptionFactory(tenant=tenant_a)
    sent = delivery_of(emit(tenant_a, contact_id=1, type="message.sent"))
    delivered = delivery_of(emit(tenant_a, contact_id=1, type="message.delivered"))
    other = delivery_of(emit(tenant_a, contact_id=2, type="message.sent"))
    no_contact = delivery_of(emit(tenant_a, type="campaign.finished"))

    # The later event of contact 1 waits, even if its task runs first.
    assert services.delivery_attempt(delivery_id=delivered.pk) == "waiting"
    endpoint.script = [FAIL]
    assert services.delivery_attempt(delivery_id=sent.pk) == "retry"
    after_pause = EventSubscription.objects.get().paused_until + dt.timedelta(seconds=1)
    assert services.delivery_attempt(delivery_id=delivered.pk, now=after_pause) == "waiting"
    # Other contacts are not held back by contact 1.
    assert services.delivery_attempt(delivery_id=other.pk, now=after_pause) == "succeeded"
    assert services.delivery_attempt(delivery_id=no_contact.pk, now=after_pause) == "succeeded"
    # The dispatcher does not pick the blocked one either.
    sent.refresh_from_db()
    due = sent.next_attempt_at + dt.timedelta(seconds=1)
    picked = []
    monkeypatch.setattr(services, "deliveries_enqueue", lambda *, delivery_ids: picked.extend(delivery_ids))
    services.deliveries_dispatch(now=due)
    assert picked == [sent.pk]
    assert services.delivery_attempt(delivery_id=sent.pk, now=due) == "succeeded"
    assert services.delivery_attempt(delivery_id=delivered.pk, now=due) == "succeeded"
    ids = {str(sent.event_id): "sent", str(delivered.event_id): "delivered"}
    contact_1 = [ids[body["id"]] for _url, body in endpoint.calls if body["id"] in ids]
    assert contact_1 == ["sent", "sent", "delivered"]


def test_a_given_up_event_releases_the_next_one(
    tenant_a, settings, endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_RETRY_WINDOW_SECONDS = 1  # give up after the first failure
    EventSubscriptionFactory(tenant=tenant_a)
    first = delivery_of(emit(tenant_a, contact_id=5))
    second = delivery_of(emit(tenant_a, contact_id=5))
    enqueued = []
    monkeypatch.setattr(services, "deliveries_enqueue", lambda *, delivery_ids: enqueued.extend(delivery_ids))
    endpoint.script = [FAIL]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_attempt(delivery_id=first.pk) == "failed"
    assert enqueued == [second.pk]


def test_dispatcher_recovers_stale_claims_and_lost_enqueues(tenant_a, monkeypatch):
    EventSubscriptionFactory(tenant=tenant_a)
    lost = delivery_of(emit(tenant_a))
    stale = delivery_of(emit(tenant_a))
    EventDelivery.objects.filter(pk=stale.pk).update(
        status=DeliveryStatus.DELIVERING, claimed_at=timezone.now() - dt.timedelta(minutes=10)
    )
    picked = []
    monkeypatch.setattr(services, "deliveries_enqueue", lambda *, delivery_ids: picked.extend(delivery_ids))
    assert services.deliveries_dispatch() == 2
    assert sorted(picked) == sorted([lost.pk, stale.pk])


def test_dispatcher_sends_one_probe_to_a_failing_endpoint(tenant_a, monkeypatch):
    sub = EventSubscriptionFactory(tenant=tenant_a)
    healthy = EventSubscriptionFactory(tenant=tenant_a)
    for _ in range(3):
        emit(tenant_a)
    EventSubscription.objects.filter(pk=sub.pk).update(failing_since=timezone.now(), consecutive_failures=3)
    picked = []
    monkeypatch.setattr(services, "deliveries_enqueue", lambda *, delivery_ids: picked.extend(delivery_ids))
    services.deliveries_dispatch()
    by_sub = [EventDelivery.objects.get(pk=pk).subscription_id for pk in picked]
    assert by_sub.count(sub.pk) == 1 and by_sub.count(healthy.pk) == 3
    # A paused endpoint gets none.
    picked.clear()
    EventSubscription.objects.filter(pk=sub.pk).update(paused_until=timezone.now() + dt.timedelta(minutes=5))
    services.deliveries_dispatch()
    assert sub.pk not in [EventDelivery.objects.get(pk=pk).subscription_id for pk in picked]


def test_replay_sends_again_with_the_same_id(tenant_a, receiver, django_capture_on_commit_callbacks, monkeypatch):
    EventSubscriptionFactory(tenant=tenant_a, url=receiver.url)
    event = emit(tenant_a, contact_id=3)
    delivery = delivery_of(event)
    assert services.delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    enqueued = []
    monkeypatch.setattr(services, "deliveries_enqueue", lambda *, delivery_ids: enqueued.extend(delivery_ids))
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_replay(delivery=delivery)
    assert enqueued == [delivery.pk]
    assert services.delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    assert [r.headers["webhook-id"] for r in receiver.received] == [str(event.id)] * 2
    delivery.refresh_from_db()
    assert delivery.replays == 1 and delivery.attempts == 2


def test_replay_refused_while_disabled(tenant_a):
    sub = EventSubscriptionFactory(tenant=tenant_a)
    delivery = delivery_of(emit(tenant_a))
    services.subscription_disable(subscription=sub, reason="test")
    with pytest.raises(services.ReplayRefused):
        services.delivery_replay(delivery=EventDelivery.objects.get(pk=delivery.pk))


def test_dead_endpoint_is_recorded_as_a_failed_attempt(tenant_a, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    EventSubscriptionFactory(tenant=tenant_a, url=f"http://127.0.0.1:{free_port()}/x")
    delivery = delivery_of(emit(tenant_a))
    assert services.delivery_attempt(delivery_id=delivery.pk) == "retry"
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.error == "Connection refused." and attempt.status_code is None


def test_private_target_refused_at_delivery_time(tenant_a, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    EventSubscriptionFactory(tenant=tenant_a, url="http://169.254.169.254/latest/meta-data/")
    delivery = delivery_of(emit(tenant_a))
    assert services.delivery_attempt(delivery_id=delivery.pk) == "retry"
    assert DeliveryAttempt.objects.get().error.startswith("Refused:")


def test_retry_delay_is_capped_even_after_many_failures(settings):
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 30
    settings.WEBHOOKS_RETRY_MAX_DELAY_SECONDS = 21600
    assert services.retry_delay(1) == dt.timedelta(seconds=30)
    assert services.retry_delay(100_000) == dt.timedelta(hours=6)
