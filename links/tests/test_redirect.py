"""The redirect: 302 + no-store with UTM merged, honest click capture, 404/410/429. Both capture modes."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client
from django.urls import clear_url_caches
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory, MessageFactory
from links.models import CampaignClickCount, Click, ShortLink
from links.selectors import campaign_click_counts, message_click_counts
from links.services import short_link_create, short_links_create_for_messages

from .test_clickinfo import ANDROID, IPHONE, PREVIEWS

MODES = ["direct", "redis"]


@pytest.fixture(params=MODES)
def mode(request, settings):
    if request.param == "redis":
        request.getfixturevalue("links_redis")
    return request.param


def flush(mode: str) -> None:
    """Let the click writer run (the Redis mode queues; the direct mode already wrote)."""
    if mode == "redis":
        from links.writer import ClickWriter

        ClickWriter(consumer="test-writer").drain(time_budget=10)


def campaign_links(tenant, n=2, link_url="https://shop.example.com/sale?ref=sms%20promo&x=1", name="Spring Sale!"):
    campaign = CampaignFactory(tenant=tenant, name=name, link_url=link_url)
    messages = [MessageFactory(campaign=campaign, tenant=tenant) for _ in range(n)]
    codes = short_links_create_for_messages(
        tenant=tenant, campaign_id=campaign.pk, target_url=link_url, message_ids=[m.pk for m in messages]
    )
    return campaign, messages, [codes[m.pk] for m in messages]


def get(code, ua=IPHONE, method="get", client=None, **extra):
    client = client or Client()
    return getattr(client, method)(f"/l/{code}", HTTP_USER_AGENT=ua, **extra)


def test_redirect_302_no_store_with_query_kept_and_utm_added(mode, tenant_a):
    campaign, _messages, codes = campaign_links(tenant_a)
    resp = get(codes[0])
    assert resp.status_code == 302
    assert resp["Cache-Control"] == "no-store"
    location = resp["Location"]
    assert location.startswith("https://shop.example.com/sale?ref=sms%20promo&x=1&")  # original query verbatim
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["utm_source"] == "sms" and query["utm_medium"] == "sms"
    assert query["utm_campaign"] == "spring-sale"
    assert query["ref"] == "sms promo"


def test_utm_already_present_is_not_overridden(mode, tenant_a):
    _c, _m, codes = campaign_links(tenant_a, 1, link_url="https://x.example/p?utm_source=newsletter#top")
    location = get(codes[0])["Location"]
    query = parse_qsl(urlsplit(location).query)
    assert [v for k, v in query if k == "utm_source"] == ["newsletter"]
    assert ("utm_medium", "sms") in query and urlsplit(location).fragment == "top"


def test_click_captured_with_device_os_browser_country(mode, tenant_a, settings):
    settings.LINKS_TRUSTED_PROXIES = ["127.0.0.1"]
    campaign, messages, codes = campaign_links(tenant_a)
    assert get(codes[0], HTTP_X_FORWARDED_FOR="81.2.69.160").status_code == 302
    flush(mode)
    click = Click.objects.get()
    assert click.tenant_id == tenant_a.pk and click.campaign_id == campaign.pk
    assert click.message_id == messages[0].pk and click.contact_id == messages[0].contact_id
    assert (click.device_type, click.os_family, click.browser_family) == ("mobile", "iOS", "Mobile Safari")
    assert click.ip_address == "81.2.69.0" and click.country == "GB"
    assert not click.is_bot and click.is_unique


def test_previews_head_redirected_but_not_counted_as_human(mode, tenant_a):
    campaign, messages, codes = campaign_links(tenant_a, 1)
    for ua in PREVIEWS.values():
        assert get(codes[0], ua=ua).status_code == 302
    assert get(codes[0], method="head").status_code == 302
    flush(mode)
    assert Click.objects.filter(is_bot=True).count() == len(PREVIEWS) + 1
    assert Click.objects.get(method="HEAD").bot_reason == "HEAD request"
    assert campaign_click_counts(campaign.pk) == {"clicks": 0, "unique_clicks": 0, "bot_hits": len(PREVIEWS) + 1}
    assert message_click_counts([messages[0].pk]) == {messages[0].pk: 0}


def test_unique_clicks_are_exact_per_recipient(mode, tenant_a):
    campaign, messages, codes = campaign_links(tenant_a, 3)
    get(codes[0], ua=PREVIEWS["imessage"])  # the preview comes first; the person after
    for _ in range(3):
        get(codes[0], ua=IPHONE)
    get(codes[1], ua=ANDROID)
    flush(mode)
    get(codes[1], ua=ANDROID)  # a later batch: still the same recipient
    flush(mode)
    assert campaign_click_counts(campaign.pk) == {"clicks": 5, "unique_clicks": 2, "bot_hits": 1}
    assert message_click_counts([m.pk for m in messages]) == {messages[0].pk: 3, messages[1].pk: 2, messages[2].pk: 0}
    assert Click.objects.filter(is_unique=True).count() == 2
    first = ShortLink.objects.get(code=codes[0])
    assert (first.human_clicks, first.bot_hits, first.unique_clicks) == (3, 1, 1)
    assert first.first_clicked_at <= first.last_clicked_at


def test_counters_are_maintained_not_counted(mode, tenant_a, django_assert_max_num_queries):
    """Reading the stats never scans the clicks table: the counters row is the source."""
    campaign, _m, codes = campaign_links(tenant_a, 1)
    get(codes[0])
    flush(mode)
    Click.objects.all().delete()  # gone from the table, still counted
    assert campaign_click_counts(campaign.pk)["clicks"] == 1
    with django_assert_max_num_queries(1):
        campaign_click_counts(campaign.pk)


def test_unknown_code_is_the_404_page(mode, db):
    resp = get("Zz9Zz9Zz")
    assert resp.status_code == 404
    assert b"This link does not exist" in resp.content
    assert resp["Cache-Control"] == "no-store"
    assert get("bad!code").status_code == 404  # never matches the route
    assert Client().get("/l/ab").status_code == 404  # too short to be a code
    assert Click.objects.count() == 0


def test_expired_link_is_a_friendly_page_and_no_click(mode, tenant_a):
    link = short_link_create(
        tenant=tenant_a, target_url="https://x.example/", expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    resp = get(link.code)
    assert resp.status_code == 410
    assert b"expired" in resp.content
    assert get(link.code).status_code == 410  # cached the second time, same answer
    flush(mode)
    assert Click.objects.count() == 0


def test_link_not_yet_expired_redirects(mode, tenant_a):
    link = short_link_create(
        tenant=tenant_a, target_url="https://x.example/", expires_at=timezone.now() + dt.timedelta(days=1)
    )
    assert get(link.code).status_code == 302


def test_probing_unknown_codes_gets_429(mode, tenant_a, settings):
    settings.LINKS_PROBE_LIMIT = 5
    _c, _m, codes = campaign_links(tenant_a, 1)
    statuses = [get(f"Unkn0wn{i}").status_code for i in range(7)]
    assert statuses == [404] * 5 + [429] * 2
    blocked = get("Unkn0wnX")
    assert blocked.status_code == 429 and blocked["Retry-After"] == str(settings.LINKS_PROBE_WINDOW)
    # Another address is not affected.
    assert get("Unkn0wnY", REMOTE_ADDR="198.51.100.7").status_code == 404


def test_a_blocked_address_still_gets_its_valid_codes(mode, tenant_a, settings):
    """#15 item 6: the limiter refuses misses only. Behind an untrusted proxy every recipient shares
    the proxy's address, so one prober must not take their links away."""
    settings.LINKS_PROBE_LIMIT = 5
    campaign, messages, codes = campaign_links(tenant_a, 2)
    proxy = {"HTTP_X_FORWARDED_FOR": "203.0.113.66"}  # no LINKS_TRUSTED_PROXIES: everyone is 127.0.0.1
    assert [get(f"Pr0be{i:03d}", **proxy).status_code for i in range(7)] == [404] * 5 + [429] * 2
    # A recipient behind the same proxy: the code's first tap (not cached yet) and later ones (cached).
    first = get(codes[0], HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert first.status_code == 302 and first["Location"].startswith("https://shop.example.com/sale?")
    assert get(codes[0]).status_code == 302
    assert get(codes[1], ua=ANDROID).status_code == 302
    # Misses stay refused for the window.
    assert get("Pr0be999", **proxy).status_code == 429
    flush(mode)
    assert Click.objects.count() == 3
    assert campaign_click_counts(campaign.pk)["unique_clicks"] == 2


def test_a_non_web_target_is_never_redirected_to(mode, tenant_a, django_capture_on_commit_callbacks):
    """#15 item 7: a stored ftp:// target (written before authoring refused it) is answered 404,
    even from the warm cache the fan-out fills, and no click is recorded."""
    with django_capture_on_commit_callbacks(execute=True):  # the cache warm runs, as after a real fan-out
        _c, _m, codes = campaign_links(tenant_a, 1, link_url="ftp://files.example/price-list.pdf")
    for _ in range(2):  # a cache fill in between must not change the answer
        resp = get(codes[0])
        assert resp.status_code == 404 and "Location" not in resp
        assert b"This link does not exist" in resp.content
    one_off = ShortLink.objects.create(tenant=tenant_a, code="JsTarget1", target_url="javascript:alert(1)")
    assert get(one_off.code).status_code == 404
    flush(mode)
    assert Click.objects.count() == 0
    # The check is on the scheme, in any case.
    upper = short_link_create(tenant=tenant_a, target_url="HTTPS://x.example/p")
    assert get(upper.code).status_code == 302


def test_forwarded_header_without_trusted_proxies_is_warned_about_once(db, tenant_a, caplog, monkeypatch, settings):
    from links import clickinfo

    monkeypatch.setattr(clickinfo, "_forwarded_warned", False, raising=False)
    settings.LINKS_TRUSTED_PROXIES = []
    link = short_link_create(tenant=tenant_a, target_url="https://x.example/")
    with caplog.at_level("WARNING", logger="links.clickinfo"):
        assert get(link.code).status_code == 302  # no header: nothing to say
        assert not caplog.records
        for hop in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            assert get(link.code, HTTP_X_FORWARDED_FOR=hop).status_code == 302
            assert get("Unkn0wnZ", HTTP_X_FORWARDED_FOR=hop).status_code == 404
    warnings = [r for r in caplog.records if r.name == "links.clickinfo"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "X-Forwarded-For" in message and "LINKS_TRUSTED_PROXIES" in message
    assert "198.51.100" not in message  # no client address in the log


def test_forwarded_header_from_a_trusted_proxy_is_not_warned_about(db, tenant_a, caplog, monkeypatch, settings):
    from links import clickinfo

    monkeypatch.setattr(clickinfo, "_forwarded_warned", False, raising=False)
    settings.LINKS_TRUSTED_PROXIES = ["127.0.0.1"]
    link = short_link_create(tenant=tenant_a, target_url="https://x.example/")
    with caplog.at_level("WARNING", logger="links.clickinfo"):
        assert get(link.code, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 302
    assert not [r for r in caplog.records if r.name == "links.clickinfo"]


def test_only_get_and_head(db):
    assert Client().post("/l/abcdefgh").status_code == 405


def test_admin_change_of_target_is_served(mode, tenant_a, alice):
    link = short_link_create(tenant=tenant_a, target_url="https://old.example/")
    assert get(link.code)["Location"].startswith("https://old.example/")
    from links.services import short_link_changed

    link.target_url = "https://new.example/"
    link.save()
    short_link_changed(link=link)
    from links.capture import link_cache_forget

    link_cache_forget(link.code)  # on_commit does not run inside the test transaction
    assert get(link.code)["Location"].startswith("https://new.example/")


@pytest.mark.parametrize("base,path", [("https://sms.example", "/"), ("https://sms.example/go/", "/go/")])
def test_mounted_at_the_path_of_short_link_base_url(base, path, settings, tenant_a):
    import importlib

    import smscampaigns.urls

    settings.SHORT_LINK_BASE_URL = base.rstrip("/")
    try:
        importlib.reload(smscampaigns.urls)
        clear_url_caches()
        link = short_link_create(tenant=tenant_a, target_url="https://x.example/")
        client = Client()
        assert client.get(f"{path}{link.code}", HTTP_USER_AGENT=IPHONE).status_code == 302
        assert client.get("/healthz").status_code == 200  # not shadowed
        assert client.get("/admin/login/").status_code == 200
        assert client.get("/api/v1/contacts/").status_code == 401
    finally:
        settings.SHORT_LINK_BASE_URL = "http://127.0.0.1:8000/l"
        importlib.reload(smscampaigns.urls)
        clear_url_caches()


def test_tenants_stay_apart(mode, tenant_a, tenant_b):
    ca, _ma, codes_a = campaign_links(tenant_a, 1)
    cb, _mb, codes_b = campaign_links(tenant_b, 1)
    get(codes_a[0])
    get(codes_b[0])
    get(codes_b[0])
    flush(mode)
    assert set(Click.objects.filter(tenant=tenant_a).values_list("campaign_id", flat=True)) == {ca.pk}
    assert Click.objects.for_tenant(tenant_b).count() == 2
    counts = {c.campaign_id: (c.tenant_id, c.clicks) for c in CampaignClickCount.objects.all()}
    assert counts == {ca.pk: (tenant_a.pk, 1), cb.pk: (tenant_b.pk, 2)}


def test_taps_take_the_fast_lane_past_the_middleware_stack(tenant_a):
    link = short_link_create(tenant=tenant_a, target_url="https://x.example/")
    client = Client()
    resp = client.get(f"/l/{link.code}", HTTP_USER_AGENT=IPHONE)
    assert resp.status_code == 302
    assert "X-Frame-Options" not in resp  # the clickjacking middleware (inner) never ran
    assert client.get("/healthz").status_code == 200
    assert "X-Frame-Options" in client.get("/admin/login/")  # everything else goes through the stack
    assert client.post(f"/l/{link.code}").status_code == 405  # not GET/HEAD: the route answers
