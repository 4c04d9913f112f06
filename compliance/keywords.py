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
    KEYWORD = "keyword"  # a tenant's own keyword (compliance.keyword_hooks)
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


def reserved_reason(word: str, *, join_keyword: str = "") -> str | None:
    """Why a tenant may not define ``word`` as a keyword of its own, or ``None``.

    Refused: the opt-out, opt-in and help words and phrases (they always act as such, whatever a tenant defines),
    the tenant's JOIN keyword, and any word that would make a message look like an opt-out (it would be flagged for
    review instead of answered).
    """
    text = normalize(word)
    if not text:
        return "Enter a keyword."
    upper = text.upper()
    if text in OPT_OUT_KEYWORDS or text in OPT_OUT_PHRASES or _strip_filler(text) in OPT_OUT_KEYWORDS:
        return f"{upper} is an opt-out word (STOP, UNSUBSCRIBE, CANCEL, END, QUIT, …): it always opts the sender out."
    if text in OPT_IN_KEYWORDS:
        return f"{upper} is an opt-in word (START, UNSTOP, YES): it always opts the sender back in."
    if text in HELP_KEYWORDS:
        return f"{upper} is a help word (HELP, INFO): it always answers the tenant's help text."
    if normalize(join_keyword) and text == normalize(join_keyword):
        return f"{upper} is this tenant's JOIN keyword (compliance settings): it already asks for a sign-up."
    if _REVIEW_WORDS.search(text):
        return f"{upper} contains an opt-out word: a message with it is held for review, never auto-answered."
    return None
