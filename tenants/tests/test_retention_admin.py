"""A tenant's own retention of raw events (``Tenant.event_retention_months``) in the tenant admin: the operator sets it,
the retention job is started at once, a tenant's own admin sees it and cannot change it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tenants.admin import TenantForm

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form_data(tenant, **changes) -> dict:
    data = {}
    for name, field in TenantForm.base_fields.items():
        value = field.prepare_value(getattr(tenant, name)) if hasattr(tenant, name) else ""
        data[name] = "" if value is None else value
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}  # an unticked box is not posted


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root@example.com", "pw-123456-long")


def test_the_operator_sets_a_tenant_retention_and_the_job_is_started(
    tenant_a, root, sent_tasks, django_capture_on_commit_callbacks
):
    url = reverse("admin:tenants_tenant_change", args=[tenant_a.pk])
    page = _client(root).get(url).content.decode()
    assert (
        'name="event_retention_months"' in page
        and "13 months after their month ends (the server&#x27;s setting)" in page
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(root).post(url, _form_data(tenant_a, event_retention_months="6"), follow=True)
    assert response.status_code == 200
    tenant_a.refresh_from_db()
    assert tenant_a.event_retention_months == 6
    assert sent_tasks == [("retention.tasks.partitions_maintain", (), {})]
    assert sent_tasks.options == [{"queue": "control"}]
    assert "applied by the retention job" in response.content.decode()

    sent_tasks.clear()  # saved again with the same retention: nothing to apply
    with django_capture_on_commit_callbacks(execute=True):
        _client(root).post(url, _form_data(tenant_a, name="Acme Two"))
    assert sent_tasks == []


def test_a_retention_past_ten_years_is_refused_naming_the_field(tenant_a, root):
    url = reverse("admin:tenants_tenant_change", args=[tenant_a.pk])
    response = _client(root).post(url, _form_data(tenant_a, event_retention_months="121"))
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["event_retention_months"]
    tenant_a.refresh_from_db()
    assert tenant_a.event_retention_months is None


def test_a_tenant_admin_sees_the_retention_and_cannot_change_it(tenant_a, alice, sent_tasks):
    url = reverse("admin:tenants_tenant_change", args=[tenant_a.pk])
    page = _client(alice).get(url).content.decode()
    assert 'name="event_retention_months"' not in page
    assert "Raw events kept" in page and "13 months after their month ends" in page
    response = _client(alice).post(url, _form_data(tenant_a, event_retention_months="0"))
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.event_retention_months is None
    assert sent_tasks == []
