"""Merge fields in message bodies: {{first_name}}, {{last_name}}, {{link}}, {{first_name|there}}."""

from __future__ import annotations

import re

MERGE_FIELDS = ("first_name", "last_name", "link")
PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\|([^}]*))?\}\}")
ANY_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def unknown_fields(template: str) -> list[str]:
    """Placeholders in ``template`` that are not merge fields, in order of appearance."""
    seen: list[str] = []
    for match in ANY_BRACES.finditer(template):
        known = PLACEHOLDER.fullmatch(match.group(0))
        # A malformed placeholder ("{{first name}}") would go out as typed: name it too.
        name = known.group(1) if known else match.group(1).strip()
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


_STOP_WORD = re.compile(r"\bstop\b", re.IGNORECASE)


def has_opt_out_line(body: str) -> bool:
    """Whether the body already tells how to opt out (the word STOP, as in "Reply STOP")."""
    return bool(_STOP_WORD.search(body))


def with_first_contact_footer(body: str, footer: str) -> str:
    """``body`` as a first contact gets it: with the tenant's opt-out line, unless it already says STOP."""
    if not footer or has_opt_out_line(body):
        return body
    return f"{body}\n{footer}"
