"""Logs without personal data: every line is scrubbed before it is written, in one of two formats.

Query strings carry what people searched for and looked up (``?phone_number=…``, ``?search=…``, the admin's
``?q=…``) and they reach the logs through the access lines of gunicorn and ``runserver``, the referer, and
Django's request warnings. ``scrub`` keeps every query key and drops every value (``?phone_number=[…]``),
and, as a safety net for numbers in paths and messages, masks anything shaped like an E.164 number down to
its last two digits (``+…00``) and an email address down to its domain (``…@example.com``).

``RedactingFilter`` applies it to a record's message, its traceback and its stack, and is attached to the
one console handler of ``settings.LOGGING`` (Django, the app, the Celery worker and beat) and to gunicorn's
loggers (``common.access_log``). Formats: ``plain`` text, or one JSON object a line (``JsonFormatter``),
chosen by ``LOG_FORMAT`` (``log_format``): JSON in production, plain under ``DEBUG`` and the tests.

Nothing here imports Django: gunicorn's master loads it before any settings exist.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import Mapping

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

REDACTED = "[…]"
LOG_FORMATS = ("json", "plain")

# A query string: from "?" to the end of the URL (white space, a quote or an angle bracket ends it).
_QUERY = re.compile(r"\?([^\s\"'<>]+)")
_PAIR_SEPARATORS = re.compile(r"([&;])")
# E.164 (a "+" or its escape %2B, then 7 to 15 digits), not inside a longer run of digits or a word.
_E164 = re.compile(r"(?<![\w+%])(?:\+|%2[Bb])\d{5,13}(\d\d)(?!\d)")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def _keys_only(match: re.Match[str]) -> str:
    fragment = ""
    query = match.group(1)
    if "#" in query:
        query, fragment = query.split("#", 1)
        fragment = "#" + REDACTED
    pairs = []
    for part in _PAIR_SEPARATORS.split(query):
        key, eq, _value = part.partition("=")
        pairs.append(key + (eq + REDACTED if eq else ""))
    return "?" + "".join(pairs) + fragment


def scrub(text: str) -> str:
    """``text`` without query-string values, E.164 numbers (but their last two digits) or email local parts.

    Each pattern runs only when its marker character is present: most lines carry none of them.
    """
    if "?" in text:
        text = _QUERY.sub(_keys_only, text)
    if "+" in text or "%2" in text:
        text = _E164.sub(r"+…\1", text)
    if "@" in text:
        text = _EMAIL.sub(r"…@\1", text)
    return text


_traceback_formatter = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Scrubs a record in place (its rendered message, traceback and stack); never drops one.

    On a handler it covers every record the handler writes, whichever logger made it; on a logger
    (gunicorn's), every record of that logger. A record left unchanged keeps its ``msg`` and ``args``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is for logging itself to report
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, then any extra
    fields of the record (a traceback as ``exc_info``).

    The request object Django attaches to its request and server records is left out (its text is the whole
    URL with the query), and a traceback is scrubbed here too, since the JSON formatter renders it afresh.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "server_time"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def formatException(self, ei):  # noqa: N802 - logging's name
        return scrub(super().formatException(ei))


JSON_FORMAT = "%(levelname)s %(name)s %(message)s"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_TRUE = {"1", "true", "yes", "on", "y", "t"}


def log_format(environ: Mapping[str, str], *, testing: bool = False) -> str:
    """``LOG_FORMAT`` from the environment: ``json`` or ``plain``; by default JSON, except under ``DEBUG``
    or the tests. Read here, not in settings alone, so that gunicorn's master agrees with its workers."""
    value = environ.get("LOG_FORMAT", "").strip().lower()
    if not value:
        debug = environ.get("DEBUG", "").strip().lower() in _TRUE
        return "plain" if debug or testing else "json"
    if value not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {value!r}")
    return value


def configure(config: dict) -> None:
    """``LOGGING_CONFIG``: Django's ``dictConfig``, and Python's warnings written as log records (``py.warnings``)
    rather than bare text on stderr, which would break a stream of JSON lines."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def formatter_for(fmt: str) -> logging.Formatter:
    """The formatter of ``fmt`` (``log_format``'s answer), for handlers made outside ``settings.LOGGING``."""
    return JsonFormatter(JSON_FORMAT) if fmt == "json" else logging.Formatter(PLAIN_FORMAT)
