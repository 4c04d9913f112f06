"""Each kind of condition, AND within a group and OR across groups, compiled to one query over real rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import MessageStatus
from campaigns.tests.factories import MessageFactory
from compliance.tests.factories import InboundMessageFactory
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, TagFactory
from integrations.tests.factories import ConversionFactory
from links.tests.factories import ClickFactory
from segments.conditions import DefinitionError, definition_describe, definition_validate
from segments.selectors import definition_contacts

NOW = timezone.now()


def _names(tenant, *groups) -> set[str]:
    definition = definition_validate({"groups": [list(g) for g in groups]})
    return set(definition_contacts(tenant_id=tenant.pk, definition=definition).values_list("first_name", flat=True))


@pytest.fixture
def people(tenant_a, tenant_b):
    made = {
        "ann": ContactFactory(tenant=tenant_a, first_name="Ann", custom_fields={"city": "Boston", "orders": 7}),
        "ben": ContactFactory(tenant=tenant_a, first_name="Ben", custom_fields={"city": "boston", "orders": "12"}),
        "cat": ContactFactory(
            tenant=tenant_a, first_name="Cat", custom_fields={"city": "Chicago", "orders": "n/a", "born": "1990-05-01"}
        ),
        "dan": ContactFactory(
            tenant=tenant_a, first_name="Dan", email="dan@example.com", consent_status="unknown",
            custom_fields={"born": "2001-02-03T00:00:00"},
        ),
        # Another tenant's Boston contact: never in tenant A's segments.
        "zed": ContactFactory(tenant=tenant_b, first_name="Zed", custom_fields={"city": "Boston", "orders": 99}),
    }  # fmt: skip
    Contact.objects.filter(pk=made["cat"].pk).update(created_at=NOW - dt.timedelta(days=40))
    return made


def test_text_conditions(tenant_a, people):
    city = {"type": "field", "field": "city"}
    assert _names(tenant_a, [{**city, "op": "equals", "value": "BOSTON"}]) == {"Ann", "Ben"}
    # A missing value is "not equal": Dan has no city.
    assert _names(tenant_a, [{**city, "op": "not_equals", "value": "boston"}]) == {"Cat", "Dan"}
    assert _names(tenant_a, [{**city, "op": "contains", "value": "cag"}]) == {"Cat"}
    assert _names(tenant_a, [{**city, "op": "empty"}]) == {"Dan"}
    assert _names(tenant_a, [{"type": "field", "field": "email", "op": "not_empty"}]) == {"Dan"}
    assert _names(tenant_a, [{"type": "field", "field": "first_name", "op": "equals", "value": "ann"}]) == {"Ann"}


def test_number_conditions_skip_values_that_are_not_numbers(tenant_a, people):
    orders = {"type": "field", "field": "orders"}
    assert _names(tenant_a, [{**orders, "op": "gt", "value": 7}]) == {"Ben"}  # "12" as text counts as 12
    assert _names(tenant_a, [{**orders, "op": "gte", "value": "7"}]) == {"Ann", "Ben"}
    assert _names(tenant_a, [{**orders, "op": "lt", "value": 100}]) == {"Ann", "Ben"}  # "n/a": never, no error
    assert _names(tenant_a, [{**orders, "op": "eq", "value": 7}]) == {"Ann"}


def test_date_conditions_on_created_at_and_a_custom_field(tenant_a, people):
    assert _names(tenant_a, [{"type": "field", "field": "created_at", "op": "in_last_days", "days": 30}]) == {
        "Ann",
        "Ben",
        "Dan",
    }
    assert _names(tenant_a, [{"type": "field", "field": "created_at", "op": "not_in_last_days", "days": 30}]) == {"Cat"}
    born = {"type": "field", "field": "born"}
    assert _names(tenant_a, [{**born, "op": "before", "value": "2000-01-01"}]) == {"Cat"}
    assert _names(tenant_a, [{**born, "op": "after", "value": "2000-01-01"}]) == {"Dan"}


def test_tags_and_consent(tenant_a, people):
    vip = TagFactory(tenant=tenant_a, name="vip")
    people["ann"].tags.add(vip)
    assert _names(tenant_a, [{"type": "tag", "op": "has", "value": "vip"}]) == {"Ann"}
    assert _names(tenant_a, [{"type": "tag", "op": "has_not", "value": "vip"}]) == {"Ben", "Cat", "Dan"}
    assert _names(tenant_a, [{"type": "consent", "op": "is", "value": "unknown"}]) == {"Dan"}
    assert _names(tenant_a, [{"type": "consent", "op": "is_not", "value": "unknown"}]) == {"Ann", "Ben", "Cat"}


def test_engagement_within_days_ever_and_never(tenant_a, tenant_b, people):
    ann, ben, cat, dan = people["ann"], people["ben"], people["cat"], people["dan"]
    MessageFactory(
        tenant=tenant_a, campaign__tenant=tenant_a, contact=ann, status=MessageStatus.DELIVERED,
        delivered_at=NOW - dt.timedelta(days=2),
    )  # fmt: skip
    MessageFactory(
        tenant=tenant_a, campaign__tenant=tenant_a, contact=ben, status=MessageStatus.DELIVERED,
        delivered_at=NOW - dt.timedelta(days=60),
    )  # fmt: skip
    MessageFactory(tenant=tenant_a, campaign__tenant=tenant_a, contact=cat, status=MessageStatus.FAILED)
    ClickFactory(tenant=tenant_a, contact=ben, clicked_at=NOW - dt.timedelta(days=1))
    ClickFactory(tenant=tenant_a, contact=cat, clicked_at=NOW - dt.timedelta(days=1), is_bot=True)  # a bot
    InboundMessageFactory(tenant=tenant_a, contact=cat, kind="reply")
    InboundMessageFactory(tenant=tenant_a, contact=dan, kind="opt_out")  # STOP is no reply
    ConversionFactory(tenant=tenant_a, contact=dan)
    ConversionFactory(tenant=tenant_b, contact=ann)  # the wrong tenant's row never counts

    def engaged(event, op, days=None):
        cond = {"type": "engagement", "event": event, "op": op}
        if days:
            cond["days"] = days
        return _names(tenant_a, [cond])

    assert engaged("delivered", "in_last_days", 7) == {"Ann"}
    assert engaged("delivered", "ever") == {"Ann", "Ben"}
    assert engaged("delivered", "never") == {"Cat", "Dan"}
    assert engaged("delivered", "not_in_last_days", 7) == {"Ben", "Cat", "Dan"}
    assert engaged("clicked", "in_last_days", 7) == {"Ben"}
    assert engaged("replied", "ever") == {"Cat"}
    assert engaged("converted", "ever") == {"Dan"}
    assert engaged("converted", "never") == {"Ann", "Ben", "Cat"}


def test_and_within_a_group_or_across_groups_in_one_query(tenant_a, people):
    vip = TagFactory(tenant=tenant_a, name="vip")
    people["dan"].tags.add(vip)
    boston_over_10 = [
        {"type": "field", "field": "city", "op": "equals", "value": "Boston"},
        {"type": "field", "field": "orders", "op": "gt", "value": 10},
    ]
    vips = [{"type": "tag", "op": "has", "value": "vip"}]
    assert _names(tenant_a, boston_over_10) == {"Ben"}
    definition = definition_validate({"groups": [boston_over_10, vips]})
    with CaptureQueriesContext(connection) as queries:
        found = set(
            definition_contacts(tenant_id=tenant_a.pk, definition=definition).values_list("first_name", flat=True)
        )
    assert found == {"Ben", "Dan"}
    assert len(queries) == 1
    assert definition_describe(definition) == "(city is Boston and orders > 10) or (has tag vip)"


@pytest.mark.parametrize(
    ("definition", "says"),
    [
        ({}, "at least one group"),
        ({"groups": [[]]}, "group 1"),
        ({"groups": [[{"type": "nope"}]]}, "group 1, condition 1: 'type'"),
        ({"groups": [[{"type": "field", "field": "city", "op": "gt", "value": "many"}]]}, "must be a number"),
        ({"groups": [[{"type": "field", "field": "email", "op": "gt", "value": 1}]]}, "for email"),
        ({"groups": [[{"type": "field", "field": "created_at", "op": "before", "value": "soon"}]]}, "a date"),
        ({"groups": [[{"type": "engagement", "event": "clicked", "op": "in_last_days"}]]}, "'days'"),
        ({"groups": [[{"type": "consent", "op": "is", "value": "maybe"}]]}, "consent"),
        ({"groups": [[{"type": "tag", "op": "has"}]], "x": 1}, "A definition is an object"),
    ],
)
def test_bad_definitions_say_what_is_wrong(definition, says):
    with pytest.raises(DefinitionError, match=says):
        definition_validate(definition)
