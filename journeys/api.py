"""REST API: journeys (``/api/v1/journeys/``), their runs, and API events (``POST /api/v1/events/``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from common.enqueue import task_enqueue
from tenants.api import TenantScopedMixin, TenantScopedReadOnlyViewSet, TenantScopedViewSet

from .enroll import current_version
from .models import Journey, JourneyRun, JourneyStatus, Reentry, StepRun, TriggerKind
from .selectors import journey_figures, journey_versions, version_tree
from .services import JourneyError, StepError, event_record, journey_create, journey_set_status, journey_update
from .steps import version_spec

TICK = "journeys.tasks.journeys_tick"

STEPS_EXAMPLE = [
    {
        "kind": "send",
        "body": "Welcome {{first_name|there}}! Your code: WELCOME10 {{link}}",
        "link_url": "https://shop.example/new",
    },
    {"kind": "wait", "days": 1},
    {
        "kind": "branch",
        "condition": {"type": "clicked"},
        "yes": [{"kind": "tag", "add": ["engaged"]}],
        "no": [{"kind": "send", "body": "Still there? 10% off ends tonight."}],
    },
]
JOURNEY_EXAMPLE = {
    "id": 3,
    "name": "Welcome series",
    "status": "active",
    "trigger_kind": "keyword",
    "trigger_value": "JOIN",
    "trigger_time": None,
    "reentry": "never",
    "reentry_days": 30,
    "exit_on_conversion": True,
    "version": 1,
    "steps": STEPS_EXAMPLE,
    "figures": {"entered": 120, "active": 80, "completed": 35, "exited": 5},
    "created_at": "2026-12-01T09:00:00Z",
}


class JourneySerializer(serializers.ModelSerializer):
    """A journey: its trigger, re-entry policy, exit rule and steps (the current version's, in the spec format of
    docs/journeys.md). Steps sent with a change make a new version when runs use the current one."""

    steps = serializers.JSONField(
        write_only=True, help_text="Ordered steps; a branch has `yes` and `no` lists (docs/journeys.md)"
    )
    version = serializers.SerializerMethodField()
    figures = serializers.SerializerMethodField()
    trigger_kind = serializers.ChoiceField(choices=TriggerKind.choices)
    reentry = serializers.ChoiceField(choices=Reentry.choices, required=False)

    class Meta:
        model = Journey
        fields = [
            "id", "name", "status", "trigger_kind", "trigger_value", "trigger_time", "reentry", "reentry_days",
            "exit_on_conversion", "version", "steps", "figures", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "status", "version", "figures", "created_at"]

    def get_version(self, obj) -> int | None:
        version = current_version(obj)
        return version.number if version else None

    def get_figures(self, obj) -> dict:
        return journey_figures(journey=obj)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        version = current_version(instance)
        data["steps"] = version_spec(version) if version else []
        return data


class StepFiguresSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    steps = serializers.JSONField(help_text="The step tree, each step with `figures`")
    versions = serializers.JSONField()


class RunSerializer(serializers.ModelSerializer):
    steps = serializers.SerializerMethodField()

    class Meta:
        model = JourneyRun
        fields = [
            "id", "journey", "contact", "status", "step", "due_at", "context", "entered_at", "finished_at",
            "exit_reason", "steps",
        ]  # fmt: skip

    def get_steps(self, obj) -> list[dict]:
        return [
            {"step": s.step_id, "kind": s.step.kind, "outcome": s.outcome, "message": s.message_id, "at": s.at}
            for s in StepRun.objects.filter(run=obj).select_related("step")
        ]


def _raise(exc: Exception):
    if isinstance(exc, StepError):
        raise serializers.ValidationError({"steps": [f"{exc.path}: {exc.message}"]}) from None
    if isinstance(exc, JourneyError):
        raise serializers.ValidationError({exc.field: [exc.message]}) from None
    raise exc


@extend_schema(tags=["Journeys"])
@extend_schema_view(
    list=extend_schema(summary="List journeys"),
    retrieve=extend_schema(
        summary="One journey with its current steps",
        examples=[OpenApiExample("Journey", value=JOURNEY_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Create a journey (a draft; activate it to start)",
        examples=[
            OpenApiExample(
                "Welcome series",
                value={
                    "name": "Welcome series",
                    "trigger_kind": "keyword",
                    "trigger_value": "JOIN",
                    "steps": STEPS_EXAMPLE,
                },
                request_only=True,
            )
        ],
    ),
    update=extend_schema(summary="Replace a journey (new steps make a new version if runs use the current one)"),
    partial_update=extend_schema(summary="Change a journey"),
    destroy=extend_schema(summary="Delete a journey that never ran (409 otherwise: archive it)"),
)
class JourneyViewSet(TenantScopedViewSet):
    """Journeys: automated flows a contact enters by what they do (docs/journeys.md)."""

    queryset = Journey.objects.all()
    serializer_class = JourneySerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        steps = data.pop("steps")
        try:
            serializer.instance = journey_create(tenant=self.tenant, steps=steps, **data)
        except (StepError, JourneyError) as exc:
            _raise(exc)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        steps = data.pop("steps", None)
        try:
            serializer.instance = journey_update(journey=serializer.instance, steps=steps, **data)
        except (StepError, JourneyError) as exc:
            _raise(exc)

    def destroy(self, request, *args, **kwargs):
        journey = self.get_object()
        if JourneyRun.objects.filter(journey=journey).exists():
            return Response(
                {"detail": "This journey has runs: archive it instead (POST …/archive/)."},
                status=status.HTTP_409_CONFLICT,
            )
        from campaigns.models import Campaign

        carriers = list(journey.versions.values_list("steps__campaign_id", flat=True))
        journey.delete()
        Campaign.objects.filter(pk__in=[c for c in carriers if c]).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _status(self, new: str) -> Response:
        journey = journey_set_status(journey=self.get_object(), status=new)
        return Response(JourneySerializer(journey).data)

    @extend_schema(summary="Activate: contacts who trigger it enter, and its messages go out", request=None)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        return self._status(JourneyStatus.ACTIVE)

    @extend_schema(summary="Pause: nobody enters, runs wait where they are, nothing is sent", request=None)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._status(JourneyStatus.PAUSED)

    @extend_schema(summary="Resume a paused journey", request=None)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._status(JourneyStatus.ACTIVE)

    @extend_schema(summary="Archive: every active run exits", request=None)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        return self._status(JourneyStatus.ARCHIVED)

    @extend_schema(
        summary="Per-step figures (entered, sent, delivered, clicked, converted, exited)",
        responses=StepFiguresSerializer,
    )
    @action(detail=True, methods=["get"])
    def figures(self, request, pk=None):
        journey = self.get_object()
        version = current_version(journey)
        return Response(
            {
                "version": version.number if version else None,
                "steps": version_tree(version=version) if version else [],
                "versions": journey_versions(journey=journey),
            }
        )


@extend_schema(tags=["Journeys"])
@extend_schema_view(
    list=extend_schema(summary="Runs (filter: ?journey=, ?status=, ?contact=)"),
    retrieve=extend_schema(summary="One run with its steps' outcomes"),
)
class JourneyRunViewSet(TenantScopedReadOnlyViewSet):
    """Runs: one contact's way through a journey, each step's outcome."""

    queryset = JourneyRun.objects.all()
    serializer_class = RunSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        params = self.request.query_params
        for name in ("journey", "contact"):
            value = params.get(name)
            if value is not None:
                if not value.isdigit():
                    raise serializers.ValidationError({name: ["an id."]})
                qs = qs.filter(**{f"{name}_id": int(value)})
        if params.get("status"):
            qs = qs.filter(status=params["status"])
        return qs


class EventSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    phone_number = serializers.CharField(max_length=32)
    properties = serializers.DictField(required=False, default=dict)


class EventAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    contact = serializers.IntegerField()


@extend_schema(tags=["Journeys"])
class EventView(TenantScopedMixin, generics.GenericAPIView):
    """Report something a contact did (``cart_abandoned`` with a cart URL): the journeys triggered by that name
    start for them, and the properties fill their messages' merge fields (``{{cart_url}}``). A number the tenant
    has no contact for becomes a contact (consent unknown: marketing steps skip them until they consent)."""

    queryset = Journey.objects.none()
    serializer_class = EventSerializer

    @extend_schema(
        summary="Record an event (starts the journeys triggered by its name)",
        responses={202: EventAcceptedSerializer},
        examples=[
            OpenApiExample(
                "Cart abandoned",
                value={
                    "name": "cart_abandoned",
                    "phone_number": "+14155550100",
                    "properties": {"cart_url": "https://shop.example/c/9"},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            event = event_record(tenant=self.tenant, **serializer.validated_data)
        except JourneyError as exc:
            _raise(exc)
        task_enqueue(TICK)  # at once, not at the next beat
        return Response(
            {"id": event.pk, "name": event.name, "contact": event.contact_id}, status=status.HTTP_202_ACCEPTED
        )
