"""The API's request rates: DRF's throttles, counted in Django's cache (Redis), rates read from settings.

- ``KeyRateThrottle``: an authenticated caller, by API key (a session user by account): ``API_THROTTLE_USER``.
- ``AddressRateThrottle``: a caller without credentials, by address: ``API_THROTTLE_ANON``. DRF checks
  permissions before throttles, so an anonymous call to a protected endpoint would be a 401 before any
  throttle ran: ``AnonymousAddressThrottling``, the last authentication step (reached only when no
  credentials matched), applies it there instead.
- ``count_failed_authentication``: DRF authenticates before any throttle runs, so a bad key would be a
  401 forever and key guessing never slowed down. The API key authentication (tenants/authentication.py)
  counts each failure against the address (``API_BAD_AUTH_LIMIT`` a ``API_BAD_AUTH_WINDOW``); past the limit
  the answer is a 429 with ``Retry-After`` instead of a 401. A good key is never counted.

Rates are read from settings when a throttle is made (once a request), not at import, so
``override_settings`` applies at once. The address is ``REMOTE_ADDR`` unless ``REST_FRAMEWORK["NUM_PROXIES"]``
(``API_NUM_PROXIES``) says how many proxies in front append to ``X-Forwarded-For``.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    setting = ""

    def get_rate(self):
        return getattr(settings, self.setting)


class KeyRateThrottle(_SettingsRateThrottle):
    """An authenticated caller's rate: per API key (its id, never its secret), or per user for a session (the
    dashboard's charts). Two keys of one user count apart."""

    scope = "key"
    setting = "API_THROTTLE_USER"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None  # AddressRateThrottle's
        key_id = getattr(request.auth, "pk", None)
        ident = f"k{key_id}" if key_id is not None else f"u{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AddressRateThrottle(_SettingsRateThrottle):
    """A caller without credentials (a 401 on every endpoint but the public schema): per address."""

    scope = "anon"
    setting = "API_THROTTLE_ANON"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _check(throttle: SimpleRateThrottle, request) -> None:
    if not throttle.allow_request(request, None):
        raise Throttled(wait=throttle.wait())


class BadAuthThrottle(_SettingsRateThrottle):
    """Failed authentications per address: ``API_BAD_AUTH_LIMIT`` in ``API_BAD_AUTH_WINDOW`` seconds."""

    scope = "bad_auth"

    def get_rate(self):
        return f"{settings.API_BAD_AUTH_LIMIT}/s"

    def parse_rate(self, rate):
        num_requests, _ = super().parse_rate(rate)
        return num_requests, settings.API_BAD_AUTH_WINDOW

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def count_failed_authentication(request) -> None:
    """Count a failed authentication against the request's address; past the limit, raise a 429 (``Throttled``)
    for the caller to answer instead of its 401."""
    _check(BadAuthThrottle(), request)


class AnonymousAddressThrottling(BaseAuthentication):
    """Authenticates nobody: listed last, it is reached only by a caller no earlier class recognised, and
    counts that call against the address (``API_THROTTLE_ANON``), before permissions can answer 401."""

    def authenticate(self, request):
        _check(AddressRateThrottle(), request)
        return None


class AnonymousAddressThrottlingScheme(OpenApiAuthenticationExtension):
    """For the schema: ``AnonymousAddressThrottling`` is no way to authenticate (no security scheme)."""

    target_class = AnonymousAddressThrottling
    name = ()

    def get_security_definition(self, auto_schema):
        return []

    def get_security_requirement(self, auto_schema):
        return None
