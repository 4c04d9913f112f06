"""FakeTwilio's Messages list and fetch in Twilio's wire format, read over plain HTTP."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime

import requests

from gateways import OutboundSMS, get_gateway

TO = "+14155550123"
LIST_KEYS = {
    "messages",
    "end",
    "first_page_uri",
    "next_page_uri",
    "page",
    "page_size",
    "previous_page_uri",
    "start",
    "uri",
}


def _get(fake, tenant, path: str, **params) -> requests.Response:
    return requests.get(
        f"{fake.base_url}{path}",
        params=params,
        auth=(tenant.twilio_account_sid, tenant.twilio_auth_token),
        timeout=5,
    )


def _list_path(tenant) -> str:
    return f"/2010-04-01/Accounts/{tenant.twilio_account_sid}/Messages.json"


def test_list_and_fetch_in_twilios_format(fake_twilio, tenant_a):
    sids = [get_gateway().send(tenant_a, OutboundSMS(to=TO, body=f"b{i}")).sid for i in range(5)]

    page = _get(fake_twilio, tenant_a, _list_path(tenant_a), To=TO, PageSize=2).json()

    assert set(page) == LIST_KEYS
    assert [m["sid"] for m in page["messages"]] == sids[:-3:-1]  # newest first
    assert (page["page"], page["page_size"], page["start"], page["previous_page_uri"]) == (0, 2, 0, None)
    message = page["messages"][0]
    for name in ("date_created", "date_updated", "date_sent"):
        assert message[name].endswith(" +0000")  # RFC 2822, as "Thu, 30 Jul 2015 20:12:31 +0000"
        assert abs(parsedate_to_datetime(message[name]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert (message["to"], message["from"], message["body"], message["status"]) == (TO, tenant_a.sender, "b4", "queued")
    assert message["direction"] == "outbound-api" and message["error_code"] is None

    seen = [m["sid"] for m in page["messages"]]
    while page["next_page_uri"]:
        page = _get(fake_twilio, tenant_a, page["next_page_uri"]).json()
        seen += [m["sid"] for m in page["messages"]]
    assert seen == sids[::-1]
    assert page["page"] == 2

    fetched = _get(fake_twilio, tenant_a, f"/2010-04-01/Accounts/{tenant_a.twilio_account_sid}/Messages/{sids[0]}.json")
    assert fetched.status_code == 200 and fetched.json()["date_created"] == fake_twilio.created()[0]["date_created"]
    assert len(fake_twilio.lookups()) == 4 and fake_twilio.lookups()[0].query["PageSize"] == "2"


def test_list_filters(fake_twilio, tenant_a, tenant_b):
    gw = get_gateway()
    mine = gw.send(tenant_a, OutboundSMS(to=TO, body="x")).sid
    gw.send(tenant_a, OutboundSMS(to="+14155550124", body="x"))
    gw.send(tenant_b, OutboundSMS(to=TO, body="x"))
    today = parsedate_to_datetime(fake_twilio.created()[0]["date_sent"]).date()  # its day, even at midnight

    def sids(**params) -> list[str]:
        answer = _get(fake_twilio, tenant_a, _list_path(tenant_a), **params)
        assert answer.status_code == 200
        return [m["sid"] for m in answer.json()["messages"]]

    assert sids(To=TO) == [mine]  # not the other account's
    assert sids(To=TO, From=tenant_a.sender) == [mine]
    assert sids(To=TO, From="+14155559999") == []
    assert sids(To=TO, DateSent=today.isoformat()) == [mine]
    assert sids(To=TO, **{"DateSent>": today.isoformat()}) == [mine]
    assert sids(To=TO, **{"DateSent<": (today - dt.timedelta(days=1)).isoformat()}) == []
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sids(To=TO, **{"DateSent>": soon}) == []
    assert sids(To=TO, **{"DateSent<": soon}) == [mine]
    assert _get(fake_twilio, tenant_a, _list_path(tenant_a), **{"DateSent>": "yesterday"}).status_code == 400


def test_lookup_faults_answer_503_or_cut(fake_twilio, tenant_a):
    fake_twilio.inject_lookup("error_503", times=1)
    fake_twilio.inject_lookup("cut_before", times=1)
    first = _get(fake_twilio, tenant_a, _list_path(tenant_a))
    assert first.status_code == 503 and first.json()["code"] == 20503
    try:
        _get(fake_twilio, tenant_a, _list_path(tenant_a))
        raise AssertionError("the connection should have been cut")
    except requests.ConnectionError:
        pass
    assert _get(fake_twilio, tenant_a, _list_path(tenant_a)).status_code == 200
    assert len(fake_twilio.lookups()) == 3
