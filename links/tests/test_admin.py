"""Admin: links with their counts; clicks filtered by human/bot, device, OS, country, campaign — per tenant."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from campaigns.tests.factories import CampaignFactory
from links.tests.factories import ClickFactory, ShortLinkFactory


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_click_filters_and_campaign_choices_are_the_tenants_own(tenant_a, tenant_b, alice):
    mine = CampaignFactory(tenant=tenant_a, name="Acme Spring")
    theirs = CampaignFactory(tenant=tenant_b, name="Bobs Secret Sale")
    link = ShortLinkFactory(tenant=tenant_a, campaign=mine)
    human = ClickFactory(tenant=tenant_a, link=link, campaign=mine, os_family="iOS", country="GB")
    bot = ClickFactory(
        tenant=tenant_a, link=link, campaign=mine, is_bot=True, bot_reason="link preview: WhatsApp", country="US"
    )
    other = ClickFactory(tenant=tenant_b, campaign=theirs, os_family="Android", country="FR")
    client = _client(alice)
    url = reverse("admin:links_click_changelist")

    page = client.get(url).content.decode()
    assert "Acme Spring" in page and "Bobs Secret Sale" not in page  # campaign filter offers only own campaigns
    # Country and OS choices come from own rows only (filter links, not bare text: a CSRF token may spell "FR").
    assert "country=GB" in page and "os_family=iOS" in page
    assert "country=FR" not in page and "os_family=Android" not in page

    def ids(query: str) -> set[int]:
        resp = client.get(f"{url}?{query}")
        assert resp.status_code == 200
        return {c.pk for c in resp.context["cl"].result_list}

    assert ids("is_bot__exact=1") == {bot.pk}
    assert ids("is_bot__exact=0") == {human.pk}
    assert ids("country=GB") == {human.pk}
    assert ids("os_family=iOS") == {human.pk, bot.pk}
    assert ids("device_type__exact=mobile") == {human.pk, bot.pk}
    assert ids(f"campaign__id__exact={mine.pk}") == {human.pk, bot.pk}
    assert other.pk not in ids("")
    # Clicks are facts: nobody edits or adds them.
    assert client.get(reverse("admin:links_click_add")).status_code == 403
    resp = client.post(reverse("admin:links_click_change", args=[human.pk]), {"country": "XX"})
    assert resp.status_code == 403


def test_link_list_shows_counts(tenant_a, alice):
    ShortLinkFactory(tenant=tenant_a, code="Cnt12345", human_clicks=4, bot_hits=2)
    page = _client(alice).get(reverse("admin:links_shortlink_changelist")).content.decode()
    assert "Cnt12345" in page
    assert '<td class="field-human_clicks">4</td>' in page and '<td class="field-bot_hits">2</td>' in page


def test_editing_a_links_target_reaches_the_redirect(tenant_a, alice, django_capture_on_commit_callbacks):
    link = ShortLinkFactory(tenant=tenant_a, target_url="https://old.example/")
    client = _client(alice)
    assert client.get(f"/l/{link.code}", HTTP_USER_AGENT="x")["Location"].startswith("https://old.example/")
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            reverse("admin:links_shortlink_change", args=[link.pk]),
            {
                "target_url": "https://new.example/",
                "message": "",
                "campaign": "",
                "expires_at_0": "",
                "expires_at_1": "",
            },
        )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert client.get(f"/l/{link.code}", HTTP_USER_AGENT="x")["Location"].startswith("https://new.example/")
