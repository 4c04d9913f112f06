"""Merge fields in message bodies: {{first_name}}, {{last_name}}, {{link}}, {{first_name|there}}."""

from __future__ import annotations

import re

MERGE_FIELDS = ("first_name", "last_name", "link")
PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\|([^}]*))?\}\}")


def unknown_fields(template: str) -> list[str]:
    """Placeholders in ``template`` that are not merge fields, in order of appearance."""
    seen: list[str] = []
    for match in PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in MERGE_FIELDS and name not in seen:
            seen.append(name)
    return seen


def render(template: str, *, first_name: str = "", last_name: str = "", link: str = "") -> str:
    values = {"first_name": first_name, "last_name": last_name, "link": link}

    def sub(match: re.Match) -> str:
        value = values.get(match.group(1), "")
        fallback = match.group(2)
        return value if value else (fallback.strip() if fallback is not None else "")

    return PLACEHOLDER.sub(sub, template)
