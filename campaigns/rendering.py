"""Merge fields in message bodies: {{first_name}}, {{last_name}}, {{link}}, {{first_name|there}}.

Any contact field (``CONTACT_FIELDS``) and any custom field a tenant's contacts carry may be used too
(``{{city|your area}}``: the text after ``|`` stands in when the value is empty); which custom fields exist is
the tenant's, so ``unknown_fields`` takes the known names (``contacts.selectors.merge_fields_known``).
"""

from __future__ import annotations

import re
from collections.abc import Collection

MERGE_FIELDS = ("first_name", "last_name", "link")
#: Contact columns a body may use besides the names; a custom field of the same name is shadowed by them.
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone_number")
PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\|([^}]*))?\}\}")
ANY_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def used_fields(template: str) -> list[str]:
    """The merge fields ``template`` uses, in order of appearance, once each."""
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(template)))


def unknown_fields(template: str, known: Collection[str] = MERGE_FIELDS) -> list[str]:
    """Placeholders in ``template`` that are not in ``known``, in order of appearance."""
    seen: list[str] = []
    for match in ANY_BRACES.finditer(template):
        parsed = PLACEHOLDER.fullmatch(match.group(0))
        # A malformed placeholder ("{{first name}}") would go out as typed: name it too.
        name = parsed.group(1) if parsed else match.group(1).strip()
        if name not in known and name not in seen:
            seen.append(name)
    return seen


def render(template: str, *, first_name: str = "", last_name: str = "", link: str = "", **fields) -> str:
    """``fields``: any other merge field's value (a custom field's may be a number: shown as text)."""
    values = {**fields, "first_name": first_name, "last_name": last_name, "link": link}

    def sub(match: re.Match) -> str:
        value = values.get(match.group(1))
        value = "" if value is None else str(value)
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
    return f"{body}\n{footer}" if body else footer  # an MMS may have no text of its own
