"""The inbox in the admin: the conversation list (live), a conversation's thread with the answer box (live), and
the tenant's inbox settings. Thin: reads from ``selectors``, writes through ``services``."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from tenants.admin_scoping import TenantScopedAdmin, may_write, request_tenant
from tenants.models import User

from .models import Conversation, InboxSettings
from .selectors import conversation_thread, conversations_for, inbox_settings_get, reply_rules, unread_total
from .services import (
    ReplyRefused,
    conversation_assign,
    conversation_done,
    conversation_read,
    conversations_refresh,
    reply_send,
)

#: The list's filters: (key, label, query arguments for ``conversations_for``).
VIEWS = [
    ("open", "Open", {"done": False}),
    ("unread", "Unread", {"unread": True}),
    ("mine", "Assigned to me", {"assigned": "me", "done": False}),
    ("unassigned", "Unassigned", {"assigned": "none", "done": False}),
    ("done", "Done", {"done": True}),
    ("all", "All", {}),
]
LIST_LIMIT = 100


def _list_row(conversation: Conversation) -> dict:
    contact = conversation.contact
    name = f"{contact.first_name} {contact.last_name}".strip()
    return {
        "id": conversation.pk,
        "name": name,
        "phone_number": contact.phone_number,
        "preview": conversation.last_preview,
        "direction": conversation.last_direction,
        "last_message_at": conversation.last_message_at.isoformat(),
        "when": timezone.localtime(conversation.last_message_at).strftime("%Y-%m-%d %H:%M"),
        "unread": conversation.unread,
        "assigned_to": conversation.assigned_to.email if conversation.assigned_to else "",
        "done": conversation.is_done,
        "url": reverse("admin:inbox_conversation_change", args=[conversation.pk]),
    }


@admin.register(Conversation)
class ConversationAdmin(TenantScopedAdmin):
    """The inbox: conversations with their unread counts, filters and search, each opening on its thread."""

    list_display = ("contact", "last_message_at", "unread", "assigned_to", "done_at")

    def has_add_permission(self, request):
        return False  # a conversation starts with the person's text

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("live/", self.admin_site.admin_view(self.list_json_view), name="inbox_conversation_live"),
            path(
                "<path:object_id>/thread/",
                self.admin_site.admin_view(self.thread_json_view),
                name="inbox_conversation_thread",
            ),
            *super().get_urls(),
        ]

    # --- the list ---------------------------------------------------------------------------

    def _listing(self, request) -> tuple[str, str, list[Conversation]]:
        tenant = request_tenant(request)
        if tenant is not None:
            conversations_refresh(tenant=tenant)
        view = request.GET.get("view") or "open"
        filters = dict(next((f for k, _l, f in VIEWS if k == view), VIEWS[0][2]))
        search = (request.GET.get("q") or "").strip()[:100]
        rows = list(conversations_for(tenant=tenant, search=search, user=request.user, **filters)[:LIST_LIMIT])
        return view, search, rows

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST":  # actions go through Django's changelist
            return super().changelist_view(request, extra_context)
        if not self.has_view_permission(request):
            raise Http404
        view, search, rows = self._listing(request)
        tenant = request_tenant(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Inbox",
            "views": [(k, label) for k, label, _f in VIEWS],
            "view": view,
            "search": search,
            "rows": [_list_row(c) for c in rows],
            "unread_total": unread_total(tenant=tenant) if tenant is not None else None,
            "live_url": reverse("admin:inbox_conversation_live") + "?" + request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/inbox/conversation/inbox.html", context)

    def list_json_view(self, request):
        if not self.has_view_permission(request):
            raise Http404
        _view, _search, rows = self._listing(request)
        tenant = request_tenant(request)
        return JsonResponse(
            {
                "unread_total": unread_total(tenant=tenant) if tenant is not None else None,
                "conversations": [_list_row(c) for c in rows],
            }
        )

    # --- one conversation ----------------------------------------------------------------------

    def _conversation(self, request, object_id) -> Conversation:
        try:
            found = self.get_queryset(request).select_related("contact", "tenant", "assigned_to").get(pk=object_id)
        except (Conversation.DoesNotExist, ValueError):
            raise Http404("No such conversation") from None
        if not self.has_view_permission(request, found):
            raise Http404("No such conversation")
        return found

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = self._conversation(request, object_id)
        writer = may_write(request.user)
        conversations_refresh(tenant=conversation.tenant)
        conversation.refresh_from_db()
        url = reverse("admin:inbox_conversation_change", args=[conversation.pk])
        error, typed = "", ""
        if request.method == "POST":
            if not writer:
                raise PermissionDenied("Viewers read the inbox; they do not answer")
            op = request.POST.get("op")
            if op == "reply":
                typed = request.POST.get("body", "")
                try:
                    reply = reply_send(
                        conversation=conversation,
                        author=request.user,
                        body=typed,
                        token=request.POST.get("token", ""),
                    )
                except ReplyRefused as refused:
                    error = refused.message
                else:
                    status = reply.message.get_status_display() if reply.message else "—"
                    self.message_user(request, f"Answer sent to the pipeline ({status}).", messages.SUCCESS)
                    return HttpResponseRedirect(url)
            elif op == "assign":
                value = request.POST.get("assigned_to") or ""
                user = None
                if value:
                    user = User.objects.filter(pk=value, tenant_id=conversation.tenant_id, is_active=True).first()
                    if user is None:
                        raise Http404("No such user")
                conversation_assign(conversation=conversation, user=user)
                self.message_user(request, f"Assigned to {user.email}." if user else "Unassigned.", messages.SUCCESS)
                return HttpResponseRedirect(url)
            elif op in ("done", "reopen"):
                conversation_done(conversation=conversation, done=op == "done")
                self.message_user(request, "Marked done." if op == "done" else "Open again.", messages.SUCCESS)
                return HttpResponseRedirect(url)
        elif writer and conversation.unread:
            conversation_read(conversation=conversation)
        contact = conversation.contact
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": str(contact),
            "conversation": conversation,
            "contact": contact,
            "bubbles": [b.as_dict() for b in conversation_thread(conversation=conversation)],
            "rules": reply_rules(conversation=conversation),
            "writer": writer,
            "users": User.objects.filter(tenant_id=conversation.tenant_id, is_active=True).order_by("email"),
            "token": uuid.uuid4().hex,
            "error": error,
            "typed": typed,
            "thread_url": reverse("admin:inbox_conversation_thread", args=[conversation.pk]),
            "unread_total": unread_total(tenant=conversation.tenant),
        }
        return TemplateResponse(request, "admin/inbox/conversation/thread.html", context)

    def thread_json_view(self, request, object_id):
        conversation = self._conversation(request, object_id)
        conversations_refresh(tenant=conversation.tenant)
        conversation.refresh_from_db()
        if request.GET.get("seen") and may_write(request.user) and conversation.unread:
            conversation_read(conversation=conversation)  # new texts shown on an open page are read
        rules = reply_rules(conversation=conversation)
        return JsonResponse(
            {
                "id": conversation.pk,
                "unread": conversation.unread,
                "done": conversation.is_done,
                "assigned_to": conversation.assigned_to.email if conversation.assigned_to else "",
                "unread_total": unread_total(tenant=conversation.tenant),
                "rules": {"quiet_hours": rules.quiet_hours_text, "frequency_cap": rules.frequency_cap_text},
                "refusal": rules.refusal,
                "messages": [b.as_dict() for b in conversation_thread(conversation=conversation)],
            }
        )


@admin.register(InboxSettings)
class InboxSettingsAdmin(TenantScopedAdmin):
    """One row per tenant, created on first visit: the rules for answers typed in the inbox."""

    list_display = ("__str__", "answer_quiet_hours_exempt_hours", "answer_frequency_cap")

    def changelist_view(self, request, extra_context=None):
        if not request.user.is_superuser and request.user.tenant_id:
            inbox_settings_get(tenant=request.user.tenant)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False
