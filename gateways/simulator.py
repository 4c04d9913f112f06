"""A fake gateway for demos and load tests.

It accepts every message, assigns a Twilio-shaped SID and, after
``SIMULATOR_REPORT_DELAY`` seconds, reports the outcome back through the same
code path a Twilio status callback takes. Outcomes are decided by the number,
so demos are repeatable: a number ending in 13 is undelivered (30003), one
ending in 66 fails (30006), one ending in 99 is refused at send (21211);
everything else is delivered.
"""

from __future__ import annotations

import uuid

from .base import FetchResult, GatewayError, OutboundSMS, SendResult

OUTCOMES = {"13": ("undelivered", 30003), "66": ("failed", 30006)}


def outcome_for(to: str) -> tuple[str, int | None]:
    return OUTCOMES.get(to[-2:], ("delivered", None))


class SimulatorGateway:
    name = "simulator"

    def send(self, tenant, sms: OutboundSMS) -> SendResult:
        if sms.to.endswith("99"):
            raise GatewayError(
                "The 'To' number is not a valid phone number.", code=21211, http_status=400, permanent=True
            )
        sid = "SM" + uuid.uuid4().hex
        from . import tasks  # late import: Celery app

        status, code = outcome_for(sms.to)
        tasks.simulator_report.apply_async(
            kwargs={"tenant_id": tenant.pk, "sid": sid, "to": sms.to, "status": status, "error_code": code},
            countdown=_delay(),
        )
        return SendResult(sid=sid, status="accepted" if tenant.uses_messaging_service else "queued")

    def fetch(self, tenant, sid: str) -> FetchResult:
        return FetchResult(sid=sid, status="delivered")


def _delay() -> float:
    from django.conf import settings

    return settings.SIMULATOR_REPORT_DELAY
