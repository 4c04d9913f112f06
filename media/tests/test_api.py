"""The media library through the API and the public URL: real HTTP (DRF's APIClient, Django's client)."""

from __future__ import annotations

import io
import os

import pytest
from django.test import Client
from PIL import Image

from campaigns.models import CampaignStatus
from campaigns.tests.factories import CampaignFactory
from media.models import MediaFile
from media.tests.factories import MediaFileFactory, image_bytes

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, name: str):
    return client.post("/api/v1/media/", {"file": _named(data, name)}, format="multipart")


def _named(data: bytes, name: str):
    buf = io.BytesIO(data)
    buf.name = name
    return buf


@pytest.mark.parametrize(("kind", "content_type", "ext"), [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"),
                                                           ("GIF", "image/gif", "gif")])  # fmt: skip
def test_upload_an_image_and_the_public_url_serves_its_exact_bytes(api_alice, kind, content_type, ext, settings):
    data = image_bytes(kind, size=(40, 30))
    response = upload(api_alice, data, f"Summer Sale {kind}!.bin")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"id", "url", "content_type", "size"}
    assert (body["content_type"], body["size"], body["width"], body["height"]) == (content_type, len(data), 40, 30)
    assert body["url"].startswith(settings.PUBLIC_BASE_URL + "/media/")
    assert body["url"].endswith(f".{ext}") and " " not in body["url"]
    path = body["url"][len(settings.PUBLIC_BASE_URL) :]
    served = Client().get(path)  # no login: Twilio has none
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == data
    assert served["Content-Type"] == content_type
    assert served["Content-Length"] == str(len(data))
    assert "max-age" in served["Cache-Control"]
    head = Client().head(path)
    assert head.status_code == 200 and head["Content-Type"] == content_type


def test_a_pdf_is_accepted_by_its_signature(api_alice):
    data = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    response = upload(api_alice, data, "menu.pdf")
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == "application/pdf"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"just some text, not a picture\n" * 10, "photo.jpg"),  # a .txt renamed .jpg
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "logo.png"),
        (image_bytes("PNG")[:40], "cut.png"),  # a truncated image
        (b"", "empty.gif"),
    ],
)
def test_a_file_that_is_not_an_accepted_type_is_a_400(api_alice, data, name):
    response = upload(api_alice, data, name)
    assert response.status_code == 400, response.content
    body = response.json()
    assert "file" in body and body["limit"] == "MMS_ACCEPTED_TYPES"
    assert MediaFile.objects.count() == 0


def test_webp_and_bmp_are_refused_though_pillow_reads_them(api_alice):
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="BMP")
    response = upload(api_alice, buf.getvalue(), "a.bmp")
    assert response.status_code == 400 and response.json()["limit"] == "MMS_ACCEPTED_TYPES"


def test_over_the_size_limit_is_a_400_naming_the_limit(api_alice, settings):
    """Twilio's 5 MB: a file one byte over is refused whatever it holds (here a real JPEG, padded)."""
    assert settings.MMS_MAX_FILE_BYTES == 5_000_000
    data = image_bytes("JPEG", size=(64, 64)) + bytes(5_000_001)
    response = upload(api_alice, data, "huge.jpg")
    assert response.status_code == 400
    body = response.json()
    assert body["limit"] == "MMS_MAX_FILE_BYTES" and body["limit_value"] == 5_000_000
    assert "MMS_MAX_FILE_BYTES" in body["file"][0]
    assert MediaFile.objects.count() == 0


def test_the_size_limit_is_a_setting(api_alice, settings):
    noise = io.BytesIO()
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(noise, format="PNG")
    settings.MMS_MAX_FILE_BYTES = len(noise.getvalue()) - 1
    assert upload(api_alice, noise.getvalue(), "noise.png").json()["limit"] == "MMS_MAX_FILE_BYTES"
    settings.MMS_MAX_FILE_BYTES = len(noise.getvalue())
    assert upload(api_alice, noise.getvalue(), "noise.png").status_code == 201


def test_a_large_image_is_accepted_with_a_warning(api_alice, settings):
    settings.MMS_WARN_BYTES = 50
    response = upload(api_alice, image_bytes("PNG", size=(40, 40)), "x.png")
    assert response.status_code == 201
    assert "MMS_WARN_BYTES" in response.json()["warnings"][0]


def test_list_and_read_are_the_tenants_own(api_alice, api_bob, api_charlie, tenant_a, tenant_b):
    mine = MediaFileFactory(tenant=tenant_a)
    theirs = MediaFileFactory(tenant=tenant_b)
    listed = api_alice.get("/api/v1/media/").json()
    assert [m["id"] for m in listed["results"]] == [mine.pk]
    assert api_alice.get(f"/api/v1/media/{mine.pk}/").status_code == 200
    assert api_alice.get(f"/api/v1/media/{theirs.pk}/").status_code == 404
    assert api_charlie.get(f"/api/v1/media/{mine.pk}/").status_code == 404
    assert api_charlie.delete(f"/api/v1/media/{mine.pk}/").status_code == 404
    assert api_charlie.get("/api/v1/media/").json()["results"] == []
    assert MediaFile.objects.filter(pk=mine.pk).exists()


def test_no_credentials_is_a_401(client):
    assert client.get("/api/v1/media/").status_code == 401


def test_delete_while_a_pending_campaign_uses_it_is_a_409(api_alice, tenant_a):
    media = MediaFileFactory(tenant=tenant_a)
    created = api_alice.post("/api/v1/campaigns/", {"name": "MMS", "body": "", "media": [media.pk]}, format="json")
    assert created.status_code == 201, created.content
    response = api_alice.delete(f"/api/v1/media/{media.pk}/")
    assert response.status_code == 409
    assert response.json()["campaigns"] == [created.json()["id"]]
    assert MediaFile.objects.filter(pk=media.pk).exists()


def test_delete_once_only_finished_campaigns_use_it(api_alice, tenant_a, django_capture_on_commit_callbacks):
    from campaigns.models import CampaignMedia

    media = MediaFileFactory(tenant=tenant_a)
    storage, name = media.file.storage, media.file.name
    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENT)
    CampaignMedia.objects.create(campaign=campaign, media=media)
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        assert api_alice.delete(f"/api/v1/media/{media.pk}/").status_code == 204
    assert not MediaFile.objects.filter(pk=media.pk).exists()
    assert not storage.exists(name)


def test_unknown_token_or_wrong_name_is_a_404(tenant_a):
    media = MediaFileFactory(tenant=tenant_a)
    assert Client().get(media.public_path).status_code == 200
    assert Client().get(f"/media/{media.token}x/{media.filename}").status_code == 404
    assert Client().get(f"/media/{media.token}/other.png").status_code == 404
    assert Client().post(media.public_path).status_code == 405


def test_the_short_link_fast_path_does_not_shadow_media(settings, tenant_a):
    """Even with short links at the site's root or under /media, the two-segment media path is the media's."""
    from django.test import override_settings

    media = MediaFileFactory(tenant=tenant_a)
    for base in (settings.PUBLIC_BASE_URL, f"{settings.PUBLIC_BASE_URL}/media"):
        with override_settings(SHORT_LINK_BASE_URL=base):
            assert Client().get(media.public_path).status_code == 200
