"""The client's address for counting failures: the same one the API's throttles count by.

Sign-in lockouts (django-axes, ``AXES_CLIENT_IP_CALLABLE``) and the API's rates must agree on who the client is,
or an attacker could be one address to one and many to the other. Both use DRF's reading:
``REMOTE_ADDR``, unless ``REST_FRAMEWORK["NUM_PROXIES"]`` (``API_NUM_PROXIES``) says how many proxies in front
append to ``X-Forwarded-For``; then the address that many entries from its right end, which a client cannot
forge (whatever it puts in the header stays to the left).
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_address(request: HttpRequest) -> str | None:
    return BaseThrottle().get_ident(request)
