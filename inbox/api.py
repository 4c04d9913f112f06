"""REST API of the inbox: conversations (list with filters, one), a thread, an answer, assign, done, read.

Tenant-scoped through ``TenantScopedMixin`` (another tenant's conversation is a 404); viewers and read-only keys
only read (``IsTenantUser``). Thin: reads from ``selectors``, writes through ``services``."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from tenants.api import TenantScopedMixin
from tenants.models import User

from .models import Conversation
from .selectors import THREAD_LIMIT, conversation_thread, conversations_for, reply_rules
from .services import (
    ReplyRefused,
    conversation_assign,
    conversation_done,
    conversation_read,
    conversations_refresh,
    reply_send,
)


class ContactBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    phone_number = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()


class ConversationSerializer(serializers.ModelSerializer):
    contact = ContactBriefSerializer(read_only=True)
    assigned_to_email = serializers.SerializerMethodField()
    done = serializers.BooleanField(source="is_done", read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "contact",
            "last_message_at",
            "last_inbound_at",
            "last_preview",
            "last_direction",
            "unread",
            "assigned_to",
            "assigned_to_email",
            "done",
            "done_at",
        ]
        read_only_fields = fields

    def get_assigned_to_email(self, obj) -> str:
        return obj.assigned_to.email if obj.assigned_to else ""


class BubbleSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="in-<inbound id> or out-<message id>")
    direction = serializers.ChoiceField(choices=["in", "out"])
    body = serializers.CharField()
    at = serializers.DateTimeField()
    status = serializers.CharField(
        help_text="An outbound message's status (pending, sending, queued, sent, "
        "delivered, read, failed, undelivered, suppressed, capped, blocked, unknown)"
    )
    status_label = serializers.CharField()
    error = serializers.CharField()
    source = serializers.CharField(help_text="Campaign: <name>, Journey: <name>, Answer by <email>, Direct message")


class ThreadSerializer(serializers.Serializer):
    results = BubbleSerializer(many=True)
    rules = serializers.DictField(child=serializers.CharField())


class ReplyRequestSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=1600, allow_blank=False, trim_whitespace=True)
    idempotency_key = serializers.CharField(
        max_length=64, required=False, allow_blank=True,
        help_text="Optional (or the Idempotency-Key header): the same key again returns the first answer, 201, "
        "and sends nothing more.",
    )  # fmt: skip


class ReplyMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    error_message = serializers.CharField()


class ReplySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    body = serializers.CharField()
    author = serializers.SerializerMethodField()
    quiet_hours_exempt = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    message = ReplyMessageSerializer(allow_null=True)

    def get_author(self, obj) -> str:
        return obj.author.email if obj.author else ""


class AssignSerializer(serializers.Serializer):
    user = serializers.IntegerField(allow_null=True, help_text="A user id of your team; null: nobody")


class DoneSerializer(serializers.Serializer):
    done = serializers.BooleanField(default=True, help_text="false: open it again")


class RefusedSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="opted_out or consent_revoked")
    detail = serializers.CharField()


def _flag(params, name: str) -> bool | None:
    value = (params.get(name) or "").strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ValidationError({name: ["Use true or false."]})


def _assigned(params) -> str | int | None:
    value = (params.get("assigned") or "").strip().lower()
    if not value:
        return None
    if value in ("me", "none", "any"):
        return value
    if value.isdigit() and 0 < int(value) < 2**31:
        return int(value)
    raise ValidationError({"assigned": ["Use me, none, any or a user id."]})


CONVERSATION_EXAMPLE = {
    "id": 12,
    "contact": {"id": 4, "phone_number": "+14155550123", "first_name": "Ada", "last_name": ""},
    "last_message_at": "2026-12-07T09:00:00Z",
    "last_inbound_at": "2026-12-07T09:00:00Z",
    "last_preview": "Is the sale still on?",
    "last_direction": "in",
    "unread": 1,
    "assigned_to": None,
    "assigned_to_email": "",
    "done": False,
    "done_at": None,
}


@extend_schema(tags=["Inbox"])
@extend_schema_view(
    list=extend_schema(
        summary="List conversations, latest activity first",
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.BOOL, description="true: with unread texts; false: all read"),
            OpenApiParameter("done", OpenApiTypes.BOOL, description="true: marked done; false: open"),
            OpenApiParameter("assigned", OpenApiTypes.STR, description="me, none, any, or a user id"),
            OpenApiParameter("search", OpenApiTypes.STR, description="Name, number, or text of a message"),
        ],
        examples=[OpenApiExample("Conversations", value=[CONVERSATION_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(summary="One conversation"),
)
class ConversationViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The two-way inbox: a conversation per contact who texted you, kept from the inbound texts. Its thread holds
    both ways (their texts; your campaigns, journeys and answers with their delivery status). Answers go through
    the sending pipeline: an opted-out number or a revoked consent is refused (409) before anything is sent."""

    queryset = Conversation.objects.select_related("contact", "assigned_to")
    serializer_class = ConversationSerializer

    def get_queryset(self):
        conversations_refresh(tenant=self.tenant)
        if self.action != "list":
            return super().get_queryset()
        params = self.request.query_params
        return conversations_for(
            tenant=self.tenant,
            unread=_flag(params, "unread"),
            done=_flag(params, "done"),
            assigned=_assigned(params),
            search=(params.get("search") or "")[:100],
            user=self.request.user,
        )

    @extend_schema(
        summary="The conversation's messages, newest first (both ways, with each outbound message's status)",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"At most this many (1-200, {THREAD_LIMIT})")
        ],
        responses={200: ThreadSerializer},
    )
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        conversation = self.get_object()
        raw = request.query_params.get("limit") or str(THREAD_LIMIT)
        if not (raw.isdigit() and 1 <= int(raw) <= 200):
            raise ValidationError({"limit": ["A number from 1 to 200."]})
        rules = reply_rules(conversation=conversation)
        bubbles = conversation_thread(conversation=conversation, limit=int(raw))
        return Response(
            {
                "results": [b.as_dict() for b in bubbles],
                "rules": {
                    "quiet_hours": rules.quiet_hours_text,
                    "frequency_cap": rules.frequency_cap_text,
                    "refusal": rules.refusal,
                },
            }
        )

    @extend_schema(
        summary="Answer: one text to the contact through the sending pipeline",
        request=ReplyRequestSerializer,
        responses={
            201: ReplySerializer,
            400: OpenApiResponse(description="No text, or too long: the field named"),
            409: OpenApiResponse(RefusedSerializer, description="Opted out or consent revoked: nothing was sent"),
        },
        examples=[
            OpenApiExample("Answer", value={"body": "Yes, until Sunday!"}, request_only=True),
            OpenApiExample(
                "Opted out",
                value={"code": "opted_out", "detail": "Not sent: this number opted out (Keyword, 2026-12-07 09:00). "
                       "Nothing can be texted to it until the person texts START."},
                response_only=True, status_codes=["409"],
            ),
        ],
    )  # fmt: skip
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        conversation = self.get_object()
        serializer = ReplyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = serializer.validated_data.get("idempotency_key") or request.headers.get("Idempotency-Key", "")
        try:
            reply = reply_send(
                conversation=conversation, author=request.user, body=serializer.validated_data["body"], token=token
            )
        except ReplyRefused as refused:
            if refused.code == "body":
                raise ValidationError({"body": [refused.message]}) from None
            return Response({"code": refused.code, "detail": refused.message}, status=status.HTTP_409_CONFLICT)
        return Response(ReplySerializer(reply).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Assign to a user of your team (or nobody)", request=AssignSerializer,
                   responses={200: ConversationSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        conversation = self.get_object()
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_id = serializer.validated_data["user"]
        user = None
        if user_id is not None:
            user = User.objects.filter(pk=user_id, tenant_id=self.tenant.pk, is_active=True).first()
            if user is None:
                raise ValidationError({"user": ["No active user of your team has this id."]})
        conversation_assign(conversation=conversation, user=user)
        return Response(self.get_serializer(conversation).data)

    @extend_schema(summary="Mark done (or open again with done=false); a new text opens it again",
                   request=DoneSerializer, responses={200: ConversationSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None):
        conversation = self.get_object()
        serializer = DoneSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversation_done(conversation=conversation, done=serializer.validated_data["done"])
        return Response(self.get_serializer(conversation).data)

    @extend_schema(summary="Mark every text so far read", request=None, responses={200: ConversationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        conversation = self.get_object()
        conversation_read(conversation=conversation)
        return Response(self.get_serializer(conversation).data)
