"""Query-string parameters the API reads by hand (filters DRF's serializers do not see)."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError

#: The largest id a PostgreSQL ``bigint`` holds.
MAX_ID = 2**63 - 1


def id_param(params, name: str, *, what: str) -> int | None:
    """The id in ``params[name]``, ``None`` when absent or empty; a 400 naming ``name`` when it is not an id.

    Out-of-range numbers get the same 400 here, never handed to the database.
    """
    value = params.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ID:
        raise ValidationError({name: [f"A {what} id is a whole number from 1 to {MAX_ID}."]})
    return int(value)
