"""A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 naming the limit, never a 500 with a traceback."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.models import Contact

SIX_MIB = 6 * 1024 * 1024


def _assert_413(resp):
    assert resp.status_code == 413
    assert resp["Content-Type"] == "application/json"
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert resp.json() == {"detail": f"Request body too large: the limit is {limit} bytes.", "limit_bytes": limit}


@pytest.mark.django_db
def test_json_body_over_the_limit_is_413(api_alice, caplog):
    body = json.dumps({"phone_number": "+14155550100", "custom_fields": {"note": "a" * SIX_MIB}})
    resp = api_alice.post("/api/v1/contacts/", body, content_type="application/json")
    _assert_413(resp)
    assert not Contact.objects.exists()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.django_db
def test_form_body_over_the_limit_is_413(api_alice):
    resp = api_alice.post("/api/v1/contacts/", {"phone_number": "+14155550100", "first_name": "a" * SIX_MIB})
    _assert_413(resp)


@pytest.mark.django_db
def test_normal_body_still_created(api_alice):
    resp = api_alice.post("/api/v1/contacts/", {"phone_number": "+14155550100", "first_name": "Ada"}, format="json")
    assert resp.status_code == 201, resp.content
    assert Contact.objects.get().first_name == "Ada"


@pytest.mark.django_db
def test_a_body_over_the_request_cap_is_413_before_it_is_read(api_alice, settings, monkeypatch):
    """Files are not covered by DATA_UPLOAD_MAX_MEMORY_SIZE: REQUEST_MAX_BYTES is, from Content-Length, before
    any parser (or the CSRF check) reads the body."""
    from django.core.handlers.wsgi import WSGIRequest

    settings.REQUEST_MAX_BYTES = 10_000
    read = []
    real_read = WSGIRequest.read
    monkeypatch.setattr(WSGIRequest, "read", lambda self, *a: read.append(1) or real_read(self, *a))
    upload = SimpleUploadedFile("c.csv", b"phone_number\n" + b"+14155550100\n" * 1_000, "text/csv")
    resp = api_alice.post("/api/v1/contacts/import/", {"file": upload}, format="multipart")
    assert resp.status_code == 413
    assert resp.json() == {"detail": "Request body too large: the limit is 10000 bytes.", "limit_bytes": 10_000}
    assert read == [] and not Contact.objects.exists()
    # Under the cap, the same endpoint works.
    small = SimpleUploadedFile("c.csv", b"phone_number\n+14155550100\n", "text/csv")
    assert api_alice.post("/api/v1/contacts/import/", {"file": small}, format="multipart").status_code == 200
