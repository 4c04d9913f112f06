"""The audit log's door for contacts: every successful admin or API write to a contact is logged.

Contacts belong to another app; rather than reach into its views, one middleware
watches the two doors (``/admin/contacts/contact/…`` and ``/api/v1/contacts/…``)
and records who changed what. Suppressions are logged by the compliance code
itself (``services.audit_record``), with the number's keyed hash.
"""

from __future__ import annotations

import logging
import re

from .models import AuditChannel
from .services import audit_record

logger = logging.getLogger(__name__)

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_API = re.compile(r"^/api/v1/contacts/(?:(?P<id>\d+)/|(?P<sub>[\w-]+)/)?$")
_ADMIN = re.compile(r"^/admin/contacts/contact/(?:(?P<id>\d+)/(?P<op>change|delete)/|(?P<add>add)/)?$")


def _describe(request) -> tuple[str, str, str, dict] | None:
    """(channel, action, object id, detail) for a contact write, else ``None``."""
    path = request.path
    match = _API.match(path)
    if match:
        if match["sub"]:
            return AuditChannel.API, f"contact_{match['sub']}", "", {}
        action = {"POST": "contact_create", "DELETE": "contact_delete"}.get(request.method, "contact_update")
        return AuditChannel.API, action, match["id"] or "", {}
    match = _ADMIN.match(path)
    if match:
        if match["add"]:
            return AuditChannel.ADMIN, "contact_create", "", {}
        if match["id"]:
            return AuditChannel.ADMIN, f"contact_{'update' if match['op'] == 'change' else 'delete'}", match["id"], {}
        admin_action = request.POST.get("action", "")
        if admin_action:
            ids = request.POST.getlist("_selected_action")[:1000]
            return AuditChannel.ADMIN, f"contact_action_{admin_action}"[:40], "", {"ids": ids}
    return None


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in _WRITE_METHODS or not request.path.startswith(("/api/v1/contacts", "/admin/contacts")):
            return self.get_response(request)
        # Read before the view: the admin's POST data is needed for bulk actions.
        description = _describe(request)
        response = self.get_response(request)
        user = getattr(request, "user", None)
        tenant_id = getattr(user, "tenant_id", None)
        # The admin redirects after a write it did (a 200 is a form shown again, or a confirmation page).
        done = description is not None and (
            response.status_code == 302 if description[0] == AuditChannel.ADMIN else 200 <= response.status_code < 300
        )
        if done and tenant_id:
            channel, action, object_id, detail = description
            detail = {**detail, "status": response.status_code}
            if not object_id and action == "contact_create" and channel == AuditChannel.API:
                data = getattr(response, "data", None)
                object_id = str(data.get("id", "")) if isinstance(data, dict) else ""
            try:
                audit_record(
                    tenant=tenant_id,
                    actor=user,
                    channel=channel,
                    action=action,
                    object_type="contact",
                    object_id=object_id,
                    detail=detail,
                )
            except Exception:  # noqa: BLE001 - the audit must never turn a done write into an error
                logger.exception("audit log write failed")
        return response
