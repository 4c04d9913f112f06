"""Logs that each message was "sent" instead of sending it (development).

The log line names the SID, the tenant, the number's last two digits and the
body's length, never the number or the body (logs carry no personal data); the
message itself is on its row in the admin.

What it "sent" is remembered as the simulator's messages are (``SentLog``, in
the cache for two days, shared by every worker when Redis is the cache), so
``fetch`` and ``lookup`` answer truthfully: a message it wrote is found (and
reported ``delivered``, as it always was), one it never wrote is not.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from .base import FetchResult, FoundMessage, OutboundSMS, SendResult
from .simulator import SentLog

logger = logging.getLogger("smscampaigns.console_gateway")

SENT = SentLog("gw:console")


class ConsoleGateway:
    name = "console"

    def send(self, tenant, sms: OutboundSMS) -> SendResult:
        sid = "SM" + uuid.uuid4().hex
        logger.info("SMS %s from tenant %s to …%s: %d characters", sid, tenant.slug, sms.to[-2:], len(sms.body))
        SENT.record(tenant, sid=sid, sms=sms, initial="queued", outcome="delivered", error_code=None, delay=0.0)
        return SendResult(sid=sid, status="queued")

    def fetch(self, tenant, sid: str) -> FetchResult:
        return SENT.fetch(tenant, sid)

    def lookup(self, tenant, *, to: str, created_after: datetime) -> list[FoundMessage]:
        return SENT.lookup(tenant, to=to, created_after=created_after)
