"""The redirect in front of Django (``links.front``): the same answers as the view, live taps without Django.

The redirect's and the branded domains' tests are run again here with their ``Client`` replaced by one that
goes through ``ShortLinkFront`` first (as gunicorn does with ``smscampaigns.wsgi``): every status, header, page
and recorded click must be the same, and a miss counted once (the probe limit's tests would see it twice).
"""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import Client

from links import front
from links.capture import OUTCOME_KEY
from links.front import ShortLinkFront
from links.models import Click
from links.services import short_link_create

from . import test_domains, test_redirect
from .test_clickinfo import IPHONE
from .test_domains import (  # noqa: F401 - run again here, through the front
    test_branded_host_serves_its_tenants_codes_and_404s_anothers,
    test_branded_host_serves_nothing_else,
    test_expired_link_on_the_branded_host_names_the_tenant_and_another_tenants_stays_404,
    test_unknown_hosts_are_still_refused,
)
from .test_redirect import (  # noqa: F401 - run again here, through the front
    mode,
    test_a_blocked_address_still_gets_its_valid_codes,
    test_a_non_web_target_is_never_redirected_to,
    test_click_captured_with_device_os_browser_country,
    test_expired_link_is_a_friendly_page_and_no_click,
    test_mounted_at_the_path_of_short_link_base_url,
    test_only_get_and_head,
    test_previews_head_redirected_but_not_counted_as_human,
    test_probing_unknown_codes_gets_429,
    test_redirect_302_no_store_with_query_kept_and_utm_added,
    test_taps_take_the_fast_lane_past_the_middleware_stack,
    test_tenants_stay_apart,
    test_unique_clicks_are_exact_per_recipient,
    test_unknown_code_is_the_404_page,
)

ANSWERED_IN_FRONT: list[str] = []


class FrontClient(Client):
    """Django's test client behind ``ShortLinkFront``: what the front answers comes back as a response; the rest
    (with any outcome the front reached, in the environ) goes to Django as before."""

    def request(self, **request):
        environ = self._base_environ(**request)
        passed: dict = {}

        def django(env, start_response):
            passed.update(env)
            return None

        answer: dict = {}

        def start_response(status, headers, exc_info=None):
            answer.update(status=int(status.split()[0]), headers=headers)

        body = ShortLinkFront(django)(environ, start_response)
        if body is None:
            if OUTCOME_KEY in passed:
                request = {**request, OUTCOME_KEY: passed[OUTCOME_KEY]}
            return super().request(**request)
        ANSWERED_IN_FRONT.append(environ["PATH_INFO"])
        response = HttpResponse(b"".join(body), status=answer["status"])
        for name, value in answer["headers"]:
            response[name] = value
        response.client, response.request = self, request
        return response


@pytest.fixture(autouse=True)
def _through_the_front(monkeypatch):
    # As Django's own test handler keeps its request signals from closing the connection: the test's
    # transaction keeps it.
    monkeypatch.setattr(front, "close_old_connections", lambda: None)
    monkeypatch.setattr(test_redirect, "Client", FrontClient)
    monkeypatch.setattr(test_domains, "Client", FrontClient)
    ANSWERED_IN_FRONT.clear()


def test_a_live_tap_never_reaches_django_and_is_recorded(tenant_a):
    link = short_link_create(tenant=tenant_a, target_url="https://x.example/p?a=1")

    def django(environ, start_response):
        raise AssertionError(f"Django was asked for {environ['PATH_INFO']}")

    seen = {}
    environ = Client()._base_environ(PATH_INFO=f"/l/{link.code}", REQUEST_METHOD="GET", HTTP_USER_AGENT=IPHONE)
    body = ShortLinkFront(django)(environ, lambda status, headers: seen.update(status=status, headers=headers))
    headers = dict(seen["headers"])
    assert seen["status"] == "302 Found" and b"".join(body) == b""
    assert headers["Location"].startswith("https://x.example/p?a=1&utm_source=sms")
    assert headers["Cache-Control"] == "no-store" and headers["Content-Type"] == "text/html; charset=utf-8"
    assert Click.objects.filter(link=link).count() == 1  # the direct capture mode writes at once


def test_the_reused_tests_went_through_the_front(tenant_a):
    """The client above is in use: a live tap is answered by the front, an unknown code by Django."""
    link = short_link_create(tenant=tenant_a, target_url="https://x.example/")
    client = FrontClient()
    assert client.get(f"/l/{link.code}", HTTP_USER_AGENT=IPHONE).status_code == 302
    assert client.get("/l/Zz9Zz9Zz", HTTP_USER_AGENT=IPHONE).status_code == 404
    assert ANSWERED_IN_FRONT == [f"/l/{link.code}"]
