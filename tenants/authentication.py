"""The API's key authentication: ``Authorization: Token <key>`` (or ``Api-Key <key>``) → the key's user.

``request.auth`` is the ``ApiKey``: its ``scope`` is checked by ``tenants.permissions.IsTenantUser`` and its id
keys the rate (``common.throttles.KeyRateThrottle``). Every failure (unknown, revoked, expired) counts against
the caller's address, which turns into a 429 past ``API_BAD_AUTH_LIMIT`` (``common.throttles``). A revoked or
expired key is told apart only once its secret matched: a guess learns nothing about which prefixes exist.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from common.throttles import count_failed_authentication

from .models import ApiKey
from .services import api_key_mark_used

KEYWORDS = (b"token", b"api-key")


class ApiKeyAuthentication(BaseAuthentication):
    """A tenants.ApiKey in the Authorization header."""

    def authenticate(self, request):
        try:
            return self._authenticate(request)
        except AuthenticationFailed:
            count_failed_authentication(request)
            raise

    def _authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # another scheme (a session): not ours
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid token header: give one key after the keyword.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeError:
            raise AuthenticationFailed("Invalid token") from None
        api_key = ApiKey.objects.match(secret)
        if api_key is None:
            raise AuthenticationFailed("Invalid token")
        if api_key.revoked:
            raise AuthenticationFailed("API key revoked")
        if api_key.has_expired:
            raise AuthenticationFailed("API key expired")
        if not api_key.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        api_key_mark_used(key=api_key)
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        # Makes a failure a 401 (with WWW-Authenticate), not a 403.
        return "Token"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The schema's ``tokenAuth`` security scheme: what integrators put in the header."""

    target_class = ApiKeyAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Token <key> (an API key; Api-Key <key> works too)",
        }
