"""TwilioGateway.lookup and fetch against FakeTwilio over real HTTP: "did this message reach Twilio?"."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest
import requests

from gateways import GatewayError, OutboundSMS, get_gateway
from gateways.base import FoundMessage, classify_read

TO = "+14155550123"
MG_A = "MG" + "a" * 32
MG_B = "MG" + "b" * 32


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _send(tenant, to: str = TO, body: str = "Hello") -> str:
    return get_gateway().send(tenant, OutboundSMS(to=to, body=body)).sid


def _backdate(fake, sid: str, seconds: float) -> None:
    """Move a message's creation (and sending) into the past, as if it had been created then."""
    moment = format_datetime((_now() - dt.timedelta(seconds=seconds)).replace(microsecond=0))
    with fake._lock:
        msg = fake.messages[sid]
        msg["date_created"] = moment
        if msg["date_sent"] is not None:
            msg["date_sent"] = moment


def test_lookup_finds_the_messages_to_that_number_newest_first(fake_twilio, tenant_a, tenant_b):
    since = _now()
    first = _send(tenant_a, body="one")
    second = _send(tenant_a, body="two")
    _send(tenant_a, to="+14155550124")  # another number
    _send(tenant_b)  # another account, same number

    found = get_gateway().lookup(tenant_a, to=TO, created_after=since)

    assert [m.sid for m in found] == [second, first]
    newest = found[0]
    assert isinstance(newest, FoundMessage)
    assert (newest.status, newest.to, newest.from_, newest.body) == ("queued", TO, tenant_a.sender, "two")
    assert newest.messaging_service_sid == "" and newest.error_code is None
    assert newest.date_created.tzinfo is not None
    assert since - dt.timedelta(seconds=1) <= newest.date_created <= _now()


def test_lookup_leaves_out_older_messages_and_other_senders(fake_twilio, tenant_a):
    old = _send(tenant_a)
    _backdate(fake_twilio, old, 120)
    new = _send(tenant_a)
    gw = get_gateway()
    assert [m.sid for m in gw.lookup(tenant_a, to=TO, created_after=_now() - dt.timedelta(seconds=60))] == [new]
    assert [m.sid for m in gw.lookup(tenant_a, to=TO, created_after=_now() - dt.timedelta(seconds=600))] == [new, old]
    tenant_a.sender = "+14155559999"  # the same account, another number: none of these came from it
    assert gw.lookup(tenant_a, to=TO, created_after=_now() - dt.timedelta(seconds=600)) == []


def test_lookup_a_second_before_counts_twilio_dates_are_whole_seconds(fake_twilio, tenant_a):
    since = _now()
    sid = _send(tenant_a)
    _backdate(fake_twilio, sid, 0)  # its date_created is `since` truncated to the second, maybe before it
    assert [m.sid for m in get_gateway().lookup(tenant_a, to=TO, created_after=since)] == [sid]


def test_lookup_asks_twilio_both_by_date_sent_and_for_the_newest(fake_twilio, tenant_a):
    since = dt.datetime(2030, 1, 2, 5, 4, 5, 600000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    get_gateway().lookup(tenant_a, to=TO, created_after=since)
    by_date, newest = fake_twilio.lookups()
    assert by_date.path.split("?")[0].endswith(f"/Accounts/{tenant_a.twilio_account_sid}/Messages.json")
    assert by_date.query == {
        "To": TO,
        "From": tenant_a.sender,
        "DateSent>": "2030-01-02T03:04:05Z",  # in UTC, whatever zone it was given in
        "PageSize": "50",
    }
    assert newest.query == {"To": TO, "From": tenant_a.sender, "PageSize": "20"}


def test_a_message_still_queued_without_date_sent_is_found(fake_twilio, tenant_a):
    fake_twilio.queued_without_date_sent = True
    since = _now()
    sid = _send(tenant_a)
    assert fake_twilio.created()[0]["date_sent"] is None
    [found] = get_gateway().lookup(tenant_a, to=TO, created_after=since)
    assert found.sid == sid and found.status == "queued"
    # The date filter alone would have missed it: Twilio's DateSent leaves out what is not sent yet.
    page = requests.get(
        f"{fake_twilio.base_url}{fake_twilio.lookups()[0].path}",
        auth=(tenant_a.twilio_account_sid, tenant_a.twilio_auth_token),
        timeout=5,
    ).json()
    assert page["messages"] == []
    fake_twilio.set_status(sid, "sent")
    assert fake_twilio.created()[0]["date_sent"] is not None


def test_lookup_for_a_messaging_service_filters_on_the_service(fake_twilio, tenant_a):
    since = _now()
    tenant_a.sender = MG_B
    _send(tenant_a)
    tenant_a.sender = "+14155550000"
    _send(tenant_a)
    tenant_a.sender = MG_A
    mine = _send(tenant_a)

    found = get_gateway().lookup(tenant_a, to=TO, created_after=since)

    assert [(m.sid, m.status, m.messaging_service_sid) for m in found] == [(mine, "accepted", MG_A)]
    assert all("From" not in r.query for r in fake_twilio.lookups())  # any number of the service


def test_lookup_pages_through_many_messages(fake_twilio, tenant_a):
    since = _now()
    sids = [_send(tenant_a, body=str(i)) for i in range(55)]
    found = get_gateway().lookup(tenant_a, to=TO, created_after=since)
    assert [m.sid for m in found] == sids[::-1]
    by_date = [r for r in fake_twilio.lookups() if "DateSent>" in r.query]
    assert len(by_date) == 2 and by_date[1].query["PageToken"] == "PA" + sids[-50]


@pytest.mark.parametrize("kind", ["error_503", "cut_before"])
def test_lookup_that_cannot_be_asked_is_retryable(fake_twilio, tenant_a, kind):
    _send(tenant_a)
    fake_twilio.inject_lookup(kind, times=1)
    with pytest.raises(GatewayError) as info:
        get_gateway().lookup(tenant_a, to=TO, created_after=_now() - dt.timedelta(minutes=1))
    assert info.value.retryable and not info.value.permanent
    assert len(get_gateway().lookup(tenant_a, to=TO, created_after=_now() - dt.timedelta(minutes=1))) == 1


def test_lookup_failing_on_the_second_question_is_retryable(fake_twilio, tenant_a):
    fake_twilio.inject_lookup("error_503", rate=1.0)
    with pytest.raises(GatewayError) as info:
        get_gateway().lookup(tenant_a, to=TO, created_after=_now())
    assert info.value.retryable and info.value.http_status == 503


def test_lookup_with_refused_credentials_is_permanent(fake_twilio, tenant_a):
    tenant_a.twilio_auth_token = "rotated"
    with pytest.raises(GatewayError) as info:
        get_gateway().lookup(tenant_a, to=TO, created_after=_now())
    assert info.value.permanent and info.value.bad_credentials and info.value.http_status == 401


def test_lookup_of_an_unreachable_gateway_is_retryable(settings, tenant_a):
    settings.SMS_GATEWAY = "twilio"
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(GatewayError) as info:
        get_gateway().lookup(tenant_a, to=TO, created_after=_now())
    assert info.value.retryable


def test_lookup_that_times_out_is_retryable(fake_twilio, tenant_a, settings):
    settings.TWILIO_HTTP_TIMEOUT = 0.1
    fake_twilio.latency = 0.3
    with pytest.raises(GatewayError) as info:
        get_gateway().lookup(tenant_a, to=TO, created_after=_now())
    assert info.value.retryable


def test_fetch_answers_with_the_messages_status(fake_twilio, tenant_a):
    sid = _send(tenant_a)
    assert get_gateway().fetch(tenant_a, sid).status == "queued"
    [req] = fake_twilio.lookups()
    assert req.path.endswith(f"/Messages/{sid}.json")


def test_fetch_of_an_unknown_sid_is_a_permanent_20404(fake_twilio, tenant_a, tenant_b):
    sid_b = _send(tenant_b)
    for sid in ("SM" + "0" * 32, sid_b):  # none at all, and another account's
        with pytest.raises(GatewayError) as info:
            get_gateway().fetch(tenant_a, sid)
        assert (info.value.code, info.value.http_status, info.value.permanent) == (20404, 404, True)


@pytest.mark.parametrize("kind", ["error_503", "cut_before"])
def test_fetch_that_cannot_be_asked_is_retryable(fake_twilio, tenant_a, kind):
    sid = _send(tenant_a)
    fake_twilio.inject_lookup(kind, times=1)
    with pytest.raises(GatewayError) as info:
        get_gateway().fetch(tenant_a, sid)
    assert info.value.retryable and not info.value.outcome_unknown
    assert get_gateway().fetch(tenant_a, sid).sid == sid


def test_fetch_of_an_unreachable_gateway_is_retryable(settings, tenant_a):
    settings.SMS_GATEWAY = "twilio"
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(GatewayError) as info:
        get_gateway().fetch(tenant_a, "SM" + "0" * 32)
    assert info.value.retryable


@pytest.mark.parametrize(
    ("http_status", "code", "kind"),
    [(429, 20429, "retryable"), (500, None, "retryable"), (503, 20503, "retryable"), (401, None, "permanent")],
)
def test_errors_of_questions_are_never_unknown_outcomes(http_status, code, kind):
    err = classify_read(http_status=http_status, code=code, message="x")
    assert getattr(err, kind) and not err.outcome_unknown
    if http_status == 401:
        assert err.bad_credentials
