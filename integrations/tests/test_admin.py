"""Admin: the attempts log is visible, replay works for one's own rows only, the secret is masked."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from integrations import services
from integrations.models import DeliveryAttempt, DeliveryStatus, EventDelivery, EventSubscription
from integrations.outbound import OutboundResult

from .factories import EventDeliveryFactory, EventSubscriptionFactory


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_attempts_log_is_shown_on_the_delivery(alice, tenant_a, monkeypatch):
    sub = EventSubscriptionFactory(tenant=tenant_a)
    event = services.event_emit(tenant_id=tenant_a.pk, type="message.sent", payload={"m": 1})
    delivery = EventDelivery.objects.get(event=event)
    monkeypatch.setattr(
        services.outbound,
        "webhook_post",
        lambda url, **kw: OutboundResult(
            ok=False, status_code=502, latency_ms=321, excerpt="Bad gateway!", error="HTTP 502."
        ),
    )
    services.delivery_attempt(delivery_id=delivery.pk)
    html = login(alice).get(reverse("admin:integrations_eventdelivery_change", args=[delivery.pk])).content.decode()
    assert "502" in html and "321" in html and "Bad gateway!" in html and "HTTP 502." in html
    assert sub.secret not in html


def test_subscription_page_masks_the_secret(alice, tenant_a):
    sub = EventSubscriptionFactory(tenant=tenant_a)
    html = login(alice).get(reverse("admin:integrations_eventsubscription_change", args=[sub.pk])).content.decode()
    assert sub.secret not in html and sub.secret[-4:] in html


def test_admin_creates_an_endpoint_and_shows_the_secret_once(alice, tenant_a, settings):
    client = login(alice)
    resp = client.post(
        reverse("admin:integrations_eventsubscription_add"),
        {"url": "https://crm.example.com/h", "event_types": ["link.clicked"], "active": "on"},
        follow=True,
    )
    sub = EventSubscription.objects.get()
    assert sub.tenant == tenant_a and sub.secret.startswith("whsec_") and sub.event_types == ["link.clicked"]
    assert sub.secret in resp.content.decode()
    resp = client.post(
        reverse("admin:integrations_eventsubscription_add"),
        {"url": "http://169.254.169.254/", "event_types": ["link.clicked"]},
    )
    assert resp.status_code == 200 and "not a public address" in resp.content.decode()
    assert EventSubscription.objects.count() == 1


@pytest.mark.django_db
def test_replay_action_touches_only_own_rows(alice, tenant_a, tenant_b, django_capture_on_commit_callbacks):
    mine = EventDeliveryFactory(tenant=tenant_a, status=DeliveryStatus.FAILED)
    theirs = EventDeliveryFactory(tenant=tenant_b, status=DeliveryStatus.FAILED)
    with django_capture_on_commit_callbacks():
        login(alice).post(
            reverse("admin:integrations_eventdelivery_changelist"),
            {"action": "replay", "_selected_action": [mine.pk, theirs.pk]},
        )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == DeliveryStatus.PENDING and mine.replays == 1
    assert theirs.status == DeliveryStatus.FAILED and theirs.replays == 0
    assert not DeliveryAttempt.objects.exists()


def test_viewer_cannot_replay(tenant_a):
    from tenants.models import Role
    from tenants.tests.factories import UserFactory

    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    delivery = EventDeliveryFactory(tenant=tenant_a, status=DeliveryStatus.FAILED)
    login(viewer).post(
        reverse("admin:integrations_eventdelivery_changelist"), {"action": "replay", "_selected_action": [delivery.pk]}
    )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_superuser_creates_an_endpoint_for_a_tenant(tenant_b, django_user_model):
    root = django_user_model.objects.create_superuser("root@example.com", "pw-123456")
    login(root).post(
        reverse("admin:integrations_eventsubscription_add"),
        {"tenant": tenant_b.pk, "url": "https://crm.example.com/h", "event_types": ["link.clicked"], "active": "on"},
    )
    assert EventSubscription.objects.get().tenant == tenant_b
