"""Putting a Celery task on the broker by its name, so the module that enqueues never imports the tasks.

A service that imported its own app's ``tasks`` module would make an import
cycle (the tasks import the services); by name, the services stay below the
tasks (the import contract checks it). ``task_enqueue`` waits for the current
transaction to commit, so a worker never looks for a row it cannot see yet, and
is robust there: a broker that is down is logged, not raised, because every
caller has a periodic job that finds the committed work again.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def task_send(name: str, *, args: tuple = (), kwargs: dict | None = None, **options) -> None:
    """Put task ``name`` on the broker now (``options``: countdown, queue, …)."""
    current_app.send_task(name, args=args, kwargs=kwargs or {}, **options)


def task_enqueue(name: str, *, args: tuple = (), kwargs: dict | None = None, **options) -> None:
    """Put task ``name`` on the broker once the current transaction commits (at once outside one)."""
    options = {k: v for k, v in options.items() if v is not None}
    transaction.on_commit(lambda: task_send(name, args=args, kwargs=kwargs, **options), robust=True)
