"""Writes each message to the log instead of sending it (development)."""

from __future__ import annotations

import logging
import uuid

from .base import FetchResult, OutboundSMS, SendResult

logger = logging.getLogger("smscampaigns.console_gateway")


class ConsoleGateway:
    name = "console"

    def send(self, tenant, sms: OutboundSMS) -> SendResult:
        sid = "SM" + uuid.uuid4().hex
        logger.info("SMS %s from tenant %s to %s: %s", sid, tenant.slug, sms.to, sms.body)
        return SendResult(sid=sid, status="queued")

    def fetch(self, tenant, sid: str) -> FetchResult:
        return FetchResult(sid=sid, status="delivered")
