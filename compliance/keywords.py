"""What an inbound text means: opt-out, opt-in, help, join, or a plain reply.

Keywords match the whole message in any case, with surrounding space and
punctuation ignored (``" Stop! "`` is STOP). A few revocation phrases count as
well ("stop texting me", "please stop", …), since US rules accept any
reasonable means. An opt-out word *inside* a longer message is not acted on
automatically: it is kept and flagged for a person to review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPT_OUT_KEYWORDS = frozenset(
    {"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out"}
)
OPT_OUT_PHRASES = frozenset(
    {
        "stop texting me",
        "stop texting",
        "stop messaging me",
        "stop sending",
        "stop sending me texts",
        "please stop",
        "remove me",
        "remove me from your list",
        "remove me from this list",
        "unsubscribe me",
        "take me off your list",
        "take me off this list",
        "take me off",
        "do not text me",
        "dont text me",
        "don t text me",
    }
)
OPT_IN_KEYWORDS = frozenset({"start", "unstop", "yes"})
HELP_KEYWORDS = frozenset({"help", "info"})
# Politeness around a keyword does not change it: "stop please", "ok stop thanks".
_FILLER_PREFIXES = ("please ", "pls ", "ok ", "okay ")
_FILLER_SUFFIXES = (" please", " pls", " thanks", " thank you", " now", " thx")
# Words that, inside a longer message, might mean "stop texting me": flag for review.
_REVIEW_WORDS = re.compile(r"\b(stop|stopall|unsubscribe|quit|revoke|opt ?out|cancel|remove me)\b")


class Intent:
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    JOIN = "join"
    REPLY = "reply"


@dataclass(frozen=True)
class Parsed:
    intent: str
    keyword: str = ""
    needs_review: bool = False
    review_reason: str = ""


def normalize(body: str) -> str:
    """Lower case, every run of punctuation/space one space, trimmed."""
    return " ".join(re.sub(r"[\W_]+", " ", (body or "").lower()).split())


def _strip_filler(text: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _FILLER_PREFIXES:
            if text.startswith(prefix):
                text, changed = text[len(prefix) :], True
        for suffix in _FILLER_SUFFIXES:
            if text.endswith(suffix):
                text, changed = text[: -len(suffix)], True
    return text.strip()


def parse(body: str, *, opt_out_type: str = "", join_keyword: str = "") -> Parsed:
    """The intent of one inbound message. Twilio's ``OptOutType`` wins over the body."""
    kind = (opt_out_type or "").strip().upper()
    if kind == "STOP":
        return Parsed(Intent.OPT_OUT, keyword="STOP")
    if kind == "START":
        return Parsed(Intent.OPT_IN, keyword="START")
    if kind == "HELP":
        return Parsed(Intent.HELP, keyword="HELP")

    text = normalize(body)
    core = _strip_filler(text)
    for candidate in (text, core):
        if candidate in OPT_OUT_KEYWORDS or candidate in OPT_OUT_PHRASES:
            return Parsed(Intent.OPT_OUT, keyword=candidate.upper())
    if text in OPT_IN_KEYWORDS:
        return Parsed(Intent.OPT_IN, keyword=text.upper())
    if text in HELP_KEYWORDS:
        return Parsed(Intent.HELP, keyword=text.upper())
    join = normalize(join_keyword)
    if join and text == join:
        return Parsed(Intent.JOIN, keyword=join.upper())
    match = _REVIEW_WORDS.search(text)
    if match:
        return Parsed(Intent.REPLY, needs_review=True, review_reason=f"mentions {match.group(1)!r} in a longer message")
    return Parsed(Intent.REPLY)
