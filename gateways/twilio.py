"""Twilio through twilio-python, pointed at ``TWILIO_API_BASE_URL``."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from .base import FetchResult, FoundMessage, GatewayError, OutboundSMS, SendResult, classify, classify_read

if TYPE_CHECKING:
    from tenants.models import Tenant

TWILIO_ORIGIN = "https://api.twilio.com"
#: How many messages a lookup reads by DateSent (pages of 50), and how many of the newest ones besides.
LOOKUP_LIMIT = 200
LOOKUP_NEWEST = 20
#: Twilio's dates have whole seconds: a message created in the same second as ``created_after`` still counts.
LOOKUP_SLACK = timedelta(seconds=1)


class BaseUrlHttpClient(TwilioHttpClient):
    """twilio's pooled HTTP client, rewriting api.twilio.com to another origin, minus per-request waste.

    ``TwilioHttpClient.request`` reads the proxy and CA settings from the
    environment on every request (``requests``' ``merge_environment_settings``:
    two walks over ``os.environ``, a third of its CPU per message) and formats
    its log lines even when nobody listens. Here the environment is read once,
    when the client is built, and the request is logged only when the
    ``twilio.http_client`` logger is on. The request itself is the same
    ``requests`` call on the same pooled session (auth, form encoding, timeouts
    and exceptions unchanged). One client per account is kept for the process
    (``TwilioGateway._client``); its pool holds ``pool_maxsize`` keep-alive
    connections, as many as the sender has calls in flight.
    """

    def __init__(self, base_url: str, *, pool_maxsize: int = 64, **kwargs) -> None:
        super().__init__(pool_connections=True, **kwargs)
        self.base_url = base_url.rstrip("/")
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # The environment's proxies, CA bundle and certificate, once (what requests would read per request).
        env = self.session.merge_environment_settings(self.base_url, dict(self.proxy), None, None, None)
        self.session.trust_env = False
        self._send_settings = {k: v for k, v in env.items() if k != "stream"}

    def request(
        self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
    ) -> Response:
        if self.base_url != TWILIO_ORIGIN and url.startswith(TWILIO_ORIGIN):
            url = self.base_url + url[len(TWILIO_ORIGIN) :]
        timeout = self.timeout if timeout is None else timeout
        kwargs = {"method": method.upper(), "url": url, "params": params, "headers": headers, "auth": auth}
        if headers and headers.get("Content-Type") in ("application/json", "application/scim+json"):
            kwargs["json"] = data
        else:
            kwargs["data"] = data
        if self.logger.isEnabledFor(logging.INFO):
            self.log_request(kwargs)
        prepared = self.session.prepare_request(requests.Request(hooks=self.request_hooks, **kwargs))
        response = self.session.send(prepared, allow_redirects=allow_redirects, timeout=timeout, **self._send_settings)
        if self.logger.isEnabledFor(logging.INFO):
            self.log_response(response.status_code, response)
        return Response(int(response.status_code), response.text, response.headers)


class TwilioGateway:
    name = "twilio"

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, str, float], Client] = {}
        self._lock = threading.Lock()

    def _client(self, tenant: Tenant) -> Client:
        if not tenant.twilio_account_sid or not tenant.twilio_auth_token:
            raise GatewayError("The tenant has no Twilio credentials", code=20003, permanent=True)
        key = (
            tenant.twilio_account_sid,
            tenant.twilio_auth_token,
            settings.TWILIO_API_BASE_URL,
            settings.TWILIO_HTTP_TIMEOUT,
        )
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = Client(
                        tenant.twilio_account_sid,
                        tenant.twilio_auth_token,
                        http_client=BaseUrlHttpClient(
                            settings.TWILIO_API_BASE_URL,
                            timeout=settings.TWILIO_HTTP_TIMEOUT,
                            pool_maxsize=max(64, settings.SENDING_CONCURRENCY),
                        ),
                    )
                    # twilio-python imports its REST modules on first use: do it here, once, rather
                    # than in every gateway thread at once (they would queue on the import lock).
                    client.messages  # noqa: B018 - the property's side effect is the import
                    self._clients[key] = client
        return client

    def send(self, tenant: Tenant, sms: OutboundSMS) -> SendResult:
        # An MMS may have no text: then no Body at all (Twilio wants a Body or a MediaUrl).
        kwargs: dict = {"to": sms.to, "body": sms.body} if sms.body or not sms.media_url else {"to": sms.to}
        if tenant.uses_messaging_service:
            kwargs["messaging_service_sid"] = tenant.sender
        else:
            kwargs["from_"] = tenant.sender
        if sms.status_callback:
            kwargs["status_callback"] = sms.status_callback
        if sms.validity_period:
            kwargs["validity_period"] = sms.validity_period
        if sms.media_url:
            kwargs["media_url"] = sms.media_url
        try:
            message = self._client(tenant).messages.create(**kwargs)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise classify(http_status=exc.status, code=exc.code, message=_message(exc)) from None
        except (requests.ConnectionError, requests.ConnectTimeout) as exc:
            if isinstance(exc, requests.ConnectTimeout) or _before_request_sent(exc):
                raise GatewayError("Could not connect to Twilio", retryable=True) from None
            raise GatewayError("Connection lost after the request went out", outcome_unknown=True) from None
        except requests.Timeout:
            raise GatewayError("Twilio did not answer in time", outcome_unknown=True) from None
        except TwilioException as exc:
            raise GatewayError(f"Twilio error: {exc}", outcome_unknown=True) from None
        return SendResult(sid=message.sid, status=message.status or "queued")

    def fetch(self, tenant: Tenant, sid: str) -> FetchResult:
        """The message's status at Twilio: 20404 (permanent) when Twilio has no such message."""
        client = self._client(tenant)
        try:
            message = client.messages(sid).fetch()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a classified GatewayError
            raise _read_error(exc, "fetch") from None
        return FetchResult(
            sid=message.sid,
            status=message.status,
            error_code=message.error_code,
            error_message=message.error_message or "",
        )

    def lookup(self, tenant: Tenant, *, to: str, created_after: datetime) -> list[FoundMessage]:
        """Messages to ``to`` from the tenant's sender created at or after ``created_after``, newest first.

        Two questions: the messages Twilio sent since ``created_after`` (its
        ``DateSent>`` filter), and the newest ones regardless of date, because a
        message still queued at Twilio has no ``date_sent`` yet and the date
        filter leaves it out. Both are filtered here on ``date_created`` (less
        a second: Twilio's dates are whole seconds) and, for a Messaging
        Service, on the service (its messages come from any number of the
        service, so ``From`` cannot narrow the question).
        """
        client = self._client(tenant)
        after = _utc(created_after)
        query: dict = {"to": to}
        if not tenant.uses_messaging_service:
            query["from_"] = tenant.sender
        try:
            by_date = client.messages.list(**query, date_sent_after=after, page_size=50, limit=LOOKUP_LIMIT)
            newest = client.messages.list(**query, page_size=LOOKUP_NEWEST, limit=LOOKUP_NEWEST)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a classified GatewayError
            raise _read_error(exc, "lookup") from None
        since = after - LOOKUP_SLACK
        found: dict[str, FoundMessage] = {}
        for message in [*by_date, *newest]:
            if not message.sid or message.sid in found:
                continue
            if str(message.direction or "").startswith("inbound"):
                continue
            if tenant.uses_messaging_service and message.messaging_service_sid != tenant.sender:
                continue
            created = message.date_created if isinstance(message.date_created, datetime) else None
            if created is None or created < since:
                continue
            found[message.sid] = FoundMessage(
                sid=message.sid,
                status=str(message.status or "").lower(),
                to=message.to or to,
                from_=message.from_ or "",
                messaging_service_sid=message.messaging_service_sid or "",
                body=message.body or "",
                date_created=created,
                error_code=message.error_code,
                error_message=message.error_message or "",
            )
        return sorted(found.values(), key=lambda m: m.date_created, reverse=True)


def _utc(moment: datetime) -> datetime:
    """twilio-python writes a datetime's wall clock with a Z whatever its zone: hand it UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _message(exc: TwilioRestException | TwilioServiceException) -> str:
    """The error's text (an RFC 9457 answer has a title where the classic one has a message)."""
    return str(getattr(exc, "msg", None) or getattr(exc, "title", "") or "")


def _read_error(exc: Exception, what: str) -> GatewayError:
    """A failed question to Twilio as a GatewayError: retryable unless Twilio refused it (401, 404, 4xx)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        return classify_read(http_status=exc.status, code=exc.code, message=f"Twilio {what}: {_message(exc)}")
    if isinstance(exc, TwilioException) and len(exc.args) > 1 and isinstance(exc.args[1], Response):
        # A list page that is not a 200 (twilio.base.page.Page.process_response): the answer rides along.
        response = exc.args[1]
        try:
            payload = json.loads(response.text)
        except ValueError:
            payload = {}
        code = payload.get("code") if isinstance(payload, dict) else None
        return classify_read(
            http_status=response.status_code,
            code=code if isinstance(code, int) else None,
            message=f"Twilio {what}: HTTP {response.status_code}",
        )
    if isinstance(exc, requests.RequestException | TwilioException):
        return GatewayError(f"Twilio {what} failed: {type(exc).__name__}", retryable=True)
    raise exc


def _before_request_sent(exc: requests.ConnectionError) -> bool:
    """A refused or unresolvable connection never carried the request."""
    text = repr(exc)
    return any(s in text for s in ("NewConnectionError", "Connection refused", "NameResolutionError", "Max retries"))
