from __future__ import annotations

import pytest

from gateways import GatewayError, OutboundSMS, get_gateway
from gateways.simulator import outcome_for


def test_simulator_assigns_sid_and_schedules_report(settings, tenant_a, sent_tasks):
    result = get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550113", body="hi"))
    assert result.sid.startswith("SM")
    [(name, _, kwargs)] = sent_tasks
    assert name == "gateways.tasks.simulator_report"
    assert sent_tasks.options == [{"countdown": settings.SIMULATOR_REPORT_DELAY * 2}]
    call = {"kwargs": kwargs}
    assert call["kwargs"]["sid"] == result.sid
    assert (call["kwargs"]["status"], call["kwargs"]["error_code"]) == ("undelivered", 30003)


def test_simulator_refuses_invalid_numbers(tenant_a):
    with pytest.raises(GatewayError) as info:
        get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550199", body="hi"))
    assert info.value.code == 21211 and info.value.permanent


def test_outcomes_by_number():
    assert outcome_for("+14155550101") == ("delivered", None)
    assert outcome_for("+14155550166") == ("failed", 30006)


def test_an_rcs_handset_behind_a_messaging_service_reports_a_read(settings, tenant_a, sent_tasks):
    """Through a Messaging Service (where Twilio tries RCS first), a number ending in 77 is an RCS handset: its
    reports name the channel and a read receipt follows delivery one delay later."""
    tenant_a.sender = "MG" + "a" * 32
    result = get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550177", body="hi"))
    reports = [(kwargs["status"], kwargs.get("channel")) for name, _, kwargs in sent_tasks]
    assert reports == [("sent", "rcs"), ("delivered", "rcs"), ("read", "rcs")]
    delay = settings.SIMULATOR_REPORT_DELAY
    assert sent_tasks.options == [{"countdown": delay}, {"countdown": delay * 2}, {"countdown": delay * 3}]
    assert all(kwargs["sid"] == result.sid for _, _, kwargs in sent_tasks)


def test_a_phone_number_sender_never_gets_reads(tenant_a, sent_tasks):
    get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550177", body="hi"))
    assert [(kwargs["status"], kwargs.get("channel")) for _, _, kwargs in sent_tasks] == [
        ("sent", None),
        ("delivered", None),
    ]


def test_fetch_answers_read_once_an_rcs_message_was_read():
    """What reconciliation asks: the status the simulator's callbacks report by then."""
    import time

    from gateways.simulator import _status_now

    record = {
        "created": time.time() - 10,
        "delay": 2.0,
        "initial": "accepted",
        "outcome": "delivered",
        "error_code": None,
    }
    assert _status_now({**record, "channel": "rcs"}) == ("read", None)
    assert _status_now({**record, "channel": None}) == ("delivered", None)
    assert _status_now({**record, "channel": "rcs", "created": time.time() - 5}) == ("delivered", None)
