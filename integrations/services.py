"""Writes for integrations: emitting events, delivering them, subscriptions, conversions.

``event_emit`` is what the rest of the code calls when something happens. It
writes the event and one delivery row per interested endpoint in the caller's
transaction (so an event exists exactly when the change that caused it was
committed), and enqueues the first attempt after commit. It never makes an HTTP
request, and never raises.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from common.enqueue import task_send

from . import outbound, signing
from .models import (
    OPEN_DELIVERY_STATUSES,
    WANTS_CACHE,
    Conversion,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventDelivery,
    EventSubscription,
    EventType,
)

logger = logging.getLogger(__name__)

#: A claim older than this is a worker that died mid-request: the delivery is tried again.
STALE_CLAIM = dt.timedelta(minutes=5)


# --- emitting ---------------------------------------------------------------


def event_emit(*, tenant_id: int, type: str, payload: dict, contact_id: int | None = None) -> Event | None:
    """Record an event for the tenant's endpoints that want it; ``None`` when none does (or on error).

    Cheap: one small read, two inserts in a savepoint, and an enqueue on commit.
    """
    try:
        if type not in EventType.values:
            logger.error("event_emit: unknown event type %r", type)
            return None
        subscriptions = [
            s
            for s in EventSubscription.objects.filter(tenant_id=tenant_id, active=True).only("id", "event_types")
            if s.wants(type)
        ]
        if not subscriptions:
            return None
        now = timezone.now()
        with transaction.atomic():
            event = Event.objects.create(
                tenant_id=tenant_id, type=type, payload=payload, contact_id=contact_id, created_at=now
            )
            deliveries = EventDelivery.objects.bulk_create(
                [
                    EventDelivery(
                        tenant_id=tenant_id,
                        event=event,
                        subscription_id=s.pk,
                        contact_id=contact_id,
                        event_created_at=now,
                        next_attempt_at=now,
                    )
                    for s in subscriptions
                ]
            )
        delivery_ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=delivery_ids))
        return event
    except Exception:  # noqa: BLE001 - an integration problem must never break the caller
        logger.exception("event_emit: could not record a %s event for tenant %s", type, tenant_id)
        return None


def deliveries_enqueue(*, delivery_ids: list[int]) -> None:
    """Hand attempts to the webhooks queue. A lost enqueue is picked up by the dispatcher later."""
    for delivery_id in delivery_ids:
        try:
            task_send("integrations.tasks.webhook_delivery_attempt", args=(delivery_id,), queue=settings.WEBHOOKS_QUEUE)
        except Exception:  # noqa: BLE001 - broker down: the periodic dispatcher will find it
            logger.warning("Could not enqueue webhook delivery %s; the dispatcher will retry", delivery_id)
            return


# --- delivering -------------------------------------------------------------


def retry_delay(attempt: int) -> dt.timedelta:
    """Wait after the ``attempt``-th failure: base * 2^(attempt-1), capped."""
    base = float(settings.WEBHOOKS_RETRY_BASE_SECONDS)
    cap = float(settings.WEBHOOKS_RETRY_MAX_DELAY_SECONDS)
    exponent = min(max(attempt - 1, 0), 40)  # past 2^40 the cap has long applied
    return dt.timedelta(seconds=min(base * 2**exponent, cap))


#: The version of every event type's ``data`` shape (docs/integrations.md, "Event catalogue"). Fields are only ever
#: added within a version; a change that removes or renames one would be "v2".
EVENT_VERSION = "v1"


def event_envelope(event: Event) -> dict:
    """What a delivery's body (and a REST-hook poll's item) holds for ``event``."""
    return {
        "id": str(event.id),
        "type": event.type,
        "version": EVENT_VERSION,
        "timestamp": event.created_at.isoformat(),
        "data": event.payload,
    }


def event_body(event: Event) -> bytes:
    return json.dumps(event_envelope(event), cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


def _earlier_open_delivery(delivery: EventDelivery) -> Q:
    return Q(
        subscription_id=delivery.subscription_id,
        contact_id=delivery.contact_id,
        status__in=OPEN_DELIVERY_STATUSES,
    ) & (
        Q(event_created_at__lt=delivery.event_created_at)
        | Q(event_created_at=delivery.event_created_at, pk__lt=delivery.pk)
    )


def delivery_is_blocked(delivery: EventDelivery) -> bool:
    """An earlier event of the same contact to the same endpoint is not yet delivered or given up."""
    if delivery.contact_id is None:
        return False
    return EventDelivery.objects.filter(_earlier_open_delivery(delivery)).exists()


def delivery_attempt(*, delivery_id: int, now: dt.datetime | None = None) -> str:
    """Try one delivery if it is due; returns what happened (for logs and tests).

    Claim first (pending → delivering with a conditional UPDATE), call the
    endpoint outside any transaction, record the outcome after.
    """
    now = now or timezone.now()
    delivery = EventDelivery.objects.select_related("subscription", "event").filter(pk=delivery_id).first()
    if delivery is None:
        return "missing"
    if delivery.status != DeliveryStatus.PENDING:
        return "not-pending"
    if delivery.next_attempt_at > now:
        return "not-due"
    subscription = delivery.subscription
    if not subscription.active:
        return "inactive"
    if subscription.paused_until and subscription.paused_until > now:
        EventDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PENDING, next_attempt_at__lt=subscription.paused_until
        ).update(next_attempt_at=subscription.paused_until)
        return "endpoint-backoff"
    if delivery_is_blocked(delivery):
        return "waiting"
    claimed = EventDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(status=DeliveryStatus.DELIVERING, claimed_at=now)
    if not claimed:
        return "claimed-elsewhere"

    body = event_body(delivery.event)
    headers = signing.signed_headers(
        secret=subscription.secret, msg_id=str(delivery.event_id), timestamp=int(time.time()), body=body
    )
    result = outbound.webhook_post(subscription.url, body=body, headers=headers)
    outcome = _delivery_record(delivery=delivery, result=result, started_at=now)
    if outcome in ("succeeded", "failed") and delivery.contact_id is not None:
        _enqueue_next_for_contact(delivery)
    return outcome


def _delivery_record(*, delivery: EventDelivery, result: outbound.OutboundResult, started_at: dt.datetime) -> str:
    now = max(timezone.now(), started_at)
    attempts = delivery.attempts + 1
    first_attempt_at = delivery.first_attempt_at or started_at
    subscription_id = delivery.subscription_id
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            tenant_id=delivery.tenant_id,
            delivery=delivery,
            number=attempts,
            started_at=started_at,
            succeeded=result.ok,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_excerpt=result.excerpt,
            error=result.error[:500],
        )
        common = {"attempts": attempts, "first_attempt_at": first_attempt_at, "last_attempt_at": now}
        if result.ok:
            EventDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.SUCCEEDED, delivered_at=now, last_error="", **common
            )
            EventSubscription.objects.filter(pk=subscription_id).exclude(
                failing_since=None, consecutive_failures=0, paused_until=None
            ).update(failing_since=None, consecutive_failures=0, paused_until=None)
            return "succeeded"

        window = dt.timedelta(seconds=float(settings.WEBHOOKS_RETRY_WINDOW_SECONDS))
        next_at = now + retry_delay(attempts)
        if next_at - first_attempt_at > window:
            EventDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.FAILED,
                last_error=f"Gave up after {attempts} attempts: {result.error}"[:500],
                **common,
            )
            outcome = "failed"
        else:
            EventDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.PENDING, next_attempt_at=next_at, last_error=result.error[:500], **common
            )
            outcome = "retry"
        # The endpoint backs off as a whole, so a dead endpoint costs one probe
        # per step instead of one timeout per queued event.
        failures = EventSubscription.objects.filter(pk=subscription_id).values_list("consecutive_failures", flat=True)
        step = (failures.first() or 0) + 1
        EventSubscription.objects.filter(pk=subscription_id).update(
            consecutive_failures=F("consecutive_failures") + 1,
            failing_since=Coalesce("failing_since", started_at),
            paused_until=now + retry_delay(step),
        )
        subscription = EventSubscription.objects.get(pk=subscription_id)
        disable_after = dt.timedelta(seconds=float(settings.WEBHOOKS_DISABLE_AFTER_SECONDS))
        if subscription.active and subscription.failing_since and now - subscription.failing_since >= disable_after:
            subscription_disable(
                subscription=subscription,
                reason=(
                    f"Disabled automatically at {now:%Y-%m-%d %H:%M} UTC: every delivery failed since "
                    f"{subscription.failing_since:%Y-%m-%d %H:%M} UTC (last error: {result.error})"
                ),
            )
            outcome = "failed"
    return outcome


def _enqueue_next_for_contact(delivery: EventDelivery) -> None:
    """The delivery that was waiting behind this one (same contact, same endpoint) can go now."""
    following = (
        EventDelivery.objects.filter(
            subscription_id=delivery.subscription_id,
            contact_id=delivery.contact_id,
            status=DeliveryStatus.PENDING,
        )
        .order_by("event_created_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=[following]))


def deliveries_dispatch(*, limit: int = 500, now: dt.datetime | None = None) -> int:
    """Enqueue due deliveries (retries, lost enqueues, stale claims); returns how many."""
    from django.db.models import Exists, OuterRef

    now = now or timezone.now()
    EventDelivery.objects.filter(status=DeliveryStatus.DELIVERING, claimed_at__lt=now - STALE_CLAIM).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now
    )
    earlier_open = EventDelivery.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        contact_id=OuterRef("contact_id"),
        status__in=OPEN_DELIVERY_STATUSES,
    ).filter(
        Q(event_created_at__lt=OuterRef("event_created_at"))
        | Q(event_created_at=OuterRef("event_created_at"), pk__lt=OuterRef("pk"))
    )
    due = (
        EventDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, subscription__active=True)
        .filter(Q(subscription__paused_until__isnull=True) | Q(subscription__paused_until__lte=now))
        .exclude(Exists(earlier_open))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "subscription_id", "subscription__failing_since")[:limit]
    )
    chosen: list[int] = []
    probing: set[int] = set()
    for pk, subscription_id, failing_since in due:
        if failing_since is not None:
            # A failing endpoint gets one probe at a time, not the whole backlog at once.
            if subscription_id in probing:
                continue
            probing.add(subscription_id)
        chosen.append(pk)
    if chosen:
        deliveries_enqueue(delivery_ids=chosen)
    return len(chosen)


class ReplayRefused(Exception):
    pass


def delivery_replay(*, delivery: EventDelivery) -> EventDelivery:
    """Send a delivery again now (same ``webhook-id``), whatever its outcome was."""
    subscription = delivery.subscription
    if not subscription.active:
        raise ReplayRefused("The endpoint is disabled; enable it before replaying.")
    now = timezone.now()
    changed = (
        EventDelivery.objects.filter(pk=delivery.pk)
        .exclude(status=DeliveryStatus.DELIVERING)
        .update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            first_attempt_at=None,
            claimed_at=None,
            replays=F("replays") + 1,
        )
    )
    if not changed:
        raise ReplayRefused("This delivery is being attempted right now.")
    EventSubscription.objects.filter(pk=subscription.pk).update(paused_until=None)
    transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=[delivery.pk]))
    delivery.refresh_from_db()
    return delivery


# --- subscriptions ----------------------------------------------------------


def subscription_create(
    *, tenant_id: int, url: str, event_types: list[str], description: str = "", active: bool = True
) -> EventSubscription:
    return EventSubscription.objects.create(
        tenant_id=tenant_id,
        url=url,
        event_types=sorted(set(event_types)),
        description=description,
        active=active,
        secret=signing.secret_generate(),
    )


def subscription_rotate_secret(*, subscription: EventSubscription) -> str:
    subscription.secret = signing.secret_generate()
    subscription.save(update_fields=["secret", "updated_at"])
    return subscription.secret


def subscription_disable(*, subscription: EventSubscription, reason: str) -> None:
    """Stop delivering to an endpoint; what was waiting for it is given up (replayable)."""
    now = timezone.now()
    EventSubscription.objects.filter(pk=subscription.pk).update(
        active=False, disabled_reason=reason[:500], updated_at=now
    )
    EventDelivery.objects.filter(subscription_id=subscription.pk, status__in=OPEN_DELIVERY_STATUSES).update(
        status=DeliveryStatus.FAILED, last_error="Endpoint disabled."
    )
    subscription.active = False
    subscription.disabled_reason = reason[:500]
    logger.warning("Webhook endpoint #%s disabled: %s", subscription.pk, reason)


def subscription_enable(*, subscription: EventSubscription) -> None:
    EventSubscription.objects.filter(pk=subscription.pk).update(
        active=True, disabled_reason="", failing_since=None, consecutive_failures=0, paused_until=None
    )
    subscription.refresh_from_db()


# --- conversions ------------------------------------------------------------


def conversion_record(
    *,
    tenant_id: int,
    order_id: str,
    value: Decimal,
    currency: str,
    link=None,
    contact=None,
) -> tuple[Conversion, bool]:
    """Record a conversion once per (tenant, order_id); ``(conversion, created)``. A retry returns the first."""
    existing = Conversion.objects.filter(tenant_id=tenant_id, order_id=order_id).first()
    if existing is not None:
        return existing, False
    campaign_id = link.campaign_id if link is not None else None
    if contact is None and link is not None and link.message_id is not None:
        contact = link.message.contact
    try:
        with transaction.atomic():
            conversion = Conversion.objects.create(
                tenant_id=tenant_id,
                order_id=order_id,
                value=value,
                currency=currency.upper(),
                code=link.code if link is not None else "",
                link=link,
                contact=contact,
                campaign_id=campaign_id,
            )
    except IntegrityError:
        # The same order posted twice at once: the other request won.
        return Conversion.objects.get(tenant_id=tenant_id, order_id=order_id), False
    return conversion, True


def tenants_wanting(*, type: str, tenant_ids: set[int]) -> set[int]:
    """Which of ``tenant_ids`` have an active endpoint that wants events of ``type`` (one read)."""
    subs = EventSubscription.objects.filter(tenant_id__in=tenant_ids, active=True).only("tenant_id", "event_types")
    return {s.tenant_id for s in subs if s.wants(type)}


_WANTS_TTL = 10.0


def tenant_wants(*, tenant_id: int, type: str) -> bool:
    """Whether the tenant has an active endpoint for ``type``; cached per process for a few seconds.

    For hot paths (status webhooks): a tenant without endpoints costs a dict lookup,
    not a query. A new subscription is seen within ``_WANTS_TTL`` seconds.
    """
    now = time.monotonic()
    cached = WANTS_CACHE.get(tenant_id)
    if cached is None or cached[0] < now:
        types: set[str] = set()
        for sub in EventSubscription.objects.filter(tenant_id=tenant_id, active=True).only("event_types"):
            types.update(t for t in EventType.values if sub.wants(t))
        cached = (now + _WANTS_TTL, frozenset(types))
        WANTS_CACHE[tenant_id] = cached
    return type in cached[1]
