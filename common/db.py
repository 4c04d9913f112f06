"""Database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import F, Lookup


class AnyOf(Lookup):
    """``field IN (values)`` for long lists of plain values, built without Django's per-item work.

    The list is one bound array, ``field = ANY(%s)`` (psycopg2 adapts it in C; the planner treats
    it as the IN list it is). At 5,000 items Django's own ``__in`` spends milliseconds per query
    preparing each item, which the fan-out pays on every chunk. The values must already be of the
    column's type.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return list(self.rhs)

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        values = self.rhs
        if not values:
            return "1 = 0", ()
        return f"{lhs_sql} = ANY(%s)", (*lhs_params, values)


def any_of(field: str, values: Iterable) -> AnyOf:
    """A filter: ``Model.objects.filter(any_of("contact_id", ids))``."""
    return AnyOf(F(field), values)


# --- COPY (text format) ------------------------------------------------------------------------


def copy_escape(text: str) -> str:
    """Text for COPY's text format (four C-level replaces: much faster than ``str.translate``)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_value(value) -> str:
    """One COPY text-format field: ``\\N`` for None, ``t``/``f``, ISO dates, escaped text."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return copy_escape(str(value))


def pg_values(sql: str, rows: list[tuple], *, fetch: bool = False):
    """Run ``sql`` with ``{values}`` replaced by the rows as one VALUES list (each row bound
    by psycopg2's ``mogrify``), through Django's cursor: one round trip, visible to query logging."""
    if not rows:
        return [] if fetch else None
    with connection.cursor() as cursor:
        template = "(" + ",".join(["%s"] * len(rows[0])) + ")"
        raw = cursor.cursor
        values = ",".join(raw.mogrify(template, row).decode() for row in rows)
        cursor.execute(sql.replace("{values}", values))
        return cursor.fetchall() if fetch else None
