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
