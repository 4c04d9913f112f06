"""The API's JSON parser: DRF's, refusing NUL characters anywhere in the document (a 400 naming where)."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ValidationError

from .middleware import NUL, NUL_MESSAGE


def nul_path(data, path: str = "") -> str | None:
    """Where in a parsed JSON document the first NUL character is (``custom_fields.city``, ``variants[1].body``),
    ``None`` when there is none."""
    if isinstance(data, str):
        return path or "(body)" if NUL in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return here.replace(NUL, "\\0")
            found = nul_path(value, here)
            if found:
                return found
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found = nul_path(value, f"{path}[{i}]")
            if found:
                return found
    return None


class JSONParser(parsers.JSONParser):
    """PostgreSQL text and jsonb cannot hold NUL: without this a ``"\\u0000"`` in a JSON field was a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        where = nul_path(data)
        if where:
            raise ValidationError({where: [NUL_MESSAGE]})
        return data
