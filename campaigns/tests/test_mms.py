"""MMS campaigns: media on create/update (API), the preview's MMS price and fallbacks, the fan-out's choice per
recipient, and the send's ``MediaUrl`` (through the local Twilio-compatible server), with no query per message."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.authoring import campaign_preview
from campaigns.models import CampaignMedia, CampaignStatus, Message, MessageStatus, MmsFallback
from campaigns.sending import dispatch
from campaigns.sending.fanout import messages_materialise
from campaigns.tests.factories import CampaignFactory, MessageFactory
from contacts.tests.factories import ContactFactory
from links.models import ShortLink
from media.destinations import mms_capable
from media.tests.factories import MediaFileFactory

pytestmark = pytest.mark.usefixtures("open_hours", "abroad_allowed")  # abroad: geo permissions (guard)

ABROAD = "+442071838750"  # London: no MMS from Twilio
PUERTO_RICO = "+17875550123"  # +1, but not the US or Canada
TORONTO = "+14165550123"


def _create(client, **fields):
    return client.post("/api/v1/campaigns/", {"name": "MMS", **fields}, format="json")


# --- the API -------------------------------------------------------------------------------------------


def test_create_with_media_and_an_empty_body(api_alice, tenant_a):
    first, second = MediaFileFactory(tenant=tenant_a), MediaFileFactory(tenant=tenant_a)
    response = _create(api_alice, body="", media=[second.pk, first.pk], mms_fallback="link")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["media"] == [second.pk, first.pk] and body["mms_fallback"] == "link"
    assert api_alice.get(f"/api/v1/campaigns/{body['id']}/").json()["media"] == [second.pk, first.pk]
    rows = CampaignMedia.objects.filter(campaign_id=body["id"]).values_list("variant", "position", "media_id")
    assert list(rows) == [(0, 0, second.pk), (0, 1, first.pk)]
    listed = api_alice.get("/api/v1/campaigns/").json()["results"]
    assert [c["media"] for c in listed if c["id"] == body["id"]] == [[second.pk, first.pk]]
    reordered = api_alice.patch(f"/api/v1/campaigns/{body['id']}/", {"media": [first.pk]}, format="json")
    assert reordered.status_code == 200 and reordered.json()["media"] == [first.pk]
    # Without media the body is required again.
    changed = api_alice.patch(f"/api/v1/campaigns/{body['id']}/", {"media": []}, format="json")
    assert changed.status_code == 400 and "body" in changed.json()
    assert _create(api_alice, body="").status_code == 400


def test_media_of_another_tenant_or_over_the_limits_is_a_400_naming_media(api_alice, tenant_a, tenant_b, settings):
    theirs = MediaFileFactory(tenant=tenant_b)
    response = _create(api_alice, body="Hi", media=[theirs.pk])
    assert response.status_code == 400 and "media" in response.json()
    assert str(theirs.pk) in response.json()["media"][0]
    eleven = [MediaFileFactory(tenant=tenant_a).pk for _ in range(11)]
    response = _create(api_alice, body="Hi", media=eleven)
    assert response.status_code == 400 and "MMS_MAX_MEDIA_PER_MESSAGE" in response.json()["media"][0]
    settings.MMS_MAX_MESSAGE_BYTES = 100
    response = _create(api_alice, body="Hi", media=eleven[:2])
    assert response.status_code == 400 and "MMS_MAX_MESSAGE_BYTES" in response.json()["media"][0]
    assert _create(api_alice, body="Hi", media=["x"]).status_code == 400


def test_link_fallback_with_a_body_that_uses_link_is_a_400(api_alice, tenant_a):
    media = MediaFileFactory(tenant=tenant_a)
    response = _create(
        api_alice, body="Hi {{link}}", link_url="https://shop.example/x", media=[media.pk], mms_fallback="link"
    )
    assert response.status_code == 400 and "mms_fallback" in response.json()
    assert _create(api_alice, body="Hi", media=[media.pk], mms_fallback="maybe").status_code == 400


def test_variants_may_differ_in_media(api_alice, tenant_a):
    a, b = MediaFileFactory(tenant=tenant_a), MediaFileFactory(tenant=tenant_a)
    variants = [{"body": "A", "percent": 50}, {"body": "", "percent": 50, "media": [b.pk]}]
    response = _create(api_alice, body="A", media=[a.pk], variants=variants)
    assert response.status_code == 201, response.content
    rows = CampaignMedia.objects.filter(campaign_id=response.json()["id"]).values_list("variant", "media_id")
    assert sorted(rows) == [(0, a.pk), (1, b.pk)]
    # A variant with neither text nor media is refused.
    bad = [{"body": "A", "percent": 50}, {"body": "", "percent": 50}]
    assert "variants" in _create(api_alice, body="A", variants=bad).json()


def test_outsider_cannot_see_a_campaigns_media(api_alice, api_charlie, tenant_a):
    media = MediaFileFactory(tenant=tenant_a)
    created = _create(api_alice, body="Hi", media=[media.pk]).json()
    assert api_charlie.get(f"/api/v1/campaigns/{created['id']}/").status_code == 404
    assert api_charlie.patch(f"/api/v1/campaigns/{created['id']}/", {"media": []}, format="json").status_code == 404


# --- who can take MMS ---------------------------------------------------------------------------------


def test_mms_destinations():
    assert mms_capable("+14155550123") and mms_capable(TORONTO)
    assert not mms_capable(ABROAD) and not mms_capable(PUERTO_RICO) and not mms_capable("+18765550123")


# --- the preview prices MMS per message ---------------------------------------------------------------


def test_preview_prices_mms_per_message_and_counts_fallbacks(tenant_a, settings):
    settings.MMS_PRICE_PER_MESSAGE = "0.0220"
    media = MediaFileFactory(tenant=tenant_a)
    for number in ("+14155550101", "+14155550102", TORONTO, ABROAD, PUERTO_RICO):
        ContactFactory(tenant=tenant_a, phone_number=number)
    landline = ContactFactory(tenant=tenant_a, phone_number="+14155550103")
    MessageFactory(campaign__tenant=tenant_a, tenant=tenant_a, contact=landline, status="failed", error_code=21614)
    body = "A long text " * 30  # 3 segments as SMS; one message as MMS
    skip = campaign_preview(tenant=tenant_a, body=body, media=[media.pk], mms_fallback=MmsFallback.SKIP)
    assert (skip.billable_recipients, skip.mms_recipients, skip.skipped_recipients) == (6, 3, 3)
    assert skip.mms and skip.total_segments == 0
    assert Decimal(skip.estimated_cost) == (Decimal("0.0220") * 3).quantize(Decimal("0.01"))
    assert skip.bodies[0].media[0]["url"] == media.public_path
    link = campaign_preview(tenant=tenant_a, body=body, media=[media.pk], mms_fallback=MmsFallback.LINK)
    assert (link.mms_recipients, link.fallback_recipients) == (3, 3)
    per_text = link.bodies[0].fallback_segments
    assert per_text >= 3 and link.total_segments == 3 * per_text
    expected = Decimal("0.0220") * 3 + Decimal(settings.SMS_PRICE_PER_SEGMENT) * 3 * per_text
    assert Decimal(link.estimated_cost) == expected.quantize(Decimal("0.01"))
    sms = campaign_preview(tenant=tenant_a, body=body)
    assert not sms.mms and sms.total_segments == 6 * 3


def test_preview_api_takes_media(api_alice, tenant_a, tenant_b):
    media = MediaFileFactory(tenant=tenant_a)
    ContactFactory(tenant=tenant_a)
    answer = api_alice.post("/api/v1/campaigns/preview/", {"body": "", "media": [media.pk]}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["mms_recipients"] == 1 and answer.json()["price_per_mms"] == "0.0220"
    theirs = MediaFileFactory(tenant=tenant_b)
    refused = api_alice.post("/api/v1/campaigns/preview/", {"body": "x", "media": [theirs.pk]}, format="json")
    assert refused.status_code == 400 and "media" in refused.json()


# --- the fan-out and the send ---------------------------------------------------------------------------


def _mms_campaign(tenant, numbers, *, fallback=MmsFallback.SKIP, body="Spring is here", media=None, **kw):
    contacts = [ContactFactory(tenant=tenant, phone_number=n) for n in numbers]
    campaign = CampaignFactory(
        tenant=tenant, status=CampaignStatus.SENDING, body=body, link_url="", mms_fallback=fallback, **kw
    )
    for position, m in enumerate(media or [MediaFileFactory(tenant=tenant)]):
        CampaignMedia.objects.create(campaign=campaign, media=m, position=position)
    return campaign, contacts


def test_fanout_skips_who_cannot_take_mms_with_the_reason(tenant_a):
    campaign, (us, abroad) = _mms_campaign(tenant_a, ["+14155550111", ABROAD])
    result = messages_materialise(campaign_id=campaign.pk)
    assert (result.pending, result.suppressed) == (1, 1)
    mine = Message.objects.get(contact=us)
    assert mine.mms and mine.segments == 1 and mine.status == MessageStatus.PENDING
    skipped = Message.objects.get(contact=abroad)
    assert skipped.status == MessageStatus.SUPPRESSED and not skipped.mms
    assert "No MMS" in skipped.error_message


def test_fanout_link_fallback_is_the_recipients_own_short_link_to_the_image(tenant_a, settings):
    media = MediaFileFactory(tenant=tenant_a)
    campaign, (us, abroad, flagged) = _mms_campaign(
        tenant_a, ["+14155550121", ABROAD, "+14155550122"], fallback=MmsFallback.LINK, media=[media]
    )
    MessageFactory(campaign__tenant=tenant_a, tenant=tenant_a, contact=flagged, status="undelivered", error_code=30006)
    messages_materialise(campaign_id=campaign.pk)
    assert Message.objects.get(campaign=campaign, contact=us).mms
    for contact in (abroad, flagged):
        m = Message.objects.get(campaign=campaign, contact=contact)
        assert not m.mms and m.status == MessageStatus.PENDING
        link = ShortLink.objects.get(message=m)
        assert link.target_url == media.public_url and link.campaign_id == campaign.pk
        assert m.body.startswith(f"Spring is here\n{settings.SHORT_LINK_BASE_URL}/{link.code}")
    assert not ShortLink.objects.filter(message__contact=us).exists()


def test_send_carries_one_media_url_per_file_on_the_public_origin(fake_twilio, tenant_a, settings):
    files = [MediaFileFactory(tenant=tenant_a), MediaFileFactory(tenant=tenant_a)]
    campaign, contacts = _mms_campaign(
        tenant_a, ["+14155550131", TORONTO, ABROAD], fallback=MmsFallback.LINK, media=files, body=""
    )
    messages_materialise(campaign_id=campaign.pk)
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    assert dispatch.messages_send_batch(message_ids=ids).sent == 3
    by_to = {r.form["To"]: r for r in fake_twilio.sends()}
    urls = [f"{settings.PUBLIC_BASE_URL}/media/{f.token}/{f.filename}" for f in files]
    for number in ("+14155550131", TORONTO):
        assert by_to[number].media_urls == urls
        assert by_to[number].form["Body"] == "Reply STOP to opt out"  # no text of its own: only the first-contact line
    assert by_to[ABROAD].media_urls == [] and settings.SHORT_LINK_BASE_URL in by_to[ABROAD].form["Body"]
    created = {m["to"]: m for m in fake_twilio.created()}
    assert created["+14155550131"]["num_media"] == "2"


def test_ab_variants_send_their_own_media(fake_twilio, tenant_a):
    a, b = MediaFileFactory(tenant=tenant_a), MediaFileFactory(tenant=tenant_a)
    contacts = [ContactFactory(tenant=tenant_a) for _ in range(12)]
    campaign = CampaignFactory(
        tenant=tenant_a,
        status=CampaignStatus.SENDING,
        link_url="",
        variants=[{"body": "A", "percent": 50}, {"body": "B", "percent": 50, "media": [b.pk]}],
    )
    CampaignMedia.objects.create(campaign=campaign, media=a, variant=0)
    CampaignMedia.objects.create(campaign=campaign, media=b, variant=1)
    messages_materialise(campaign_id=campaign.pk)
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    dispatch.messages_send_batch(message_ids=ids)
    variant_of = dict(Message.objects.filter(campaign=campaign).values_list("to", "variant"))
    assert len(set(variant_of.values())) == 2 and len(fake_twilio.sends()) == len(contacts)
    for r in fake_twilio.sends():
        token = (a, b)[variant_of[r.form["To"]]].token
        assert len(r.media_urls) == 1 and f"/media/{token}/" in r.media_urls[0]


@pytest.mark.parametrize("n", [4, 12])
def test_media_adds_one_query_per_batch_not_per_message(fake_twilio, tenant_a, tenant_b, settings, n):
    """The send path resolves the campaign's media once per batch: an MMS batch makes one query more than the
    same batch as SMS, whatever its size."""
    settings.SENDING_RECORD_EVERY, settings.SENDING_RECORD_SECONDS = 10_000, 60.0  # one record at the end

    def queries(campaign) -> int:
        messages_materialise(campaign_id=campaign.pk)
        ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
        with CaptureQueriesContext(connection) as ctx:
            assert dispatch.messages_send_batch(message_ids=ids).sent == n
        return len(ctx.captured_queries)

    numbers = [f"+1415556{i:04d}" for i in range(2 * n)]
    sms, _ = _mms_campaign(tenant_b, numbers[:n])  # another tenant: its own audience
    CampaignMedia.objects.filter(campaign=sms).delete()
    mms, _ = _mms_campaign(tenant_a, numbers[n:])
    assert queries(mms) - queries(sms) == 1
