"""The media library and the campaign's media picker in the admin: scoped to the tenant, uploads checked by
content, delete refused while a pending campaign uses the file."""

from __future__ import annotations

import io

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from campaigns.models import Campaign, CampaignMedia
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from guard.tests.factories import allow_countries
from media.models import MediaFile
from media.tests.factories import MediaFileFactory, image_bytes

pytestmark = pytest.mark.django_db


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _file(data: bytes, name: str):
    buf = io.BytesIO(data)
    buf.name = name
    return buf


def test_upload_through_the_admin_is_checked_by_content(alice, tenant_a):
    client = _login(alice)
    url = reverse("admin:media_mediafile_add")
    refused = client.post(url, {"upload": _file(b"plain text, honest", "cat.jpg")})
    assert refused.status_code == 200 and "Accepted: JPEG, PNG, GIF or PDF" in refused.content.decode()
    assert MediaFile.objects.count() == 0
    done = client.post(url, {"upload": _file(image_bytes("GIF"), "cat.gif")})
    assert done.status_code == 302
    media = MediaFile.objects.get()
    assert (media.tenant, media.content_type, media.created_by) == (tenant_a, "image/gif", alice)


def test_list_shows_thumbnails_of_the_tenants_own_files(alice, tenant_a, tenant_b):
    mine, theirs = MediaFileFactory(tenant=tenant_a), MediaFileFactory(tenant=tenant_b)
    client = _login(alice)
    html = client.get(reverse("admin:media_mediafile_changelist")).content.decode()
    assert f'src="{mine.public_path}"' in html and theirs.token not in html
    assert client.get(reverse("admin:media_mediafile_change", args=[theirs.pk])).status_code in (302, 404)
    assert client.post(reverse("admin:media_mediafile_delete", args=[theirs.pk]), {"post": "yes"}).status_code in (
        302,
        404,
    )
    assert MediaFile.objects.filter(pk=theirs.pk).exists()


def test_delete_is_refused_with_a_clear_message_while_a_pending_campaign_uses_it(alice, tenant_a):
    media = MediaFileFactory(tenant=tenant_a)
    campaign = CampaignFactory(tenant=tenant_a, name="Spring MMS")
    CampaignMedia.objects.create(campaign=campaign, media=media)
    client = _login(alice)
    response = client.post(reverse("admin:media_mediafile_delete", args=[media.pk]), {"post": "yes"})
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Spring MMS" in m and "may still send" in m for m in said), said
    assert MediaFile.objects.filter(pk=media.pk).exists()
    # The bulk action too.
    response = client.post(
        reverse("admin:media_mediafile_changelist"),
        {"action": "delete_selected", "_selected_action": [media.pk], "post": "yes"},
    )
    assert MediaFile.objects.filter(pk=media.pk).exists()
    CampaignMedia.objects.all().delete()
    client.post(reverse("admin:media_mediafile_delete", args=[media.pk]), {"post": "yes"})
    assert not MediaFile.objects.filter(pk=media.pk).exists()


def test_campaign_form_picks_media_from_the_tenants_library(alice, tenant_a, tenant_b):
    mine, other = MediaFileFactory(tenant=tenant_a), MediaFileFactory(tenant=tenant_a)
    theirs = MediaFileFactory(tenant=tenant_b)
    client = _login(alice)
    html = client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert f'src="{mine.public_path}"' in html and 'name="media"' in html
    assert theirs.token not in html
    response = client.post(
        reverse("admin:campaigns_campaign_add"),
        {"name": "Pics", "purpose": "marketing", "body": "", "media": [other.pk, mine.pk], "mms_fallback": "link"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(name="Pics")
    assert campaign.mms_fallback == "link"
    assert set(CampaignMedia.objects.filter(campaign=campaign).values_list("media_id", flat=True)) == {
        mine.pk,
        other.pk,
    }
    # Another tenant's file cannot be posted into the form.
    refused = client.post(
        reverse("admin:campaigns_campaign_add"), {"name": "Theirs", "body": "Hi", "media": [theirs.pk]}
    )
    assert refused.status_code == 200 and not Campaign.objects.filter(name="Theirs").exists()


def test_preview_shows_the_media_and_the_mms_counts(alice, tenant_a):
    media = MediaFileFactory(tenant=tenant_a)
    ContactFactory(tenant=tenant_a, phone_number="+14155550190")
    ContactFactory(tenant=tenant_a, phone_number="+442071838750")
    allow_countries(tenant_a, "US, GB")  # the fraud guard's geo permissions: by default the US only
    answer = (
        _login(alice)
        .post(
            reverse("admin:campaigns_campaign_preview"),
            {"body": "Look!", "media": [media.pk], "mms_fallback": "skip", "purpose": "marketing"},
        )
        .json()
    )
    assert answer["mms"] and (answer["mms_recipients"], answer["skipped_recipients"]) == (1, 1)
    assert answer["bodies"][0]["media"][0]["url"] == media.public_path
