from __future__ import annotations

import pytest

from gateways import GatewayError, OutboundSMS, get_gateway


@pytest.fixture
def scheduled(sent_tasks):
    """``(kind, {"kwargs": …})`` for each report and click the simulator put on the broker."""

    class Calls:
        def __iter__(self):
            kinds = {"gateways.tasks.simulator_report": "report", "gateways.tasks.simulator_click": "click"}
            return iter([(kinds[name], {"kwargs": kw}) for name, _, kw in sent_tasks])

    return Calls()


def test_delivered_reports_sent_then_delivered_and_clicks(settings, tenant_a, scheduled):
    link = f"{settings.SHORT_LINK_BASE_URL}/AbCd1234"
    result = get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550102", body=f"Hi {link}"))
    reports = [kw["kwargs"]["status"] for kind, kw in scheduled if kind == "report"]
    assert reports == ["sent", "delivered"]
    assert all(kw["kwargs"]["sid"] == result.sid for kind, kw in scheduled if kind == "report")
    assert [kw["kwargs"]["url"] for kind, kw in scheduled if kind == "click"] == [link]


def test_odd_numbers_and_bodies_without_links_do_not_click(settings, tenant_a, scheduled):
    get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550101", body=f"{settings.SHORT_LINK_BASE_URL}/x1"))
    get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550102", body="no link"))
    assert [kind for kind, _ in scheduled].count("click") == 0


def test_carrier_opt_out_refusal(tenant_a):
    with pytest.raises(GatewayError) as info:
        get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550198", body="hi"))
    assert info.value.opted_out and info.value.permanent


def test_click_task_survives_no_server():
    from gateways.tasks import simulator_click

    assert simulator_click(url="http://127.0.0.1:9/l/nothing") is None
