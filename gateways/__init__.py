"""The one seam between smscampaigns and an SMS provider.

``get_gateway()`` returns the backend named by ``SMS_GATEWAY``. Every backend
answers ``send()`` with a ``SendResult`` or raises ``GatewayError`` saying whether
the failure is permanent, retryable, or of unknown outcome.
"""

from __future__ import annotations

from .base import FetchResult, Gateway, GatewayError, OutboundSMS, SendResult, get_gateway

__all__ = ["FetchResult", "Gateway", "GatewayError", "OutboundSMS", "SendResult", "get_gateway"]
