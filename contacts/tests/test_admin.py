"""Contacts in the admin: E.164 on save, scoped tag filter, CSV upload with progress."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from contacts.models import Contact, ContactImport, ImportStatus
from contacts.tests.factories import ContactFactory, TagFactory


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_add_contact_normalizes_number(alice, tenant_a):
    client = _login(alice)
    resp = client.post(
        reverse("admin:contacts_contact_add"),
        {"phone_number": "(415) 555-0100", "first_name": "Ada", "consent_status": "unknown", "custom_fields": "{}"},
    )
    assert resp.status_code == 302, resp.content.decode()[:3000]
    contact = Contact.objects.get(tenant=tenant_a)
    assert contact.phone_number == "+14155550100" and contact.timezone == "America/Los_Angeles"
    again = client.post(
        reverse("admin:contacts_contact_add"),
        {"phone_number": "+1 415 555 0100", "consent_status": "unknown", "custom_fields": "{}"},
    )
    assert again.status_code == 200 and "already exists" in again.content.decode()
    bad = client.post(
        reverse("admin:contacts_contact_add"),
        {"phone_number": "12", "consent_status": "unknown", "custom_fields": "{}"},
    )
    assert bad.status_code == 200 and "not a valid phone number" in bad.content.decode()


def test_tag_filter_offers_only_own_tags(alice, tenant_a, tenant_b):
    mine = TagFactory(tenant=tenant_a, name="mine-tag")
    TagFactory(tenant=tenant_b, name="their-secret-tag")
    ContactFactory(tenant=tenant_a).tags.add(mine)
    html = _login(alice).get(reverse("admin:contacts_contact_changelist")).content.decode()
    assert "mine-tag" in html and "their-secret-tag" not in html
    assert reverse("admin:contacts_contactimport_add") in html  # the Import CSV button


def test_small_upload_is_imported_at_once(alice, tenant_a, tenant_b):
    data = b"phone_number,first_name\n+14155550100,Ada\nnope,Bad\n"
    client = _login(alice)
    resp = client.post(
        reverse("admin:contacts_contactimport_add"), {"file": SimpleUploadedFile("c.csv", data, "text/csv")}
    )
    assert resp.status_code == 302
    job = ContactImport.objects.get()
    assert job.tenant == tenant_a and job.status == ImportStatus.DONE
    assert (job.created, job.error_count) == (1, 1)
    page = client.get(resp["Location"]).content.decode()
    assert "Done" in page and "nope" in page and "<td>3</td>" in page
    assert Contact.objects.filter(tenant=tenant_b).count() == 0


def test_large_upload_runs_in_worker_with_progress(
    alice, tenant_a, settings, django_capture_on_commit_callbacks, sent_tasks
):
    settings.CONTACT_IMPORT_SYNC_MAX_ROWS = 10
    rows = "\n".join(f"+1415555{i:04d},N{i}" for i in range(30))
    data = f"phone_number,first_name\n{rows}\n".encode()
    client = _login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            reverse("admin:contacts_contactimport_add"), {"file": SimpleUploadedFile("c.csv", data, "text/csv")}
        )
    job = ContactImport.objects.get()
    assert sent_tasks == [("contacts.tasks.contact_import_task", (job.pk,), {})]
    page = client.get(resp["Location"]).content.decode()
    assert 'http-equiv="refresh"' in page and "Waiting for a worker" in page
    from contacts.tasks import contact_import_task

    contact_import_task(job.pk)
    page = client.get(resp["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in page and "100%" in page
    assert Contact.objects.filter(tenant=tenant_a).count() == 30


def test_a_file_over_the_byte_limit_goes_to_the_worker_whatever_its_row_count(
    alice, tenant_a, settings, django_capture_on_commit_callbacks, sent_tasks
):
    settings.CONTACT_IMPORT_SYNC_MAX_BYTES = 1_000
    rows = "\r".join(f"+1415555{i:04d},N{i}" for i in range(60))  # carriage returns only: 0 rows by the count
    data = f"phone_number,first_name\r{rows}\r".encode()
    with django_capture_on_commit_callbacks(execute=True):
        resp = _login(alice).post(
            reverse("admin:contacts_contactimport_add"), {"file": SimpleUploadedFile("c.csv", data, "text/csv")}
        )
    assert resp.status_code == 302
    job = ContactImport.objects.get()
    assert job.status == ImportStatus.PENDING
    assert sent_tasks == [("contacts.tasks.contact_import_task", (job.pk,), {})]
    assert not Contact.objects.exists()


def test_a_file_over_the_import_limit_is_refused_with_the_limit(alice, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1_000
    data = b"phone_number\n" + b"+14155550100\n" * 100
    resp = _login(alice).post(
        reverse("admin:contacts_contactimport_add"), {"file": SimpleUploadedFile("c.csv", data, "text/csv")}
    )
    assert resp.status_code == 200
    assert "larger than the limit of 1,000 bytes" in resp.content.decode()
    assert not ContactImport.objects.exists()


def test_a_body_over_the_request_cap_is_refused_unread(alice, settings):
    settings.REQUEST_MAX_BYTES = 5_000
    data = b"phone_number\n" + b"+14155550100\n" * 1_000
    resp = _login(alice).post(
        reverse("admin:contacts_contactimport_add"), {"file": SimpleUploadedFile("c.csv", data, "text/csv")}
    )
    assert resp.status_code == 413
    assert resp["Content-Type"].startswith("text/plain")
    assert "the limit is 5000 bytes" in resp.content.decode()
    assert not ContactImport.objects.exists()


def test_bad_upload_shows_the_problem(alice):
    resp = _login(alice).post(
        reverse("admin:contacts_contactimport_add"),
        {"file": SimpleUploadedFile("c.csv", "phone_number\nJosé\n".encode("latin-1"), "text/csv")},
    )
    assert resp.status_code == 200 and "not UTF-8" in resp.content.decode()
    assert not ContactImport.objects.exists()


def test_viewer_cannot_upload(tenant_a):
    from tenants.models import Role
    from tenants.tests.factories import UserFactory

    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    assert _login(viewer).get(reverse("admin:contacts_contactimport_add")).status_code == 403


def test_outsider_cannot_see_an_import(charlie, tenant_a):
    job = ContactImport.objects.create(tenant=tenant_a, file_name="secret-list.csv")
    resp = _login(charlie).get(reverse("admin:contacts_contactimport_change", args=[job.pk]))
    assert resp.status_code in (302, 404)
    assert "secret-list" not in resp.content.decode()
