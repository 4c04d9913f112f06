"""FakeTwilio's injected faults, as TwilioGateway (twilio-python over real HTTP) sees them.

Each fault must look to the sender like the failure it imitates, and the
server must say truthfully whether the message was created.
"""

from __future__ import annotations

import threading

import pytest
import requests

from gateways import GatewayError, OutboundSMS, get_gateway

TO = "+14155550123"


def _send(tenant, to: str = TO, body: str = "Hello"):
    return get_gateway().send(tenant, OutboundSMS(to=to, body=body))


def _send_error(tenant, to: str = TO) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        _send(tenant, to)
    err = info.value
    assert sum([err.permanent, err.retryable, err.outcome_unknown]) == 1
    return err


@pytest.mark.parametrize(("kind", "creates"), [("cut_before", False), ("cut_after", True)])
def test_a_cut_connection_is_an_unknown_outcome(fake_twilio, tenant_a, kind, creates):
    fake_twilio.inject(kind, times=1)
    err = _send_error(tenant_a)
    assert err.outcome_unknown
    assert len(fake_twilio.sends()) == 1
    assert fake_twilio.created_count_by_to()[TO] == (1 if creates else 0)
    # The server keeps serving (on a new connection) once the injection is used up.
    assert _send(tenant_a).sid.startswith("SM")
    assert fake_twilio.created_count_by_to()[TO] == (2 if creates else 1)


def test_a_cut_reaches_twilio_python_as_a_remote_disconnect(fake_twilio, tenant_a):
    """What the twilio library raises underneath: the connection closed without an answer."""
    fake_twilio.inject("cut_before")
    client = get_gateway()._client(tenant_a)
    with pytest.raises(requests.ConnectionError) as info:
        client.messages.create(to=TO, from_=tenant_a.sender, body="x")
    assert "RemoteDisconnected" in repr(info.value) or "Connection aborted" in repr(info.value)


@pytest.mark.parametrize(("kind", "status", "code"), [("error_500", 500, 20500), ("error_503", 503, 20503)])
def test_a_5xx_is_an_unknown_outcome_and_creates_nothing(fake_twilio, tenant_a, kind, status, code):
    fake_twilio.inject(kind, times=2)
    for _ in range(2):
        err = _send_error(tenant_a)
        assert err.outcome_unknown and (err.http_status, err.code) == (status, code)
    assert fake_twilio.created() == []
    _send(tenant_a)
    assert len(fake_twilio.created()) == 1


def test_stall_after_a_shorter_timeout_is_an_unknown_outcome_but_the_message_exists(fake_twilio, tenant_a, settings):
    settings.TWILIO_HTTP_TIMEOUT = 0.2
    fake_twilio.inject("stall_after", times=1, stall=0.6)
    err = _send_error(tenant_a)
    assert err.outcome_unknown
    assert [m["to"] for m in fake_twilio.created()] == [TO]


def test_stall_after_a_longer_timeout_is_a_slow_success(fake_twilio, tenant_a, settings):
    settings.TWILIO_HTTP_TIMEOUT = 2
    fake_twilio.inject("stall_after", times=1, stall=0.2)
    result = _send(tenant_a)
    assert [m["sid"] for m in fake_twilio.created()] == [result.sid]


@pytest.mark.parametrize("timeout", [0.2, 2])
def test_stall_before_is_an_unknown_outcome_and_creates_nothing(fake_twilio, tenant_a, settings, timeout):
    settings.TWILIO_HTTP_TIMEOUT = timeout  # a timeout (0.2 s) or a connection closed without an answer (2 s)
    fake_twilio.inject("stall_before", times=1, stall=0.4)
    assert _send_error(tenant_a).outcome_unknown
    assert fake_twilio.created() == []


def test_times_counts_requests_then_stops(fake_twilio, tenant_a):
    fake_twilio.inject("error_503", times=3)
    outcomes = []
    for i in range(5):
        try:
            _send(tenant_a, to=f"+1415555010{i}")
            outcomes.append("ok")
        except GatewayError:
            outcomes.append("error")
    assert outcomes == ["error"] * 3 + ["ok"] * 2
    assert list(fake_twilio.created_count_by_to()) == ["+14155550103", "+14155550104"]


def test_rate_is_seeded_and_lasts_until_cleared(fake_twilio, tenant_a):
    def run() -> list[bool]:
        fake_twilio.clear_faults()
        fake_twilio.inject("error_500", rate=0.5, seed=7)
        failed = []
        for _ in range(20):
            try:
                _send(tenant_a)
                failed.append(False)
            except GatewayError:
                failed.append(True)
        return failed

    first, second = run(), run()
    assert first == second  # the same seed breaks the same requests
    assert 3 <= sum(first) <= 17
    fake_twilio.clear_faults()
    _send(tenant_a)
    assert len(fake_twilio.created()) == 40 - 2 * sum(first) + 1


def test_the_first_matching_injection_applies(fake_twilio, tenant_a):
    fake_twilio.inject("cut_after", times=1)
    fake_twilio.inject("error_503")  # every request, once the cut is used up
    assert _send_error(tenant_a).outcome_unknown
    assert _send_error(tenant_a).http_status == 503
    assert _send_error(tenant_a).http_status == 503
    assert len(fake_twilio.created()) == 1  # only the cut_after one
    fake_twilio.clear_faults()
    _send(tenant_a)
    assert len(fake_twilio.created()) == 2


def test_unknown_fault_kinds_are_refused(fake_twilio):
    with pytest.raises(ValueError):
        fake_twilio.inject("cut_sideways")
    with pytest.raises(ValueError):
        fake_twilio.inject_lookup("stall_after")
    with pytest.raises(ValueError):
        fake_twilio.inject("error_500", times=1, rate=0.5)


def test_created_counts_messages_not_requests(fake_twilio, tenant_a):
    fake_twilio.inject("cut_before", times=1)
    fake_twilio.fail_numbers["+14155550199"] = (400, 21211)
    with pytest.raises(GatewayError):
        _send(tenant_a)
    _send(tenant_a)
    _send(tenant_a, to="+14155550124")
    with pytest.raises(GatewayError):
        _send(tenant_a, to="+14155550199")
    assert len(fake_twilio.sends()) == 4
    assert fake_twilio.created_count_by_to() == {TO: 1, "+14155550124": 1}
    assert [m["to"] for m in fake_twilio.created()] == [TO, "+14155550124"]


def test_faults_under_concurrent_senders(fake_twilio, tenant_a):
    """Many threads at once (as a worker's gateway threads): every request gets exactly its fate."""
    fake_twilio.inject("cut_after", times=5)
    fake_twilio.inject("cut_before", times=5)
    errors, lock = [], threading.Lock()

    def one(i: int) -> None:
        try:
            _send(tenant_a, to=f"+1415555{i:04d}")
        except GatewayError as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 10 and all(e.outcome_unknown for e in errors)
    assert len(fake_twilio.created()) == 25  # 20 answered + 5 created before the cut
    assert sum(fake_twilio.created_count_by_to().values()) == 25


def test_faults_reach_senders_in_other_processes(fake_twilio, tenant_a):
    """Injected here, they break what another process (a Celery worker, say) sends over HTTP."""
    import subprocess
    import sys

    fake_twilio.inject("cut_after", times=1)
    fake_twilio.inject("error_503", times=1)
    script = (
        "import sys, requests\n"
        "url, sid, token = sys.argv[1:]\n"
        "for _ in range(3):\n"
        "    try:\n"
        "        r = requests.post(f'{url}/2010-04-01/Accounts/{sid}/Messages.json', auth=(sid, token),\n"
        "                          data={'To': '+14155550123', 'From': '+14155550000', 'Body': 'x'}, timeout=5)\n"
        "        print(r.status_code)\n"
        "    except requests.ConnectionError:\n"
        "        print('cut')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, fake_twilio.base_url, tenant_a.twilio_account_sid, tenant_a.twilio_auth_token],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert out == ["cut", "503", "201"]
    assert fake_twilio.created_count_by_to() == {TO: 2}
