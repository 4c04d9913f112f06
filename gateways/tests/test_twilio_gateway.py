from __future__ import annotations

import pytest

from gateways import GatewayError, OutboundSMS, get_gateway
from gateways.base import status_callback_url


def test_send_reaches_local_twilio_with_tenant_credentials(fake_twilio, tenant_a):
    result = get_gateway().send(
        tenant_a, OutboundSMS(to="+14155550123", body="Hello", status_callback=status_callback_url())
    )

    assert result.sid.startswith("SM") and len(result.sid) == 34
    assert result.status == "queued"
    [req] = fake_twilio.sends()
    assert req.account_sid == tenant_a.twilio_account_sid
    assert req.auth == (tenant_a.twilio_account_sid, tenant_a.twilio_auth_token)
    assert req.form["To"] == "+14155550123"
    assert req.form["From"] == tenant_a.sender
    assert req.form["Body"] == "Hello"
    assert req.form["StatusCallback"] == "http://127.0.0.1:8000/webhooks/twilio/status/"


def test_messaging_service_sender(fake_twilio, tenant_a):
    tenant_a.sender = "MG" + "a" * 32
    result = get_gateway().send(tenant_a, OutboundSMS(to="+14155550123", body="Hi"))
    assert result.status == "accepted"
    assert fake_twilio.sends()[0].form["MessagingServiceSid"] == tenant_a.sender
    assert "From" not in fake_twilio.sends()[0].form


@pytest.mark.parametrize(
    ("http_status", "code", "kind"),
    [
        (400, 21211, "permanent"),
        (400, 21614, "permanent"),
        (400, 21610, "permanent"),
        (429, 20429, "retryable"),
        (500, 20500, "outcome_unknown"),
        (400, 99999, "permanent"),  # unknown code: a failure, not a crash
    ],
)
def test_errors_are_classified(fake_twilio, tenant_a, http_status, code, kind):
    fake_twilio.fail_numbers["+14155550199"] = (http_status, code)
    with pytest.raises(GatewayError) as info:
        get_gateway().send(tenant_a, OutboundSMS(to="+14155550199", body="x"))
    err = info.value
    assert err.code == code
    assert getattr(err, kind) is True
    assert sum([err.permanent, err.retryable, err.outcome_unknown]) == 1
    assert err.opted_out is (code == 21610)


def test_bad_credentials_are_permanent(fake_twilio, tenant_a):
    tenant_a.twilio_auth_token = "wrong-token"
    with pytest.raises(GatewayError) as info:
        get_gateway().send(tenant_a, OutboundSMS(to="+14155550123", body="x"))
    assert info.value.bad_credentials and info.value.permanent


def test_unreachable_server_is_retryable(settings, tenant_a):
    settings.SMS_GATEWAY = "twilio"
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    with pytest.raises(GatewayError) as info:
        get_gateway().send(tenant_a, OutboundSMS(to="+14155550123", body="x"))
    assert info.value.retryable


def test_fetch_reads_status(fake_twilio, tenant_a):
    gw = get_gateway()
    sid = gw.send(tenant_a, OutboundSMS(to="+14155550123", body="x")).sid
    fake_twilio.set_status(sid, "undelivered", 30003)
    fetched = gw.fetch(tenant_a, sid)
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


def test_auth_token_never_logged(fake_twilio, tenant_a, caplog):
    caplog.set_level("DEBUG")
    get_gateway().send(tenant_a, OutboundSMS(to="+14155550123", body="x"))
    assert tenant_a.twilio_auth_token not in caplog.text


def test_the_environment_is_read_once_per_client_not_per_message(fake_twilio, tenant_a, monkeypatch):
    import requests.sessions

    gw = get_gateway()
    gw.send(tenant_a, OutboundSMS(to="+14155550123", body="x"))  # the client is built (and reads the environment)

    def per_request(*args, **kwargs):
        raise AssertionError("the environment was read again for one message")

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", per_request)
    gw.send(tenant_a, OutboundSMS(to="+14155550124", body="y"))
    assert len(fake_twilio.sends()) == 2


def test_a_proxy_from_the_environment_is_still_used(fake_twilio, tenant_a, settings, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", fake_twilio.base_url)  # the fake server answers absolute-form requests
    settings.TWILIO_API_BASE_URL = "http://api.twilio.proxied.invalid"  # resolvable only through the proxy
    result = get_gateway().send(tenant_a, OutboundSMS(to="+14155550123", body="via proxy"))
    assert result.sid.startswith("SM")
    [req] = fake_twilio.sends()
    assert req.path.startswith("http://api.twilio.proxied.invalid/2010-04-01/Accounts/")
