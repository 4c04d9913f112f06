"""Branded short domains: host names, verification both ways (with fakes), the redirect by host, campaigns' links
on the tenant's domain, link expiry, Caddy's ask endpoint. Two tenants and an outsider throughout."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from campaigns.models import CampaignStatus, Message
from campaigns.sending.fanout import messages_materialise
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from links.domains import host_clean, tenant_for_host
from links.models import Click, DomainMethod, LinkDomain, LinkExpiry, ShortLink
from links.services import (
    link_domain_create,
    link_domain_delete,
    link_domain_update,
    link_domain_verify,
    link_expiry_set,
    short_link_base,
    short_links_cache_forget,
    short_url,
)
from links.verification import CHALLENGE_PATH, Fetched, check_http, http_fetch

from .test_clickinfo import IPHONE
from .test_redirect import campaign_links, flush

MODES = ["direct", "redis"]


@pytest.fixture(params=MODES)
def mode(request, settings):
    if request.param == "redis":
        request.getfixturevalue("links_redis")
    return request.param


def dns_with(records: dict[str, list[str]]):
    """A fake TXT lookup: ``{name: [values]}``; any other name does not exist."""

    def lookup(name: str) -> list[str]:
        if name not in records:
            raise LookupError(f"{name} does not exist in DNS.")
        return records[name]

    return lookup


def verified(tenant, host: str, **kw) -> LinkDomain:
    domain = link_domain_create(tenant=tenant, host=host, **kw)
    return link_domain_verify(domain=domain, lookup=dns_with({f"_smscampaigns.{domain.host}": [domain.token]}))


# --- host names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("Go.Shop.Example", "go.shop.example"),
        ("  go.shop.example.  ", "go.shop.example"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_host_is_lower_cased_and_idna_encoded(typed, clean):
    assert host_clean(typed) == clean


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "https://go.shop.example",
        "go.shop.example:8443",
        "go.shop.example/path",
        "203.0.113.9",
        "[2001:db8::1]",
        "1.2.3.4.5",
        "shop",
        "-bad-.example",
        "localhost",
        "printer.local",
        "user@go.shop.example",
        "127.0.0.1",  # the platform's own host, and an address
    ],
)
def test_bad_hosts_are_refused(typed):
    with pytest.raises(ValidationError):
        host_clean(typed)


def test_the_platforms_own_hosts_are_refused(settings):
    settings.SHORT_LINK_BASE_URL = "https://sms.platform.example"
    with pytest.raises(ValidationError, match="belongs to this platform"):
        host_clean("sms.platform.example")
    with pytest.raises(ValidationError, match="belongs to this platform"):
        host_clean("x.sms.platform.example")


# --- verification ------------------------------------------------------------------------------------------------


def test_dns_verification_with_the_token_verifies(tenant_a):
    domain = link_domain_create(tenant=tenant_a, host="go.acme.example")
    assert domain.method == DomainMethod.DNS and not domain.verified and len(domain.token) >= 24
    domain = link_domain_verify(domain=domain, lookup=dns_with({"_smscampaigns.go.acme.example": [domain.token]}))
    assert domain.verified and domain.last_error == "" and domain.last_checked_at is not None
    assert tenant_for_host("go.acme.example") == tenant_a.pk
    assert tenant_for_host("GO.ACME.EXAMPLE:443") == tenant_a.pk


def test_dns_verification_without_the_token_fails_and_says_why(tenant_a):
    domain = link_domain_create(tenant=tenant_a, host="go.acme.example")
    domain = link_domain_verify(domain=domain, lookup=dns_with({"_smscampaigns.go.acme.example": ["other"]}))
    assert not domain.verified and "holds the token" in domain.last_error
    domain = link_domain_verify(domain=domain, lookup=dns_with({}))
    assert not domain.verified and "does not exist" in domain.last_error
    assert tenant_for_host("go.acme.example") is None


def test_http_verification_through_our_own_answer_on_that_host(tenant_a):
    """The check fetches the token from the host; here the fetch is answered by this app with that Host header,
    as it is once the domain's CNAME points at the platform (before verification: no ALLOWED_HOSTS entry)."""
    domain = link_domain_create(tenant=tenant_a, host="go.acme.example", method=DomainMethod.HTTP)
    seen = []

    def fetch(url: str) -> Fetched:
        seen.append(url)
        host, path = url.removeprefix("http://").split("/", 1)
        resp = Client().get("/" + path, HTTP_HOST=host)
        return Fetched(resp.status_code, resp.content.decode())

    domain = link_domain_verify(domain=domain, fetch=fetch)
    assert seen == [f"http://go.acme.example{CHALLENGE_PATH}{domain.token}"]
    assert domain.verified, domain.last_error


def test_the_challenge_answers_only_the_right_host_and_token(tenant_a, tenant_b):
    a = link_domain_create(tenant=tenant_a, host="go.acme.example", method=DomainMethod.HTTP)
    b = link_domain_create(tenant=tenant_b, host="go.bobs.example", method=DomainMethod.HTTP)
    ok = Client().get(f"{CHALLENGE_PATH}{a.token}", HTTP_HOST="go.acme.example")
    assert ok.status_code == 200 and ok.content.decode() == a.token
    # Another domain's token on this host, or an unknown host: not answered (Django's host check: 400).
    assert Client().get(f"{CHALLENGE_PATH}{b.token}", HTTP_HOST="go.acme.example").status_code == 400
    assert Client().get(f"{CHALLENGE_PATH}{a.token}", HTTP_HOST="evil.example").status_code == 400


def test_http_check_fails_on_a_wrong_answer():
    assert "HTTP 404" in check_http("go.acme.example", "t" * 32, fetch=lambda url: Fetched(404, ""))
    assert "not with the token" in check_http("go.acme.example", "t" * 32, fetch=lambda url: Fetched(200, "nope"))


def test_the_real_http_fetch_refuses_private_addresses(monkeypatch, settings):
    """The SSRF guard: a host resolving to an internal address is never called."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False

    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    got = http_fetch("http://go.acme.example/.well-known/smscampaigns-verify/abc")
    assert got.status is None and "not a public address" in got.error


# --- uniqueness across tenants -----------------------------------------------------------------------------------


def test_a_domain_verified_by_one_tenant_cannot_be_claimed_by_another(tenant_a, tenant_b):
    verified(tenant_a, "go.acme.example")
    with pytest.raises(ValidationError) as err:
        link_domain_create(tenant=tenant_b, host="GO.acme.example")
    assert "in use by another account" in str(err.value.message_dict["host"])
    with pytest.raises(ValidationError, match="already added"):
        link_domain_create(tenant=tenant_a, host="go.acme.example")


def test_of_two_pending_claims_only_the_first_verified_wins(tenant_a, tenant_b):
    a = link_domain_create(tenant=tenant_a, host="go.shared.example")
    b = link_domain_create(tenant=tenant_b, host="go.shared.example")
    dns = dns_with({"_smscampaigns.go.shared.example": [a.token, b.token]})
    assert link_domain_verify(domain=a, lookup=dns).verified
    b = link_domain_verify(domain=b, lookup=dns)
    assert not b.verified and "in use by another account" in b.last_error
    assert tenant_for_host("go.shared.example") == tenant_a.pk


def test_one_domain_in_use_per_tenant(tenant_a):
    first = verified(tenant_a, "go.acme.example")
    second = verified(tenant_a, "links.acme.example")  # active by default: now the one in use
    first.refresh_from_db()
    assert not first.active and second.active
    assert short_link_base(tenant_a.pk) == "https://links.acme.example"
    link_domain_update(domain=first, active=True)
    assert short_link_base(tenant_a.pk) == "https://go.acme.example"
    # Both still serve their tenant's codes (links already sent keep working).
    assert tenant_for_host("links.acme.example") == tenant_for_host("go.acme.example") == tenant_a.pk


# --- the redirect by host ----------------------------------------------------------------------------------------


def test_branded_host_serves_its_tenants_codes_and_404s_anothers(mode, tenant_a, tenant_b):
    verified(tenant_a, "go.acme.example")
    campaign_a, _m, codes_a = campaign_links(tenant_a, 1)
    _c, _m, codes_b = campaign_links(tenant_b, 1)
    client = Client()
    # The shared domain serves both tenants' codes (and puts them in the lookup cache).
    assert client.get(f"/l/{codes_b[0]}", HTTP_USER_AGENT=IPHONE).status_code == 302
    assert client.get(f"/l/{codes_a[0]}", HTTP_USER_AGENT=IPHONE).status_code == 302
    resp = client.get(f"/{codes_a[0]}", HTTP_HOST="go.acme.example", HTTP_USER_AGENT=IPHONE)
    assert resp.status_code == 302 and resp["Location"].startswith("https://shop.example.com/sale")
    for _ in range(2):  # cached or not: another tenant's code is unknown here
        other = client.get(f"/{codes_b[0]}", HTTP_HOST="go.acme.example", HTTP_USER_AGENT=IPHONE)
        assert other.status_code == 404 and other["Cache-Control"] == "no-store"
    fresh = campaign_links(tenant_b, 1)[2][0]  # never asked for before: the database path
    assert client.get(f"/{fresh}", HTTP_HOST="go.acme.example", HTTP_USER_AGENT=IPHONE).status_code == 404
    flush(mode)
    assert Click.objects.filter(link__code=codes_a[0]).count() == 2
    assert Click.objects.filter(link__code__in=[codes_b[0], fresh]).count() == 1  # the 404s recorded nothing


def test_branded_host_serves_nothing_else(tenant_a):
    verified(tenant_a, "go.acme.example")
    client = Client()
    for path in ("/admin/", "/api/v1/campaigns/", "/", "/l/abcdefgh", "/healthz"):
        assert client.get(path, HTTP_HOST="go.acme.example").status_code == 404, path
    assert client.post("/abcdefgh", HTTP_HOST="go.acme.example").status_code == 405


def test_an_unverified_or_removed_domain_serves_nothing(tenant_a):
    domain = link_domain_create(tenant=tenant_a, host="go.acme.example")
    _c, _m, codes = campaign_links(tenant_a, 1)
    assert Client().get(f"/{codes[0]}", HTTP_HOST="go.acme.example").status_code == 400  # Django's host check
    domain = link_domain_verify(domain=domain, lookup=dns_with({"_smscampaigns.go.acme.example": [domain.token]}))
    assert Client().get(f"/{codes[0]}", HTTP_HOST="go.acme.example").status_code == 302
    link_domain_delete(domain=domain)
    assert Client().get(f"/{codes[0]}", HTTP_HOST="go.acme.example").status_code == 400
    assert not Click.objects.filter(link__code=codes[0], is_bot=False).count() > 1


def test_unknown_hosts_are_still_refused(tenant_a):
    verified(tenant_a, "go.acme.example")
    assert Client().get("/admin/login/", HTTP_HOST="not-ours.example").status_code == 400


def test_caddy_ask_endpoint_allows_only_verified_domains(tenant_a, tenant_b):
    verified(tenant_a, "go.acme.example")
    link_domain_create(tenant=tenant_b, host="go.bobs.example")
    client = Client()
    assert client.get("/links/domains/allowed/", {"domain": "go.acme.example"}).status_code == 200
    assert client.get("/links/domains/allowed/", {"domain": "go.bobs.example"}).status_code == 404
    assert client.get("/links/domains/allowed/", {"domain": "nobody.example"}).status_code == 404
    assert client.get("/links/domains/allowed/").status_code == 404


# --- campaigns use the tenant's domain ---------------------------------------------------------------------------


def test_fan_out_builds_links_on_the_tenants_verified_domain(tenant_a, tenant_b):
    verified(tenant_a, "go.acme.example")
    link_domain_create(tenant=tenant_b, host="go.bobs.example")  # not verified: the shared domain
    for tenant in (tenant_a, tenant_b):
        ContactFactory.create_batch(2, tenant=tenant)
    bodies = {}
    for tenant in (tenant_a, tenant_b):
        campaign = CampaignFactory(tenant=tenant, status=CampaignStatus.SENDING, body="Sale {{link}}")
        messages_materialise(campaign_id=campaign.pk)
        bodies[tenant.pk] = list(
            Message.objects.filter(campaign=campaign)
            .select_related("short_link")
            .values_list("body", "short_link__code")
        )
    for body, code in bodies[tenant_a.pk]:
        assert body.startswith(f"Sale https://go.acme.example/{code}")
        assert Client().get(f"/{code}", HTTP_HOST="go.acme.example", HTTP_USER_AGENT=IPHONE).status_code == 302
    for body, code in bodies[tenant_b.pk]:
        assert body.startswith(f"Sale {short_url(code)}")
    assert len(bodies[tenant_a.pk]) == len(bodies[tenant_b.pk]) == 2


def test_preview_counts_the_tenants_domain(tenant_a):
    from campaigns.authoring import sample_link

    verified(tenant_a, "go.acme.example")
    assert sample_link(tenant_a.pk).startswith("https://go.acme.example/")
    assert len(sample_link(tenant_a.pk)) == len("https://go.acme.example/") + 8


# --- expiry ------------------------------------------------------------------------------------------------------


def test_expired_link_answers_410_with_the_tenants_name_and_records_nothing(
    mode, tenant_a, django_capture_on_commit_callbacks
):
    campaign, _m, codes = campaign_links(tenant_a, 2)
    assert Client().get(f"/l/{codes[0]}", HTTP_USER_AGENT=IPHONE).status_code == 302  # cached as live
    with django_capture_on_commit_callbacks(execute=True):
        link_expiry_set(campaign=campaign, expires_at=timezone.now() - dt.timedelta(minutes=1))
    short_links_cache_forget(campaign_id=campaign.pk)  # the task the commit enqueues
    flush(mode)
    before = Click.objects.count()
    for code in codes:
        resp = Client().get(f"/l/{code}", HTTP_USER_AGENT=IPHONE)
        assert resp.status_code == 410 and resp["Cache-Control"] == "no-store"
        assert "Acme" in resp.content.decode() and "expired" in resp.content.decode()
        again = Client().get(f"/l/{code}", HTTP_USER_AGENT=IPHONE)  # cached now: still 410
        assert again.status_code == 410 and "Acme" in again.content.decode()
    flush(mode)
    assert Click.objects.count() == before


def test_expired_link_on_the_branded_host_names_the_tenant_and_another_tenants_stays_404(tenant_a, tenant_b):
    verified(tenant_a, "go.acme.example")
    campaign_a, _m, codes_a = campaign_links(tenant_a, 1)
    campaign_b, _m, codes_b = campaign_links(tenant_b, 1)
    link_expiry_set(campaign=campaign_a, expires_at=timezone.now() - dt.timedelta(minutes=1))
    link_expiry_set(campaign=campaign_b, expires_at=timezone.now() - dt.timedelta(minutes=1))
    resp = Client().get(f"/{codes_a[0]}", HTTP_HOST="go.acme.example")
    assert resp.status_code == 410 and "Acme" in resp.content.decode()
    other = Client().get(f"/{codes_b[0]}", HTTP_HOST="go.acme.example")
    assert other.status_code == 404 and "Bob" not in other.content.decode()


def test_ttl_days_applies_to_new_links_and_existing_ones(tenant_a):
    campaign, _m, codes = campaign_links(tenant_a, 1)
    link_expiry_set(campaign=campaign, ttl_days=7)
    old = ShortLink.objects.get(code=codes[0])
    assert old.expires_at == old.created_at + dt.timedelta(days=7)
    from campaigns.tests.factories import MessageFactory
    from links.services import short_links_create_for_messages

    message = MessageFactory(campaign=campaign, tenant=tenant_a)
    code = short_links_create_for_messages(
        tenant=tenant_a, campaign_id=campaign.pk, target_url=campaign.link_url, message_ids=[message.pk]
    )[message.pk]
    new = ShortLink.objects.get(code=code)
    assert abs(new.expires_at - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    assert Client().get(f"/l/{code}").status_code == 302
    assert link_expiry_set(campaign=campaign) is None  # removed: never expires again
    assert not LinkExpiry.objects.exists() and ShortLink.objects.filter(expires_at__isnull=False).count() == 0


def test_expiry_rules_are_checked(tenant_a):
    campaign, _m, _codes = campaign_links(tenant_a, 1)
    with pytest.raises(ValidationError):
        link_expiry_set(campaign=campaign, expires_at=timezone.now(), ttl_days=3)
    with pytest.raises(ValidationError):
        link_expiry_set(campaign=campaign, ttl_days=0)
    with pytest.raises(ValidationError):
        link_expiry_set(campaign=campaign, ttl_days=10**9)  # past what a date can hold: refused, not a 500


def test_the_domain_map_survives_a_database_outage(tenant_a, monkeypatch, settings):
    from django.core.cache import cache
    from django.db import OperationalError

    import links.domains as domains

    verified(tenant_a, "go.acme.example")
    assert tenant_for_host("go.acme.example") == tenant_a.pk  # loaded and kept

    def down():
        raise OperationalError("the database is away")

    monkeypatch.setattr(domains, "_load_from_database", down)
    settings.LINKS_DOMAIN_CACHE_SECONDS = 0  # every request asks again
    cache.delete(domains._cache_key())
    assert tenant_for_host("go.acme.example") == tenant_a.pk  # what the process knew
    assert tenant_for_host("other.example") is None
