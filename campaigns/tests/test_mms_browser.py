"""The admin in a real browser (Debian's Chromium through Playwright, against a live server): the author picks an
image from the media library for a campaign, and the preview shows it beside the text, under a strict CSP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignMedia
from campaigns.tests.test_dashboard_browser import _login, _strict_csp
from contacts.tests.factories import ContactFactory
from guard.tests.factories import allow_countries
from media.tests.factories import MediaFileFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_picks_media_and_the_preview_shows_it(page, live_server, alice, tenant_a, tenant_b):
    mine = MediaFileFactory(tenant=tenant_a, original_name="spring-sale.png")
    theirs = MediaFileFactory(tenant=tenant_b, original_name="bobs-bikes.png")
    ContactFactory(tenant=tenant_a, first_name="Ada", phone_number="+14155550177")
    ContactFactory(tenant=tenant_a, first_name="Bea", phone_number="+442071838750")  # cannot take MMS
    allow_countries(tenant_a, "US, GB")  # the fraud guard's geo permissions: by default the US only
    violations: list[str] = []
    _strict_csp(page, violations)
    url = reverse("admin:campaigns_campaign_add")
    _login(page, live_server, alice, url)
    page.goto(f"{live_server.url}{url}")

    # The picker offers the tenant's library as thumbnails, never another tenant's file.
    picker = page.locator("[data-media-picker]")
    assert picker.locator(f'img[src="{mine.public_path}"]').count() == 1
    assert theirs.token not in page.content()

    page.fill("#id_name", "Spring MMS")
    page.fill("#id_body", "Hi {{first_name}}, spring is here!")
    picker.locator("label", has_text="spring-sale.png").click()
    image = page.locator(f'#campaign-preview img.cp-media-img[src="{mine.public_path}"]')
    image.wait_for(state="visible")
    # The image really loaded from the public URL (what Twilio will fetch), beside the text.
    assert page.evaluate("(img) => img.complete && img.naturalWidth", image.element_handle()) == 8
    assert page.inner_text("#campaign-preview .cp-mms .cp-phone").startswith("Hi Ada, spring is here!")
    assert page.inner_text(".cp-mms-recipients") == "1"
    assert page.inner_text(".cp-mms-fallback") == "1 skipped"
    assert "an MMS" in page.inner_text(".cp-cost")

    with page.expect_navigation():
        page.click("input[name=_save]")
    campaign = Campaign.objects.get(name="Spring MMS")
    assert list(CampaignMedia.objects.filter(campaign=campaign).values_list("media_id", flat=True)) == [mine.pk]
    assert page.evaluate("() => window.__csp") == [] and violations == []
