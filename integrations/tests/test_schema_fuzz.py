"""Schema-driven fuzzing: schemathesis against the live API (Django's WSGI app, a real token).

Every operation of /api/schema/ gets generated requests — valid ones and
deliberately invalid ones — derandomized so CI is repeatable; no answer may be
a 500 or break the documented schema. The operations run in one test (one
database setup) to keep the suite fast; a failure names each operation.

(schemathesis' own pytest plugin does not run under pytest 9 yet, so each
operation is driven with hypothesis directly.)
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tenants.tests.factories import token_for

#: Cases per operation. ``FUZZ_SCALE=15`` multiplies them for a longer hunt by hand; ``FUZZ_RANDOM=1`` draws new
#: cases each run instead of CI's repeatable ones. (All cases share the test's one transaction: at scale 40 the
#: imports' temporary tables exhaust PostgreSQL's lock table, ``max_locks_per_transaction``; rerun instead.)
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 10 * SCALE, GenerationMode.NEGATIVE: 6 * SCALE}
RANDOM = os.environ.get("FUZZ_RANDOM", "") not in ("", "0")


def load_schema():
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def live_api(db):
    # Like Django's test client: the test's transaction must survive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_token(live_api, alice, bob, tenant_a, tenant_b):
    from contacts.tests.factories import ContactFactory
    from integrations.tests.factories import ConversionFactory, EventDeliveryFactory

    # A little data of both tenants, so detail routes have something to find (or must hide).
    for tenant in (tenant_a, tenant_b):
        ContactFactory(tenant=tenant)
        EventDeliveryFactory(tenant=tenant)
        ConversionFactory(tenant=tenant)
    return token_for(alice)


def fuzz(operation, mode, token) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        # Each case in its own savepoint, rolled back: a failed statement cannot
        # poison the next request, and cases do not pile up rows.
        savepoint = transaction.savepoint()
        try:
            case.call_and_validate(
                headers={"Authorization": f"Token {token}"},
                checks=[not_a_server_error, response_schema_conformance],
            )
        finally:
            transaction.savepoint_rollback(savepoint)

    try:
        run()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (no parameters, no body): no case to send.
        if mode is not GenerationMode.NEGATIVE:
            raise


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_api_never_500s_and_keeps_its_schema(mode, fuzz_token):
    operations = [r.ok() for r in load_schema().get_all_operations()]
    labels = {op.label for op in operations}
    assert len(operations) >= 15 and "POST /api/v1/conversions/" in labels
    failures: dict[str, str] = {}
    for operation in operations:
        try:
            fuzz(operation, mode, fuzz_token)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failure
            failures[operation.label] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
