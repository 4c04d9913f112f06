from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tracking.error_codes import error_code_description
from tracking.tests.factories import DeliveryFailureFactory, StatusEventFactory


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_failures_filter_by_error_code_with_descriptions(tenant_a, tenant_b, alice, charlie):
    unreachable = DeliveryFailureFactory(tenant=tenant_a, error_code=30003)
    spam = DeliveryFailureFactory(tenant=tenant_a, error_code=30007, status="failed")
    DeliveryFailureFactory(tenant=tenant_a, error_code=None, status="delivered")  # not a failure
    DeliveryFailureFactory(tenant=tenant_b, error_code=30034)
    url = reverse("admin:tracking_deliveryfailure_changelist")
    html = _client(alice).get(url).content.decode()
    assert "Unreachable destination handset" in html and "30007 · Filtered" in html
    assert "30034" not in html  # another tenant's codes are not offered
    filtered = _client(alice).get(url, {"error_code": "30007"}).content.decode()
    assert spam.sid in filtered and unreachable.sid not in filtered
    assert _client(alice).get(url, {"error_code": "junk"}).status_code == 200
    assert unreachable.sid not in _client(charlie).get(url).content.decode()


def test_history_shows_orphans_and_is_read_only(tenant_a, tenant_b, alice):
    orphan = StatusEventFactory(tenant=tenant_a, status="undelivered", error_code=30005)
    StatusEventFactory(tenant=tenant_b)
    client = _client(alice)
    url = reverse("admin:tracking_statusevent_changelist")
    html = client.get(url, {"orphan": "yes"}).content.decode()
    assert orphan.sid in html and "Unknown destination handset" in html
    assert client.get(reverse("admin:tracking_statusevent_add")).status_code == 403
    change = reverse("admin:tracking_statusevent_change", args=[orphan.pk])
    assert client.post(change, {"status": "delivered"}).status_code == 403
    assert client.get(reverse("admin:tracking_statusevent_delete", args=[orphan.pk])).status_code == 403


def test_error_code_description():
    assert error_code_description(30003).startswith("Unreachable")
    assert error_code_description("30007").startswith("Filtered")
    assert error_code_description(12345) == "Twilio error 12345"
    assert error_code_description(None) == "" and error_code_description("x") == "Error x"


def test_superuser_sees_every_tenants_history_and_failures(tenant_a, tenant_b, django_user_model):
    root = django_user_model.objects.create_superuser("root@example.com", "pw-123456")
    mine, theirs = StatusEventFactory(tenant=tenant_a), StatusEventFactory(tenant=tenant_b)
    failure = DeliveryFailureFactory(tenant=tenant_b, error_code=30034)
    client = _client(root)
    html = client.get(reverse("admin:tracking_statusevent_changelist"), {"orphan": "yes"}).content.decode()
    assert mine.sid in html and theirs.sid in html
    page = client.get(reverse("admin:tracking_deliveryfailure_changelist"), {"error_code": "30034"})
    assert page.status_code == 200 and failure.sid in page.content.decode()
    assert client.get(reverse("admin:tracking_deliveryfailure_change", args=[failure.pk])).status_code == 200
