from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from tenants.models import Tenant

# Twilio error codes that no retry will cure (../shared/GATEWAY.md).
PERMANENT_CODES = frozenset({21211, 21212, 21408, 21606, 21610, 21612, 21614, 21617, 20003, 20404, 30034})
CODE_OPTED_OUT = 21610
CODE_BAD_CREDENTIALS = 20003
CODE_NOT_FOUND = 20404
CODE_TOO_MANY_REQUESTS = 20429


@dataclass(frozen=True)
class OutboundSMS:
    to: str
    body: str
    status_callback: str = ""
    validity_period: int | None = None
    media_url: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str  # "queued" or "accepted" (Messaging Service)


@dataclass(frozen=True)
class FetchResult:
    sid: str
    status: str
    error_code: int | None = None
    error_message: str = ""


@dataclass(frozen=True)
class FoundMessage:
    """A message the gateway says it holds: the answer to "did this ever reach the provider?"."""

    sid: str
    status: str  # the provider's raw status string, lower case
    to: str
    from_: str = ""
    messaging_service_sid: str = ""
    body: str = ""
    date_created: datetime | None = None  # aware, UTC
    error_code: int | None = None
    error_message: str = ""


class GatewayError(Exception):
    """A send that did not succeed.

    Exactly one of: ``permanent`` (never retry this message), ``retryable`` (the
    request was not processed; retry the same message later), or
    ``outcome_unknown`` (the request may have gone out; never resend blindly).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        permanent: bool = False,
        retryable: bool = False,
        outcome_unknown: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.permanent = permanent
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after

    @property
    def opted_out(self) -> bool:
        return self.code == CODE_OPTED_OUT

    @property
    def bad_credentials(self) -> bool:
        return self.code == CODE_BAD_CREDENTIALS

    def __repr__(self) -> str:
        kind = "permanent" if self.permanent else "retryable" if self.retryable else "unknown-outcome"
        return f"GatewayError({self.code}, {kind}, {self.message!r})"


def classify(*, http_status: int | None, code: int | None, message: str) -> GatewayError:
    """Turn a provider's error answer into a GatewayError of the right class."""
    if http_status == 429 or code == CODE_TOO_MANY_REQUESTS:
        return GatewayError(message, code=code, http_status=http_status, retryable=True)
    if http_status is not None and http_status >= 500:
        return GatewayError(message, code=code, http_status=http_status, outcome_unknown=True)
    # Any other answer is a refusal: the message was not accepted. Unknown codes
    # are failures too (never a crash, never a blind retry).
    return GatewayError(message, code=code, http_status=http_status, permanent=True)


def classify_read(*, http_status: int | None, code: int | None, message: str) -> GatewayError:
    """Turn an error answer to a question (fetch, list) into a GatewayError.

    A question changes nothing at the provider, so the outcome is never unknown:
    a 5xx or 429 is worth asking again later (retryable); a refusal (bad
    credentials 20003, not found 20404, a bad filter) is permanent.
    """
    if http_status == 429 or code == CODE_TOO_MANY_REQUESTS or (http_status is not None and http_status >= 500):
        return GatewayError(message, code=code, http_status=http_status, retryable=True)
    if code is None and http_status == 401:
        code = CODE_BAD_CREDENTIALS
    if code is None and http_status == 404:
        code = CODE_NOT_FOUND
    return GatewayError(message, code=code, http_status=http_status, permanent=True)


class Gateway(Protocol):
    name: str

    def send(self, tenant: Tenant, sms: OutboundSMS) -> SendResult: ...

    def fetch(self, tenant: Tenant, sid: str) -> FetchResult:
        """The message's current status. GatewayError(code=20404, permanent=True) when the provider has no
        such message; GatewayError(retryable=True) when it cannot be asked (connection error, timeout, 5xx, 429)."""
        ...

    def lookup(self, tenant: Tenant, *, to: str, created_after: datetime) -> list[FoundMessage]:
        """Every message the tenant's account sent to ``to`` from the tenant's sender (its number, or for a
        Messaging Service sender (tenant.uses_messaging_service, tenant.sender = MG…) any number of that service)
        created at or after ``created_after``. Newest first. Raises GatewayError(retryable=True) when the gateway
        cannot be asked (connection error, timeout, 5xx, 429); GatewayError(permanent=True) for 401/20003."""
        ...


BACKENDS = {
    "twilio": "gateways.twilio.TwilioGateway",
    "simulator": "gateways.simulator.SimulatorGateway",
    "console": "gateways.console.ConsoleGateway",
}


@lru_cache(maxsize=8)
def _gateway(name: str) -> Gateway:
    return import_string(BACKENDS[name])()


def get_gateway(name: str | None = None) -> Gateway:
    return _gateway(name or settings.SMS_GATEWAY)


def status_callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/status/"
