"""Delivery tracking: Twilio status callbacks applied to messages, nothing lost.

Every callback lands in the append-only ``StatusEvent`` history (INSERT … ON
CONFLICT DO NOTHING, deduplicated on tenant, SID and status by each monthly
partition's unique index: no conflict target, as the index is the partition's) and moves its
message forward with the state machine's move (``campaigns.transitions``: one
conditional UPDATE with its counter deltas); both are one statement, hence
one commit. A callback whose SID no message carries yet is kept as an orphan
and applied by ``status_orphans_apply`` as soon as the sender records that SID;
``status_orphans_sweep`` and ``messages_reconcile`` are the periodic safety nets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import STATUS_RANK, Message, MessageStatus, can_move
from campaigns.transitions import message_move, message_move_ctes
from gateways import GatewayError, get_gateway
from integrations.events import message_moved_emit
from tenants.models import Tenant

from .error_codes import error_code_description
from .models import StatusEvent

logger = logging.getLogger(__name__)

#: Twilio's own statuses → ours (Twilio's "sending" is in flight: our "queued").
#: ``None``: kept in the history, moves nothing.
TWILIO_STATUS_MAP: dict[str, str | None] = {
    "accepted": MessageStatus.ACCEPTED,
    "scheduled": MessageStatus.SCHEDULED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "read": MessageStatus.READ,
    "canceled": MessageStatus.CANCELED,
    "receiving": None,
    "received": None,
    "partially_delivered": None,
}

SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
#: A channel as Twilio names it (``ChannelPrefix``, or the ``whatsapp:``/``rcs:`` of an address).
CHANNEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
STATUS_RE = re.compile(r"^[a-z_]{1,20}$")
#: Statuses a reconciliation looks at: handed over, but no final word yet.
STUCK_STATUSES = (
    MessageStatus.UNKNOWN,
    MessageStatus.ACCEPTED,
    MessageStatus.SCHEDULED,
    MessageStatus.QUEUED,
    MessageStatus.SENT,
)


class CallbackInvalid(ValueError):
    """A signed callback that cannot be read; ``field`` names the culprit (a 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Callback:
    sid: str
    raw_status: str
    status: str | None  # ours, or None when it moves nothing
    error_code: int | None
    fields: dict[str, str]
    channel: str | None = None  # the channel the callback names (``callback_channel``), or None


def callback_channel(params: dict[str, str], sid: str = "") -> str | None:
    """The channel a status callback says the message went out on, or None when it does not say.

    Twilio names WhatsApp (and its other channels) in ``ChannelPrefix`` and in the addresses
    (``To=whatsapp:+1…``, ``From=whatsapp:+1…``); an RCS message's addresses carry ``rcs:``. A plain
    number says nothing (an SMS, or an MMS: Twilio gives MMS an ``MM…`` SID). A value that is not a short
    lower-case word is ignored, never refused: Twilio adds fields without notice.
    """
    prefix = (params.get("ChannelPrefix") or "").strip().lower()
    if not prefix:
        for name in ("To", "From"):
            head, colon, _rest = (params.get(name) or "").partition(":")
            if colon:
                prefix = head.strip().lower()
                break
    if prefix:
        return prefix if CHANNEL_RE.match(prefix) else None
    return "mms" if sid.startswith("MM") else None


def status_callback_params(
    *, sid: str, status: str, account_sid: str, to: str, error_code: int | None = None, **extra: str
) -> dict[str, str]:
    """The form Twilio POSTs to the status callback (``callback_parse`` reads it): for the simulator,
    the tests and the benchmarks. ``extra`` adds fields (``From``, ``RawDlrDoneDate``, …)."""
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": account_sid,
        "To": to,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = str(error_code)
    params.update({k: str(v) for k, v in extra.items()})
    return params


def callback_parse(params: dict[str, str]) -> Callback:
    """Read the fields we act on; unknown fields are kept, never refused."""
    sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()
    if not sid:
        raise CallbackInvalid("MessageSid", "This field is required.")
    if not SID_RE.match(sid):
        raise CallbackInvalid("MessageSid", "Not a Twilio message SID.")
    raw = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not raw:
        raise CallbackInvalid("MessageStatus", "This field is required.")
    if not STATUS_RE.match(raw):
        raise CallbackInvalid("MessageStatus", "Not a status.")
    code_text = (params.get("ErrorCode") or "").strip()
    error_code = None
    if code_text:
        try:
            error_code = int(code_text)
        except ValueError:
            raise CallbackInvalid("ErrorCode", "A whole number is required.") from None
        if not 0 <= error_code < 2**31:
            raise CallbackInvalid("ErrorCode", "Out of range.")
        error_code = error_code or None  # Twilio sends ErrorCode=0 for "no error" at times
    # A status Twilio invents later is kept in the history but moves nothing.
    status = TWILIO_STATUS_MAP.get(raw)
    return Callback(
        sid=sid,
        raw_status=raw,
        status=status,
        error_code=error_code,
        fields=dict(params),
        channel=callback_channel(params, sid),
    )


def status_callback_receive(*, tenant: Tenant, params: dict[str, str]) -> bool:
    """Record one (signed) status callback and apply it. Returns whether a message moved.

    Raises ``CallbackInvalid`` for a callback without a usable SID, status or
    error code. The simulator calls it; the webhook view calls ``callback_parse``
    and ``callback_apply`` itself (with the token guard of a cached signer).
    """
    return callback_apply(tenant_id=tenant.pk, callback=callback_parse(params))


class TokenChanged(Exception):
    """The token a webhook's signature was checked with is not (or no longer) the tenant's: nothing was written."""

    def __init__(self, *, tenant_id: int | None = None) -> None:
        super().__init__(tenant_id)
        self.tenant_id = tenant_id


def callback_apply(*, tenant_id: int, callback: Callback, received_at: dt.datetime | None = None) -> bool:
    """Record ``callback`` for a tenant already known (reconciliation, resolution) and move its message.
    Returns whether the message moved. Signed webhooks go through ``callback_apply_signed``, which also
    finds the tenant and checks its token in the same statement."""
    message_id, inserted, moved = _callback_apply_one_statement(
        tenant_id=tenant_id, callback=callback, at=received_at or timezone.now()
    )
    return _applied(tenant_id=tenant_id, callback=callback, message_id=message_id, inserted=inserted, moved=moved)


class CallbackUnroutable(Exception):
    """A callback for a shared Twilio account that no single tenant can be told to own: nothing was written."""


@dataclass(frozen=True)
class Applied:
    tenant_id: int
    moved: bool


def callback_apply_signed(
    *,
    account_sid: str,
    token_ciphertexts: Sequence[str],
    callback: Callback,
    received_at: dt.datetime | None = None,
) -> Applied:
    """``callback_apply`` for a webhook signed for ``account_sid``, its tenant found in the same statement.

    The tenant is the one of the account's tenants that owns the message SID; for
    a SID no message carries yet (an orphan), the account's only tenant, else the
    one whose sender the callback names (``MessagingServiceSid`` or ``From``). The
    write happens only while that tenant holds one of ``token_ciphertexts`` (the
    stored tokens the signature matched). Raises ``TokenChanged`` (its
    ``tenant_id`` set) when it does not, ``CallbackUnroutable`` when no single
    tenant is found; nothing is written then.
    """
    at = received_at or timezone.now()
    fields = _move_fields(callback, at)
    move = message_move_ctes(to=callback.status, fields=fields, source="src") if callback.status else None
    params = [
        account_sid,
        callback.sid,
        list(token_ciphertexts),
        callback.fields.get("MessagingServiceSid") or "",
        callback.fields.get("From") or "",
        callback.sid,
        callback.raw_status,
        callback.error_code,
        json.dumps(callback.fields),
        at,
        *(move[1] if move else ()),
    ]
    tenant_id, token_ok, message_id, current, inserted, old = _fetchone(
        _account_callback_sql(move[0] if move else None), params
    )
    if tenant_id is None:
        raise CallbackUnroutable
    if not token_ok:
        raise TokenChanged(tenant_id=tenant_id)
    moved = old is not None
    if message_id is not None and move and not moved and can_move(current, callback.status):
        moved = message_move(message_id=message_id, to=callback.status, **fields) is not None
    return Applied(
        tenant_id,
        _applied(tenant_id=tenant_id, callback=callback, message_id=message_id, inserted=inserted, moved=moved),
    )


def _applied(*, tenant_id: int, callback: Callback, message_id: int | None, inserted: bool, moved: bool) -> bool:
    """After the statement: settle orphans, tell the endpoints. Returns whether the message moved."""
    if message_id is None:
        if inserted:
            # An orphan. The sender may have recorded this SID since we looked: it
            # applies orphans after its own write, we look again after ours, so one
            # of the two always sees the other.
            return status_orphans_apply(tenant_id=tenant_id, sid=callback.sid) > 0
        return False
    if moved and callback.status:
        message_moved_emit(tenant_id=tenant_id, message_id=message_id, status=callback.status)
    if not inserted and StatusEvent.objects.filter(tenant_id=tenant_id, sid=callback.sid, message=None).exists():
        # A repeat of a callback that came as an orphan: settle the orphans now.
        return status_orphans_apply(tenant_id=tenant_id, sid=callback.sid) > 0 or moved
    return moved


def _callback_apply_one_statement(
    *, tenant_id: int, callback: Callback, at: dt.datetime
) -> tuple[int | None, bool, bool]:
    """History INSERT and forward-only move in one statement (one commit).

    ``cur`` locks the message; ``ev`` records the callback; ``upd``/``cnt`` move and count.
    Returns (message id or None, whether the history row is new, whether the message moved).
    """
    fields = _move_fields(callback, at)
    move = message_move_ctes(to=callback.status, fields=fields) if callback.status else None
    sql = _callback_sql(move[0] if move else None)
    params = [
        tenant_id,
        callback.sid,
        tenant_id,
        callback.sid,
        callback.raw_status,
        callback.error_code,
        json.dumps(callback.fields),
        at,
        *(move[1] if move else ()),
    ]
    message_id, current, inserted, old = _fetchone(sql, params)
    moved = old is not None
    if message_id is not None and move and not moved and can_move(current, callback.status):
        # Not expected (``cur`` holds the row lock), but a lost race is never a lost callback.
        moved = message_move(message_id=message_id, to=callback.status, **fields) is not None
    return message_id, inserted, moved


@lru_cache(maxsize=64)
def _callback_sql(move_sql: str | None) -> str:
    """The statement for one shape (built once: a call only fills in values)."""
    qn = connection.ops.quote_name
    return (
        f"WITH cur AS (SELECT id, status, campaign_id, channel FROM {qn(Message._meta.db_table)} "  # noqa: S608 - names from model meta, values bound
        "WHERE tenant_id = %s AND sid = %s FOR NO KEY UPDATE), "
        f"ev AS (INSERT INTO {qn(StatusEvent._meta.db_table)} "
        "(tenant_id, sid, status, error_code, fields, received_at, message_id) "
        "SELECT %s, %s, %s, %s, %s::jsonb, %s, (SELECT id FROM cur) "
        "ON CONFLICT DO NOTHING RETURNING 1)"
        + (f", {move_sql} " if move_sql else " ")
        + "SELECT (SELECT id FROM cur), (SELECT status FROM cur), "
        + "EXISTS (SELECT 1 FROM ev), "
        + ("(SELECT old FROM upd)" if move_sql else "NULL")
    )


@lru_cache(maxsize=64)
def _account_callback_sql(move_sql: str | None) -> str:
    """The webhook's statement: the tenant among the account's (``acct``) is the SID's owner (``cur``, the
    message locked), else the account's only tenant, else the one whose sender the callback names (``who``);
    ``ok`` when it holds a token the signature matched; ``src`` is the message to move only then."""
    qn = connection.ops.quote_name
    return (
        f"WITH acct AS (SELECT id, twilio_auth_token, sender FROM {qn(Tenant._meta.db_table)} "  # noqa: S608 - names from model meta, values bound
        "WHERE twilio_account_sid = %s), "
        f"cur AS (SELECT id, status, campaign_id, tenant_id, channel FROM {qn(Message._meta.db_table)} "
        "WHERE sid = %s AND tenant_id IN (SELECT id FROM acct) FOR NO KEY UPDATE), "
        "who AS (SELECT id, twilio_auth_token = ANY(%s::text[]) AS signed FROM acct WHERE id = COALESCE("
        "(SELECT tenant_id FROM cur), "
        "(SELECT min(id) FROM acct HAVING count(*) = 1), "
        "(SELECT min(id) FROM acct WHERE sender <> '' AND sender IN (%s, %s) HAVING count(*) = 1))), "
        "ok AS (SELECT id FROM who WHERE signed), "
        "src AS (SELECT id, status, campaign_id, channel FROM cur WHERE EXISTS (SELECT 1 FROM ok)), "
        f"ev AS (INSERT INTO {qn(StatusEvent._meta.db_table)} "
        "(tenant_id, sid, status, error_code, fields, received_at, message_id) "
        "SELECT (SELECT id FROM ok), %s, %s, %s, %s::jsonb, %s, (SELECT id FROM src) WHERE EXISTS (SELECT 1 FROM ok) "
        "ON CONFLICT DO NOTHING RETURNING 1)"
        + (f", {move_sql} " if move_sql else " ")
        + "SELECT (SELECT id FROM who), EXISTS (SELECT 1 FROM ok), (SELECT id FROM src), (SELECT status FROM src), "
        + "EXISTS (SELECT 1 FROM ev), "
        + ("(SELECT old FROM upd)" if move_sql else "NULL")
    )


INVALID_SQL_STATEMENT_NAME = "26000"  # "prepared statement … does not exist"
#: Statements prepared on each (raw) database connection, by name.
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PREPARED_LOCK = threading.Lock()


def _fetchone(sql: str, params: list) -> tuple:
    """Run ``sql`` and return its one row; as a server-side prepared statement when it is safe.

    Planning the webhook's statement costs PostgreSQL as much as running it, so
    each connection prepares it once (per shape) and then only EXECUTEs it. Not
    inside a transaction block (a failure there would abort the caller's
    transaction), not when ``TRACKING_PREPARED_STATEMENTS`` is off (e.g. behind
    pgbouncer in transaction mode); a statement the server forgot (``DISCARD
    ALL``) is prepared again.
    """
    conn = connections[DEFAULT_DB_ALIAS]  # one lookup, not one per attribute
    with conn.cursor() as cursor:
        if not settings.TRACKING_PREPARED_STATEMENTS or conn.in_atomic_block:
            cursor.execute(sql, params)
            return cursor.fetchone()
        raw = conn.connection  # after cursor(): the connection the health check kept
        name, prepare, execute = _prepared_forms(sql, len(params))
        with _PREPARED_LOCK:
            prepared = _PREPARED.setdefault(raw, set())
        for attempt in range(2):
            if name not in prepared:
                cursor.execute(prepare)
                prepared.add(name)
            try:
                cursor.execute(execute, params)
            except DatabaseError as exc:
                if attempt or getattr(exc.__cause__, "pgcode", None) != INVALID_SQL_STATEMENT_NAME:
                    raise
                prepared.clear()  # the server lost its prepared statements: prepare again
                continue
            return cursor.fetchone()
    raise AssertionError("unreachable")


@lru_cache(maxsize=64)
def _prepared_forms(sql: str, nparams: int) -> tuple[str, str, str]:
    """(name, PREPARE statement, EXECUTE template) of a statement with ``%s`` placeholders."""
    name = "smsc_" + hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:20]
    execute = f"EXECUTE {name}({', '.join(['%s'] * nparams)})" if nparams else f"EXECUTE {name}"
    return name, f"PREPARE {name} AS {_numbered(sql)}", execute


def _numbered(sql: str) -> str:
    """``%s`` placeholders as PostgreSQL's ``$1``, ``$2``, …"""
    parts = sql.split("%s")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


def _move_fields(callback: Callback, at: dt.datetime) -> dict:
    """What a move records besides the status. The channel only when the callback names one, so a plain SMS
    callback keeps the statement it always had (the channel counters' CTE is only in the other shape)."""
    fields: dict = {}
    if callback.error_code:
        fields["error_code"] = callback.error_code
        fields["error_message"] = error_code_description(callback.error_code)[:300]
    if callback.status == MessageStatus.DELIVERED:
        fields["delivered_at"] = at
    elif callback.status == MessageStatus.READ:
        fields["read_at"] = at
    if callback.channel:
        fields["channel"] = callback.channel
    return fields


def _message_apply(*, message_id: int, callback: Callback, at: dt.datetime | None = None) -> bool:
    if callback.status is None:
        return False
    fields = _move_fields(callback, at or timezone.now())
    return message_move(message_id=message_id, to=callback.status, **fields) is not None


def status_orphans_apply(*, tenant_id: int, sid: str) -> int:
    """Apply callbacks that arrived for ``sid`` before the sender recorded it. Returns how many.

    Cheap when there is none (one indexed query): the sender calls it after every
    SID it records. Each orphan is claimed (message set) before it is applied, so
    two callers never apply the same one twice.
    """
    orphans = list(
        StatusEvent.objects.filter(tenant_id=tenant_id, sid=sid, message=None).values_list(
            "id", "status", "error_code", "received_at", "fields"
        )
    )
    if not orphans:
        return 0
    message_id = Message.objects.filter(tenant_id=tenant_id, sid=sid).values_list("id", flat=True).first()
    if message_id is None:
        return 0
    applied = 0
    # Lowest rank first, so the last word (and its error code) is the final status.
    for event_id, raw, code, received_at, posted in sorted(orphans, key=lambda o: _rank(o[1])):
        claimed = StatusEvent.objects.filter(pk=event_id, message=None).update(
            message_id=message_id, applied_at=timezone.now()
        )
        if not claimed:
            continue
        applied += 1
        callback = Callback(
            sid=sid,
            raw_status=raw,
            status=TWILIO_STATUS_MAP.get(raw),
            error_code=code,
            fields={},
            channel=callback_channel(posted or {}, sid),
        )
        _message_apply(message_id=message_id, callback=callback, at=received_at)
    return applied


def status_orphans_apply_many(*, tenant_id: int, sids: list[str]) -> int:
    """``status_orphans_apply`` for the SIDs the sender just recorded: one query when none has orphans."""
    if not sids:
        return 0
    with_orphans = set(
        StatusEvent.objects.filter(tenant_id=tenant_id, sid__in=sids, message=None).values_list("sid", flat=True)
    )
    return sum(status_orphans_apply(tenant_id=tenant_id, sid=sid) for sid in sorted(with_orphans))


def _rank(raw_status: str) -> int:
    status = TWILIO_STATUS_MAP.get(raw_status)
    return STATUS_RANK.get(status, -1) if status else -1


def status_orphans_sweep(*, limit: int = 1000) -> dict[str, int]:
    """Apply every orphan whose SID a message now carries (the safety net). Returns counts."""
    matched = Message.objects.filter(tenant_id=OuterRef("tenant_id"), sid=OuterRef("sid"))
    pairs = list(
        StatusEvent.objects.filter(message=None)
        .filter(Exists(matched))
        .values_list("tenant_id", "sid")
        .distinct()[:limit]
    )
    applied = sum(status_orphans_apply(tenant_id=t, sid=s) for t, s in pairs)
    return {"sids": len(pairs), "applied": applied, "still_orphaned": StatusEvent.objects.filter(message=None).count()}


def stuck_messages(*, now: dt.datetime | None = None):
    """Messages handed to Twilio that have had no final word for longer than the setting."""
    now = now or timezone.now()
    since = Coalesce("sent_at", "claimed_at", "created_at")
    return (
        Message.objects.filter(status__in=STUCK_STATUSES, sid__isnull=False)
        .alias(since=since)
        .filter(
            since__lt=now - dt.timedelta(seconds=settings.TRACKING_RECONCILE_AFTER),
            since__gte=now - dt.timedelta(seconds=settings.TRACKING_RECONCILE_MAX_AGE),
        )
        .exclude(Q(sid=""))
        .order_by("since", "id")
    )


RECHECK_KEY = "tracking:reconciled:{}"


def _reconcile_batch(queryset, *, limit: int, pages: int = 20) -> list[tuple[int, int, str]]:
    """Up to ``limit`` stuck messages not asked about lately, oldest first, paging past recent ones."""
    todo: list[tuple[int, int, str]] = []
    page = limit * 4
    for start in range(0, page * pages, page):
        rows = list(queryset[start : start + page])
        recent = cache.get_many([RECHECK_KEY.format(row[0]) for row in rows])
        todo += [row for row in rows if RECHECK_KEY.format(row[0]) not in recent]
        if len(todo) >= limit or len(rows) < page:
            break
    return todo[:limit]


def messages_reconcile(*, limit: int | None = None, now: dt.datetime | None = None) -> dict[str, int]:
    """Ask the gateway for the status of stuck messages and settle them. Returns counts.

    Each message is asked about at most once per ``TRACKING_RECONCILE_RECHECK``
    seconds (remembered in the cache), so a carrier that never reports does not
    make us ask Twilio about the same messages forever; past
    ``TRACKING_RECONCILE_MAX_AGE`` a message is left as it is.
    """
    limit = limit or settings.TRACKING_RECONCILE_BATCH
    gateway = get_gateway()
    result = {"checked": 0, "moved": 0, "unchanged": 0, "not_found": 0, "errors": 0}
    todo = _reconcile_batch(stuck_messages(now=now).values_list("id", "tenant_id", "sid"), limit=limit)
    tenants = {t.pk: t for t in Tenant.objects.filter(pk__in={m[1] for m in todo})}
    refused: set[int] = set()  # tenants whose credentials Twilio refused: not asked again this run
    for message_id, tenant_id, sid in todo:
        if tenant_id in refused:
            continue
        result["checked"] += 1
        try:
            fetched = gateway.fetch(tenants[tenant_id], sid)
        except GatewayError as exc:
            if exc.code == 20404 or exc.http_status == 404:
                result["not_found"] += 1
            else:
                result["errors"] += 1
                logger.warning("Reconciliation: fetch of %s failed: %r", sid, exc)
                if exc.bad_credentials:
                    refused.add(tenant_id)
                    continue
            cache.set(RECHECK_KEY.format(message_id), 1, settings.TRACKING_RECONCILE_RECHECK)
            continue
        raw = (fetched.status or "").lower()
        callback = Callback(
            sid=sid,
            raw_status=raw,
            status=TWILIO_STATUS_MAP.get(raw),
            error_code=fetched.error_code or None,
            fields={"source": "reconciliation", "MessageSid": sid, "MessageStatus": raw},
        )
        if callback_apply(tenant_id=tenant_id, callback=callback):
            result["moved"] += 1
        else:
            result["unchanged"] += 1
            cache.set(RECHECK_KEY.format(message_id), 1, settings.TRACKING_RECONCILE_RECHECK)
    return result
