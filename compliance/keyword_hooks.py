"""Tenant keywords defined above compliance (VIP, a promo word) answered through the inbound webhook.

``compliance.inbound`` decides what an inbound text means and what the webhook answers, but the tenant's own
keywords live in an app above it (``growth``), and compliance never imports an app above it (no import cycle, see
``.importlinter``). So that app registers a handler here when Django is ready (``growth.apps.GrowthConfig.ready``)
and compliance asks the registry:

- ``match(tenant=, text=)``: the keyword word (upper case) a normalized message is, or ``None``. Called for every
  plain reply (not for STOP/START/HELP words or the JOIN keyword: those always win), so it must be one indexed
  query at most.
- ``act(tenant=, cfg=, inbound=)``: inside the webhook's transaction, after the inbound row (``kind="keyword"``,
  ``keyword=<word>``) is written and the fraud guard's burst check passed: whatever the keyword does (tags, the
  contact, consent), and the text to answer (``None``: nothing). Database writes only: the answer goes back as
  TwiML, never sent from here.
"""

from __future__ import annotations

from typing import Protocol


class KeywordHandler(Protocol):
    def match(self, *, tenant, text: str) -> str | None: ...

    def act(self, *, tenant, cfg, inbound) -> str | None: ...


_handlers: list[KeywordHandler] = []


def keyword_handler_register(handler: KeywordHandler) -> None:
    """Add a handler (idempotent: ``ready()`` may run more than once in tests)."""
    if handler not in _handlers:
        _handlers.append(handler)


def keyword_match(*, tenant, text: str) -> tuple[KeywordHandler, str] | None:
    """The first registered handler that knows ``text`` as one of the tenant's keywords, with the word."""
    if not text:
        return None
    for handler in _handlers:
        word = handler.match(tenant=tenant, text=text)
        if word:
            return handler, word
    return None
