"""The one way a message's status changes: forward-only, compare-and-set, counted.

Both the sender (claims, send results) and the delivery webhooks move messages
through ``message_move``; it never moves a status backwards (``can_move``), two
racing callers cannot both win, and the campaign's counters move with the row in
the same transaction. A move that records a ``channel`` (the status webhook's,
when Twilio names one) moves the channel counters in the same statement too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from django.db import connection, transaction

from .counters import this_minute
from .models import DEFAULT_CHANNEL, Message, MessageChannelCount, MessageStatus, MessageStatusCount, can_move

MAX_RACE_RETRIES = 5


def message_move(
    *,
    message_id: int,
    to: str,
    allowed_from: Iterable[str] | None = None,
    **fields,
) -> str | None:
    """Move a message to ``to`` if the state machine allows it.

    ``allowed_from`` narrows the statuses it may come from (a claim is only from
    ``pending``). ``fields`` are written in the same UPDATE (sid, error_code, …).
    Returns the status it moved from, or ``None`` when it did not move.
    """
    allowed = set(MessageStatus.values if allowed_from is None else allowed_from)
    if not any(hasattr(v, "resolve_expression") for v in fields.values()):
        return _message_move_one_statement(message_id=message_id, to=to, allowed=allowed, fields=fields)
    # An expression among the fields (``F("attempts") + 1``): read, then compare-and-set in the ORM.
    for _ in range(MAX_RACE_RETRIES):
        row = Message.objects.filter(pk=message_id).values_list("status", "campaign_id", "variant", "channel").first()
        if row is None:
            return None
        old, campaign_id, variant, old_channel = row
        if old not in allowed or not can_move(old, to):
            return None
        with transaction.atomic():
            won = Message.objects.filter(pk=message_id, status=old).update(status=to, **fields)
            if won:
                error_code = Message.objects.filter(pk=message_id).values_list("error_code", flat=True).first()
                MessageStatusCount.objects.bulk_create(
                    [
                        MessageStatusCount(campaign_id=campaign_id, status=old, count=-1, variant=variant),
                        MessageStatusCount(
                            campaign_id=campaign_id,
                            status=to,
                            count=1,
                            variant=variant,
                            minute=this_minute(),
                            from_status=old,
                            error_code=error_code,
                        ),
                    ]
                )
                if "channel" in fields:
                    MessageChannelCount.objects.bulk_create(
                        channel_deltas(campaign_id=campaign_id, old=old_channel, new=fields["channel"])
                    )
                return old
        # Someone else moved it between our read and our write: look again.
    return None


def message_move_ctes(
    *, to: str, allowed_from: Iterable[str] | None = None, fields: dict | None = None, source: str = "cur"
) -> tuple[str, list] | None:
    """``message_move`` as two CTEs, to compose into one statement with other work.

    ``source`` names an earlier CTE that reads the message's ``id``, ``status``,
    ``campaign_id`` and ``channel`` ``FOR NO KEY UPDATE``: the row is locked and its status is the
    latest committed one (a concurrent mover is waited for, then re-read), so the
    move never races and never needs a retry. ``upd`` moves the row when that
    status may move to ``to`` and returns ``old``; ``cnt`` inserts the counter
    deltas only for an UPDATE that matched. (``upd`` also re-checks the status, so
    an unlocked ``source`` is still a safe compare-and-set.) With ``channel`` among
    the ``fields``, ``chn`` moves the channel counters when the channel changes
    (its old value read from the locked ``source``, so two racing callbacks
    naming the same channel count it once). Returns ``(sql, params)``, or
    ``None`` when no status may move to ``to``.
    """
    from_statuses = _from_statuses(to, None if allowed_from is None else frozenset(allowed_from))
    if not from_statuses:
        return None
    fields = fields or {}
    set_params = [Message._meta.get_field(name).get_db_prep_save(value, connection) for name, value in fields.items()]
    return _move_ctes_sql(tuple(fields), source), [to, *set_params, list(from_statuses), to]


@lru_cache(maxsize=64)
def _move_ctes_sql(field_names: tuple[str, ...], source: str) -> str:
    qn = connection.ops.quote_name
    sets = "".join(f", {qn(Message._meta.get_field(name).column)} = %s" for name in field_names)
    msg = qn(Message._meta.db_table)
    channel = "channel" in field_names
    return (
        f"upd AS (UPDATE {msg} AS m SET status = %s{sets} FROM {source} "  # noqa: S608 - names from model meta, values bound
        f"WHERE m.id = {source}.id AND m.status = {source}.status AND {source}.status = ANY(%s) "
        f"RETURNING {source}.status AS old, m.campaign_id, m.variant, m.error_code"
        + (f", {source}.channel AS old_channel, m.channel AS new_channel), " if channel else "), ")
        + _counts_cte_sql("%s")
        + (", " + _channel_counts_cte_sql() if channel else "")
    )


def _channel_counts_cte_sql() -> str:
    """The ``chn`` CTE of a move that records a channel: -1 on the channel the message had, +1 on the new one,
    only when they differ, and never for ``DEFAULT_CHANNEL`` (every message starts there uncounted)."""
    table = connection.ops.quote_name(MessageChannelCount._meta.db_table)
    default = f"'{DEFAULT_CHANNEL}'"  # a constant of ours, not input
    return (
        f"chn AS (INSERT INTO {table} (campaign_id, channel, count, is_squashed) "  # noqa: S608 - names from model meta
        f"SELECT campaign_id, old_channel, -1, false FROM upd "
        f"WHERE old_channel <> new_channel AND old_channel <> {default} UNION ALL "
        f"SELECT campaign_id, new_channel, 1, false FROM upd "
        f"WHERE old_channel <> new_channel AND new_channel <> {default})"
    )


def channel_deltas(*, campaign_id: int, old: str, new: str) -> list[MessageChannelCount]:
    """The channel counter rows of one message moving from channel ``old`` to ``new`` (the ORM's form of
    ``chn``)."""
    if old == new:
        return []
    return [
        MessageChannelCount(campaign_id=campaign_id, channel=channel, count=sign)
        for channel, sign in ((old, -1), (new, 1))
        if channel != DEFAULT_CHANNEL
    ]


def _counts_cte_sql(new: str) -> str:
    """The ``cnt`` CTE of a move: the counter deltas of every row ``upd`` returned.

    -1 on the old status; +1 on the new one (``new``: a bound ``%s`` or a column of
    ``upd``), stamped with this minute, the status it came from and the message's
    error code, so the analytics read arrivals per minute and failures by code
    from the same rows. Both carry the message's A/B variant.
    """
    cnt = connection.ops.quote_name(MessageStatusCount._meta.db_table)
    return (
        f"cnt AS (INSERT INTO {cnt} "  # noqa: S608 - names from model meta, values bound
        "(campaign_id, status, count, is_squashed, variant, minute, from_status, error_code) "
        "SELECT campaign_id, old, -1, false, variant, NULL::timestamptz, NULL, NULL::integer FROM upd UNION ALL "
        f"SELECT campaign_id, {new}, 1, false, variant, date_trunc('minute', now()), old, error_code FROM upd)"
    )


def messages_move_rows(
    *, rows: Sequence[tuple], fields: Sequence[str] = (), allowed_from: Iterable[str] | None = None
) -> dict[int, str]:
    """Move many messages in ONE statement, each to its own status with its own field values.

    ``rows`` are ``(message_id, to, *values)``, one value per name in ``fields``
    (the sender's outcomes: each message its SID and status). Row by row the
    rules of ``message_move``: only from ``allowed_from``, only forward
    (``can_move``: a status webhook that got there first keeps its status), a
    compare-and-set on the locked row, the counters moved in the same statement.
    Returns ``{message_id: old status}`` for the rows that moved.
    """
    if "channel" in fields:
        raise ValueError("messages_move_rows does not count channels: record a channel with message_move")
    rows = list(rows)
    if not rows:
        return {}
    allowed = None if allowed_from is None else frozenset(allowed_from)
    pairs = [(to, old) for to in sorted({row[1] for row in rows}) for old in _from_statuses(to, allowed)]
    if not pairs:
        return {}
    columns = list(zip(*rows, strict=True))
    params: list = [list(columns[0]), list(columns[1])]
    for i, name in enumerate(fields):
        field = Message._meta.get_field(name)
        params.append([field.get_db_prep_save(value, connection) for value in columns[2 + i]])
    params += [[to for to, _ in pairs], [old for _, old in pairs]]
    with connection.cursor() as cursor:
        cursor.execute(_move_rows_sql(tuple(fields)), params)
        return dict(cursor.fetchall())


@lru_cache(maxsize=16)
def _move_rows_sql(field_names: tuple[str, ...]) -> str:
    """``messages_move_rows``' statement: ``_move_ctes_sql`` with the target and values read per row.

    ``v`` holds the rows (arrays unnested side by side), ``ok`` the allowed
    (new, old) status pairs; ``src`` locks each message whose current status may
    move to its row's target (re-checked on the latest version, as in
    ``message_move_ctes``), ``upd`` moves it, ``cnt`` counts it (-1 old, +1 new).
    """
    qn = connection.ops.quote_name
    msg = qn(Message._meta.db_table)
    status_type = Message._meta.get_field("status").db_type(connection)
    cols = [Message._meta.get_field(name) for name in field_names]
    arrays = "".join(f", %s::{f.db_type(connection)}[]" for f in cols)
    names = "".join(f", f{i}" for i in range(len(cols)))
    picks = "".join(f", v.f{i}" for i in range(len(cols)))
    sets = "".join(f", {qn(f.column)} = src.f{i}" for i, f in enumerate(cols))
    return (
        f"WITH v AS (SELECT * FROM unnest(%s::bigint[], %s::{status_type}[]{arrays}) AS v(id, new{names})), "  # noqa: S608 - names from model meta, values bound
        f"ok AS (SELECT * FROM unnest(%s::{status_type}[], %s::{status_type}[]) AS ok(new, old)), "
        f"src AS (SELECT m.id, m.status, v.new{picks} FROM {msg} AS m JOIN v ON v.id = m.id "
        "JOIN ok ON ok.new = v.new AND ok.old = m.status ORDER BY m.id FOR NO KEY UPDATE OF m), "
        f"upd AS (UPDATE {msg} AS m SET status = src.new{sets} FROM src WHERE m.id = src.id AND m.status = src.status "
        "RETURNING m.id, src.status AS old, src.new AS new, m.campaign_id, m.variant, m.error_code), "
        + _counts_cte_sql("new")
        + " SELECT id, old FROM upd"
    )


@lru_cache(maxsize=256)
def _from_statuses(to: str, allowed: frozenset[str] | None) -> list[str]:
    """The statuses a message may move to ``to`` from (memoized: the hot path asks every time)."""
    candidates = MessageStatus.values if allowed is None else allowed
    return sorted(str(s) for s in candidates if can_move(s, to))


def _message_move_one_statement(*, message_id: int, to: str, allowed: set[str], fields: dict) -> str | None:
    """The locked read, the move and its counter deltas in ONE statement (one round trip, one commit)."""
    move = message_move_ctes(to=to, allowed_from=allowed, fields=fields)
    if move is None:
        return None
    move_sql, move_params = move
    msg = connection.ops.quote_name(Message._meta.db_table)
    sql = (
        f"WITH cur AS (SELECT id, status, campaign_id, channel FROM {msg} WHERE id = %s FOR NO KEY UPDATE), {move_sql} "  # noqa: S608 - names from model meta, values bound
        "SELECT (SELECT status FROM cur), (SELECT old FROM upd)"
    )
    params = [message_id, *move_params]
    for _ in range(MAX_RACE_RETRIES):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            current, old = cursor.fetchone()
        if old is not None:
            return old
        if current is None or current not in allowed or not can_move(current, to):
            return None
        # It moved between our read and our write: look again.
    return None
