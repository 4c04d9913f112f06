"""Twilio through twilio-python, pointed at ``TWILIO_API_BASE_URL``."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from .base import FetchResult, GatewayError, OutboundSMS, SendResult, classify

if TYPE_CHECKING:
    from tenants.models import Tenant

TWILIO_ORIGIN = "https://api.twilio.com"


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
        self._clients: dict[tuple[str, str, str], Client] = {}
        self._lock = threading.Lock()

    def _client(self, tenant: Tenant) -> Client:
        if not tenant.twilio_account_sid or not tenant.twilio_auth_token:
            raise GatewayError("The tenant has no Twilio credentials", code=20003, permanent=True)
        key = (tenant.twilio_account_sid, tenant.twilio_auth_token, settings.TWILIO_API_BASE_URL)
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
        kwargs: dict = {"to": sms.to, "body": sms.body}
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
        except TwilioRestException as exc:
            raise classify(http_status=exc.status, code=exc.code, message=str(exc.msg)) from None
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
        try:
            message = self._client(tenant).messages(sid).fetch()
        except TwilioRestException as exc:
            raise classify(http_status=exc.status, code=exc.code, message=str(exc.msg)) from None
        except (requests.RequestException, TwilioException) as exc:
            raise GatewayError(f"Twilio fetch failed: {type(exc).__name__}", retryable=True) from None
        return FetchResult(
            sid=message.sid,
            status=message.status,
            error_code=message.error_code,
            error_message=message.error_message or "",
        )


def _before_request_sent(exc: requests.ConnectionError) -> bool:
    """A refused or unresolvable connection never carried the request."""
    text = repr(exc)
    return any(s in text for s in ("NewConnectionError", "Connection refused", "NameResolutionError", "Max retries"))
