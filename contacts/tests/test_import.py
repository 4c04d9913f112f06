"""CSV import: per-row errors with row numbers, re-import updates, BOM/Excel, bad files, background runs."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.importing import ImportFileError, contacts_import
from contacts.models import ConsentStatus, Contact, ContactImport, ImportStatus, Tag
from contacts.services import contact_import_run, contact_import_start
from contacts.tasks import contact_import_task


def _upload(text: str | bytes, name: str = "contacts.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


GOOD = (
    "phone_number,first_name,last_name,tags,timezone\n"
    "+14155550100,Ada,Lovelace,vip;nyc,America/New_York\n"
    "not-a-phone,Bad,Row,,\n"
    "(415) 555-0101,Bo,,vip,\n"
    "+14155550102,Cy,,,Mars/Base\n"
)


def test_import_api_counts_and_row_numbers(api_alice, tenant_a):
    resp = api_alice.post("/api/v1/contacts/import/", {"file": _upload(GOOD)}, format="multipart")
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert body["created"] == 2 and body["updated"] == 0
    assert [e["row"] for e in body["errors"]] == [3, 5]  # the header is row 1
    assert "phone_number" in body["errors"][0]["error"]
    assert "timezone" in body["errors"][1]["error"]
    ada = Contact.objects.get(tenant=tenant_a, phone_number="+14155550100")
    assert ada.first_name == "Ada" and ada.timezone == "America/New_York"
    assert sorted(ada.tags.values_list("name", flat=True)) == ["nyc", "vip"]
    bo = Contact.objects.get(tenant=tenant_a, phone_number="+14155550101")
    assert bo.timezone == "America/Los_Angeles"  # derived from the number


def test_reimport_updates_instead_of_duplicating(api_alice, tenant_a):
    api_alice.post("/api/v1/contacts/import/", {"file": _upload(GOOD)}, format="multipart")
    again = "phone_number,first_name,tags,city\n+14155550100,Augusta,spring,Boston\n4155550101,,,\n"
    body = api_alice.post("/api/v1/contacts/import/", {"file": _upload(again)}, format="multipart").json()
    assert body == {"created": 0, "updated": 2, "errors": []}
    assert Contact.objects.filter(tenant=tenant_a).count() == 2
    ada = Contact.objects.get(tenant=tenant_a, phone_number="+14155550100")
    assert ada.first_name == "Augusta"
    assert ada.last_name == "Lovelace"  # an absent column never clears
    assert ada.custom_fields == {"city": "Boston"}
    assert sorted(ada.tags.values_list("name", flat=True)) == ["nyc", "spring", "vip"]
    bo = Contact.objects.get(tenant=tenant_a, phone_number="+14155550101")
    assert bo.first_name == "Bo"  # an empty cell never clears


def test_bom_semicolons_crlf_and_aliases(tenant_a):
    data = "\ufeffPhone;First Name;Tags;Consent\r\n+14155550100;Zoë;a;yes\r\n+14155550101;Ana;;no\r\n;;;\r\n"
    result = contacts_import(tenant=tenant_a, fileobj=io.BytesIO(data.encode("utf-8")))
    assert (result.created, result.updated, result.errors) == (2, 0, [])
    zoe = Contact.objects.get(tenant=tenant_a, phone_number="+14155550100")
    assert zoe.first_name == "Zoë"
    assert zoe.consent_status == ConsentStatus.GRANTED and zoe.consent_at and zoe.consent_source == "import"
    assert Contact.objects.get(phone_number="+14155550101").consent_status == ConsentStatus.REVOKED


def test_quoted_fields_and_duplicate_rows_in_one_file(tenant_a):
    data = 'phone_number,first_name,tags\n+14155550100,"Smith, Jo",a\n+14155550100,"Jo ""JJ""",b\n'
    result = contacts_import(tenant=tenant_a, fileobj=io.BytesIO(data.encode()))
    assert (result.created, result.updated) == (1, 1)
    jo = Contact.objects.get(tenant=tenant_a)
    assert jo.first_name == 'Jo "JJ"'
    assert sorted(jo.tags.values_list("name", flat=True)) == ["a", "b"]


def test_consent_columns_and_bad_values(tenant_a):
    data = (
        "phone_number,consent_status,consent_at,consent_source,consent_text,email\n"
        "+14155550100,granted,2026-03-01T10:00:00Z,web form,Reply STOP to opt out,ada@example.com\n"
        "+14155550101,maybe,,,,\n"
        "+14155550102,granted,yesterday,,,\n"
        "+14155550103,,,,,not-an-email\n"
    )
    result = contacts_import(tenant=tenant_a, fileobj=io.BytesIO(data.encode()))
    assert result.created == 1
    assert [(e["row"], e["error"].split(":")[0]) for e in result.errors] == [
        (3, "consent_status"),
        (4, "consent_at 'yesterday' is not an ISO 8601 date or time."),
        (5, "email"),
    ]
    ada = Contact.objects.get(tenant=tenant_a)
    assert ada.consent_source == "web form" and ada.consent_at.year == 2026 and ada.email == "ada@example.com"


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ("phone_number,first_name\n+14155550100,Jos\xe9\n".encode("latin-1"), "UTF-8"),
        ("phone_number\n+14155550100\n".encode("utf-16"), "UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not"),
        (b"", "empty"),
        (b"name,email\nAda,a@example.com\n", "phone_number"),
    ],
)
def test_bad_files_are_400_naming_file(api_alice, tenant_a, payload, needle):
    resp = api_alice.post("/api/v1/contacts/import/", {"file": _upload(payload)}, format="multipart")
    assert resp.status_code == 400
    assert needle in resp.json()["file"][0]
    assert Contact.objects.filter(tenant=tenant_a).count() == 0


def test_missing_file_is_400(api_alice):
    resp = api_alice.post("/api/v1/contacts/import/", {}, format="multipart")
    assert resp.status_code == 400 and "file" in resp.json()


def test_import_lands_in_callers_tenant_only(api_alice, api_charlie, tenant_a, tenant_b):
    api_alice.post("/api/v1/contacts/import/", {"file": _upload(GOOD)}, format="multipart")
    assert Contact.objects.filter(tenant=tenant_b).count() == 0
    assert Tag.objects.filter(tenant=tenant_b).count() == 0
    assert api_charlie.get("/api/v1/contacts/").json()["results"] == []


def _big_csv(rows: int) -> bytes:
    lines = ["phone_number,first_name,tags"]
    lines += [f"+1415555{i:04d},N{i},bulk" for i in range(rows)]
    lines.append("garbage,x,")
    return ("\n".join(lines) + "\n").encode()


def test_large_api_import_runs_in_background(
    api_alice, tenant_a, settings, django_capture_on_commit_callbacks, sent_tasks
):
    settings.CONTACT_IMPORT_SYNC_MAX_ROWS = 50
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_alice.post(
            "/api/v1/contacts/import/?background=1", {"file": _upload(_big_csv(120))}, format="multipart"
        )
    assert resp.status_code == 202, resp.json()
    job_id = resp.json()["id"]
    assert sent_tasks == [("contacts.tasks.contact_import_task", (job_id,), {})]
    assert resp.json()["status"] == "pending" and resp.json()["total_rows"] == 121
    assert Contact.objects.filter(tenant=tenant_a).count() == 0  # nothing yet: the worker does it

    contact_import_task(job_id)  # what the worker runs
    job = ContactImport.objects.get(pk=job_id)
    assert job.status == ImportStatus.DONE and job.percent == 100
    assert (job.created, job.updated, job.error_count) == (120, 0, 1)
    assert job.errors == [{"row": 122, "error": job.errors[0]["error"]}]
    assert bytes(job.data) == b""  # the file is dropped once imported
    status = api_alice.get(f"/api/v1/contact-imports/{job_id}/").json()
    assert status["status"] == "done" and status["created"] == 120
    assert Contact.objects.filter(tenant=tenant_a).count() == 120
    # A redelivered task is a no-op.
    assert contact_import_run(import_id=job_id) is None


def test_progress_is_recorded_per_batch(tenant_a, monkeypatch):
    seen = []
    result = contacts_import(
        tenant=tenant_a, fileobj=io.BytesIO(_big_csv(250)), batch_size=100, progress=lambda r: seen.append(r.rows)
    )
    assert seen == [100, 200, 251]
    assert result.created == 250 and result.error_count == 1


def test_import_start_rejects_bad_file_at_once(tenant_a):
    with pytest.raises(ImportFileError):
        contact_import_start(tenant=tenant_a, fileobj=io.BytesIO(b"\xff\xfe\x00bad"))
    assert not ContactImport.objects.exists()


def test_import_isolation_api(api_alice, api_bob, api_charlie, tenant_a, tenant_b):
    job = ContactImport.objects.create(tenant=tenant_a, file_name="a.csv")
    theirs = ContactImport.objects.create(tenant=tenant_b, file_name="b.csv")
    assert [r["id"] for r in api_alice.get("/api/v1/contact-imports/").json()["results"]] == [job.pk]
    assert api_alice.get(f"/api/v1/contact-imports/{theirs.pk}/").status_code == 404
    assert api_charlie.get("/api/v1/contact-imports/").json()["results"] == []
    assert api_bob.get(f"/api/v1/contact-imports/{job.pk}/").status_code == 404


def test_a_dead_run_is_taken_again_but_a_live_one_is_not(tenant_a):
    import datetime as dt

    from django.utils import timezone

    data = b"phone_number\n+14155550100\n"
    live = ContactImport.objects.create(
        tenant=tenant_a, data=data, status=ImportStatus.RUNNING, started_at=timezone.now()
    )
    assert contact_import_run(import_id=live.pk) is None
    dead = ContactImport.objects.create(
        tenant=tenant_a, data=data, status=ImportStatus.RUNNING, started_at=timezone.now() - dt.timedelta(hours=1)
    )
    job = contact_import_run(import_id=dead.pk)
    assert job.status == ImportStatus.DONE and job.created == 1


def test_repeated_grant_keeps_its_date_and_derived_zone_fills_a_gap(tenant_a):
    import datetime as dt

    first = "phone_number,consent_status,consent_at\n+14155550100,granted,2026-01-02\n"
    contacts_import(tenant=tenant_a, fileobj=io.BytesIO(first.encode()))
    Contact.objects.filter(tenant=tenant_a).update(timezone="")
    contacts_import(tenant=tenant_a, fileobj=io.BytesIO(b"phone_number,consent_status\n+14155550100,yes\n"))
    ada = Contact.objects.get(tenant=tenant_a)
    assert ada.consent_at == dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert ada.timezone == "America/Los_Angeles"


def test_oversized_file_is_a_413_naming_the_limit(api_alice, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1_000_000
    big = b"phone_number\n" + b"+14155550100\n" * 80_000
    resp = api_alice.post("/api/v1/contacts/import/", {"file": _upload(big)}, format="multipart")
    assert resp.status_code == 413
    body = resp.json()
    assert body["limit_bytes"] == 1_000_000 and "1,000,000 bytes (1 MB)" in body["detail"]
    assert body["file"] == [body["detail"]]
    assert not ContactImport.objects.exists() and not Contact.objects.exists()


def test_a_row_the_database_refuses_sinks_only_itself(tenant_a, monkeypatch):
    from django.db import DataError

    from contacts import importing

    real_write = importing._Importer._write

    def picky_write(self, batch):
        if "+14155550101" in batch:
            raise DataError("value too long")
        return real_write(self, batch)

    monkeypatch.setattr(importing._Importer, "_write", picky_write)
    data = "phone_number,tags\n+14155550100,a\n+14155550101,b\n+14155550102,c\n"
    result = contacts_import(tenant=tenant_a, fileobj=io.BytesIO(data.encode()))
    assert (result.created, result.updated) == (2, 0)
    assert result.errors == [{"row": 3, "error": "could not be saved: DataError"}]
    assert sorted(Contact.objects.filter(tenant=tenant_a).values_list("phone_number", flat=True)) == [
        "+14155550100",
        "+14155550102",
    ]


def test_large_api_import_always_runs_in_a_worker(
    api_alice, tenant_a, settings, django_capture_on_commit_callbacks, sent_tasks
):
    """Over the synchronous limit a file is never imported inside the request (issue #16), asked or not."""
    settings.CONTACT_IMPORT_SYNC_MAX_ROWS = 50
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_alice.post("/api/v1/contacts/import/", {"file": _upload(_big_csv(120))}, format="multipart")
    assert resp.status_code == 202, resp.json()
    job_id = resp.json()["id"]
    assert resp.json()["url"].endswith(f"/api/v1/contact-imports/{job_id}/")
    assert sent_tasks == [("contacts.tasks.contact_import_task", (job_id,), {})]
    assert Contact.objects.filter(tenant=tenant_a).count() == 0
    contact_import_task(job_id)
    status = api_alice.get(f"/api/v1/contact-imports/{job_id}/").json()
    assert (status["status"], status["created"], status["error_count"]) == ("done", 120, 1)


def test_a_file_whose_rows_hide_from_the_count_goes_by_its_size(
    api_alice, tenant_a, settings, django_capture_on_commit_callbacks, sent_tasks
):
    """Carriage returns alone end the lines (old Mac exports): no line feed to count, so the row estimate is
    0; the file's size still sends it to the worker."""
    settings.CONTACT_IMPORT_SYNC_MAX_ROWS = 50
    settings.CONTACT_IMPORT_SYNC_MAX_BYTES = 2_000
    data = _big_csv(120).replace(b"\n", b"\r")
    assert b"\n" not in data and len(data) > 2_000
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_alice.post("/api/v1/contacts/import/", {"file": _upload(data)}, format="multipart")
    assert resp.status_code == 202, resp.json()
    assert resp.json()["total_rows"] == 0  # the estimate, fooled
    assert len(sent_tasks) == 1
    contact_import_task(resp.json()["id"])
    assert Contact.objects.filter(tenant=tenant_a).count() == 120


def test_a_small_file_is_still_answered_with_its_counts(api_alice, settings, sent_tasks):
    settings.CONTACT_IMPORT_SYNC_MAX_ROWS = 50
    settings.CONTACT_IMPORT_SYNC_MAX_BYTES = 2_000
    resp = api_alice.post("/api/v1/contacts/import/", {"file": _upload(_big_csv(40))}, format="multipart")
    assert resp.status_code == 200
    assert resp.json()["created"] == 40 and sent_tasks == []
