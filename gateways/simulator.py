"""A fake gateway for demos and load tests.

It accepts every message, assigns a Twilio-shaped SID and reports the outcome
back through the same code path a Twilio status callback takes: ``sent`` after
``SIMULATOR_REPORT_DELAY`` seconds, then the final status one delay later.
Outcomes are decided by the number, so demos are repeatable:

- ending in 13: undelivered (30003); ending in 66: failed (30006);
- ending in 99: refused at send (21211, invalid number);
- ending in 98: refused at send (21610, the recipient opted out at the carrier);
- everything else is delivered, and when the body carries a short link and the
  number's last digit is even, the recipient "taps" it: a GET with a phone's
  User-Agent on the link, through the real redirect view (when the web server
  is up), a few seconds after delivery.
"""

from __future__ import annotations

import re
import uuid

from .base import FetchResult, GatewayError, OutboundSMS, SendResult

OUTCOMES = {"13": ("undelivered", 30003), "66": ("failed", 30006)}
REFUSALS = {
    "99": (21211, "The 'To' number is not a valid phone number."),
    "98": (21610, "Attempt to send to unsubscribed recipient"),
}


def outcome_for(to: str) -> tuple[str, int | None]:
    return OUTCOMES.get(to[-2:], ("delivered", None))


def clicks(to: str) -> bool:
    return outcome_for(to)[0] == "delivered" and to[-1:].isdigit() and int(to[-1]) % 2 == 0


def short_link_in(body: str) -> str | None:
    from django.conf import settings

    match = re.search(re.escape(settings.SHORT_LINK_BASE_URL) + r"/[A-Za-z0-9]+", body)
    return match.group(0) if match else None


class SimulatorGateway:
    name = "simulator"

    def send(self, tenant, sms: OutboundSMS) -> SendResult:
        refusal = REFUSALS.get(sms.to[-2:])
        if refusal:
            code, message = refusal
            raise GatewayError(message, code=code, http_status=400, permanent=True)
        sid = "SM" + uuid.uuid4().hex
        from . import tasks  # late import: Celery app

        status, code = outcome_for(sms.to)
        delay = _delay()
        report = {"tenant_id": tenant.pk, "sid": sid, "to": sms.to}
        if status == "delivered":
            tasks.simulator_report.apply_async(kwargs={**report, "status": "sent", "error_code": None}, countdown=delay)
        tasks.simulator_report.apply_async(kwargs={**report, "status": status, "error_code": code}, countdown=delay * 2)
        link = short_link_in(sms.body)
        if link and clicks(sms.to):
            tasks.simulator_click.apply_async(kwargs={"url": link}, countdown=delay * 3)
        return SendResult(sid=sid, status="accepted" if tenant.uses_messaging_service else "queued")

    def fetch(self, tenant, sid: str) -> FetchResult:
        return FetchResult(sid=sid, status="delivered")


def _delay() -> float:
    from django.conf import settings

    return settings.SIMULATOR_REPORT_DELAY
