"""End to end, MMS: real Celery workers on Redis, the local Twilio-compatible server, and a live web server on
``PUBLIC_BASE_URL`` that serves the media the way Twilio fetches it (real HTTP, no test client)."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from campaigns.models import Campaign, Message
from campaigns.tests import test_e2e_sending as e2e
from contacts.tests.factories import ContactFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# The worker pool and the Twilio-compatible server of the SMS end-to-end tests (fixtures).
fake, workers = e2e.fake, e2e.workers


@pytest.fixture
def public_origin(live_server, settings):
    """The project's origin is the live server's: the URLs in MediaUrl are fetched from it for real."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.SHORT_LINK_BASE_URL = f"{live_server.url}/l"
    return live_server.url


def test_mms_campaign_sends_one_request_per_recipient_with_media_urls_that_serve_the_image(
    public_origin, workers, fake, tenant_a, api_alice
):
    e2e._tenant_ready(tenant_a, fake, rate=500)
    contacts = [ContactFactory(tenant=tenant_a) for _ in range(12)]
    buf = io.BytesIO()
    Image.new("RGB", (120, 80), (20, 140, 60)).save(buf, format="JPEG")
    image = buf.getvalue()
    upload = io.BytesIO(image)
    upload.name = "spring sale.jpg"
    uploaded = api_alice.post("/api/v1/media/", {"file": upload}, format="multipart")
    assert uploaded.status_code == 201, uploaded.content
    media = uploaded.json()
    assert media["url"].startswith(public_origin + "/media/")

    # The limits hold on the way in: a wrong type and an over-limit file are 400s naming the limit.
    text = io.BytesIO(b"not an image at all")
    text.name = "fake.jpg"
    assert api_alice.post("/api/v1/media/", {"file": text}, format="multipart").json()["limit"] == "MMS_ACCEPTED_TYPES"
    huge = io.BytesIO(image + bytes(5_000_001))
    huge.name = "huge.jpg"
    assert api_alice.post("/api/v1/media/", {"file": huge}, format="multipart").json()["limit"] == "MMS_MAX_FILE_BYTES"

    fields = {"name": "Spring MMS", "body": "Hi {{first_name}}!", "media": [media["id"]]}
    campaign = api_alice.post("/api/v1/campaigns/", fields, format="json").json()
    workers.start()
    assert api_alice.post(f"/api/v1/campaigns/{campaign['id']}/send/", {}, format="json").status_code == 202
    # In use by a campaign that is sending: the file cannot be deleted.
    assert api_alice.delete(f"/api/v1/media/{media['id']}/").status_code == 409
    sent = lambda: Campaign.objects.get(pk=campaign["id"]).status == "sent"  # noqa: E731
    e2e._wait(sent, 45, "the campaign to be sent", workers)

    sends = fake.sends()
    assert sorted(r.form["To"] for r in sends) == sorted(c.phone_number for c in contacts)  # one request each
    for r in sends:
        assert r.media_urls == [media["url"]]
        assert r.media_urls[0].startswith(public_origin + "/")
    assert set(Message.objects.filter(campaign_id=campaign["id"]).values_list("mms", flat=True)) == {True}

    # What Twilio does with the URL: HEAD, then GET, with no credentials.
    head = requests.head(media["url"], timeout=10)
    assert head.status_code == 200 and head.headers["Content-Type"] == "image/jpeg"
    got = requests.get(media["url"], timeout=10)
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "image/jpeg" and got.content == image
    assert int(got.headers["Content-Length"]) == len(image)
    assert requests.get(media["url"].replace("/media/", "/media/x"), timeout=10).status_code == 404
    assert workers.errors() == ""
