"""End to end: a large import handed to a real Celery worker over Redis, progress read back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.models import Contact, ContactImport, ImportStatus

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_large_import_runs_in_a_real_worker(redis_url, tenant_a, api_alice, settings):
    settings.CONTACT_IMPORT_SYNC_MAX_ROWS = 100
    rows = "\n".join(f"+1415555{i:04d},N{i},bulk" for i in range(3000))
    data = f"phone_number,first_name,tags\n{rows}\nbad,x,\n".encode()
    resp = api_alice.post(
        "/api/v1/contacts/import/?background=1",
        {"file": SimpleUploadedFile("big.csv", data, "text/csv")},
        format="multipart",
    )
    assert resp.status_code == 202, resp.json()
    job_id = resp.json()["id"]

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": redis_url,
        "REDIS_URL": redis_url,
        "DEBUG": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "smscampaigns", "worker", "--pool=solo", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        job = ContactImport.objects.get(pk=job_id)
        while job.status != ImportStatus.DONE and time.monotonic() < deadline:
            assert job.status != ImportStatus.FAILED, job.failure
            time.sleep(0.5)
            job.refresh_from_db()
    finally:
        worker.terminate()
        try:
            output = worker.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            worker.kill()
            output = worker.communicate()[0].decode(errors="replace")
    assert job.status == ImportStatus.DONE, output[-3000:]
    assert (job.created, job.error_count, job.percent) == (3000, 1, 100)
    assert job.errors[0]["row"] == 3002
    assert Contact.objects.filter(tenant=tenant_a, tags__name="bulk").count() == 3000
    assert api_alice.get(f"/api/v1/contact-imports/{job_id}/").json()["status"] == "done"
