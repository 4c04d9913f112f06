"""Audiences: tags (any), rules (all), exclusions; always within one tenant."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory, MessageFactory
from contacts.audience import AudienceError, audience_validate
from contacts.models import Contact
from contacts.selectors import contacts_for_audience
from contacts.tests.factories import ContactFactory, TagFactory


@pytest.fixture
def people(tenant_a, tenant_b):
    vip, nyc, staff = (TagFactory(tenant=tenant_a, name=n) for n in ("vip", "nyc", "staff"))
    ada = ContactFactory(tenant=tenant_a, phone_number="+14155550100", custom_fields={"city": "Boston", "tier": 2})
    bo = ContactFactory(tenant=tenant_a, phone_number="+14155550101", custom_fields={"city": "Austin"})
    cy = ContactFactory(tenant=tenant_a, phone_number="+14155550102")
    di = ContactFactory(tenant=tenant_a, phone_number="+14155550103", custom_fields={"city": "Boston"})
    ada.tags.add(vip, nyc)
    bo.tags.add(vip)
    cy.tags.add(nyc, staff)
    di.tags.add(staff)
    theirs = ContactFactory(tenant=tenant_b, phone_number="+14155550104", custom_fields={"city": "Boston"})
    theirs.tags.add(TagFactory(tenant=tenant_b, name="vip"))
    Contact.objects.filter(pk=ada.pk).update(created_at=timezone.now() - dt.timedelta(days=30))
    return {"ada": ada, "bo": bo, "cy": cy, "di": di, "theirs": theirs}


def _ids(tenant, audience):
    return list(contacts_for_audience(tenant_id=tenant.pk, audience=audience).values_list("id", flat=True))


def test_empty_audience_is_everyone_of_the_tenant(tenant_a, people):
    assert _ids(tenant_a, {}) == sorted(p.pk for k, p in people.items() if k != "theirs")
    assert _ids(tenant_a, None) == _ids(tenant_a, {})


def test_any_of_tags_without_duplicates(tenant_a, people):
    assert _ids(tenant_a, {"tags": ["vip", "nyc"]}) == sorted([people["ada"].pk, people["bo"].pk, people["cy"].pk])


def test_exclusions(tenant_a, people):
    assert _ids(tenant_a, {"tags": ["nyc"], "exclude_tags": ["staff"]}) == [people["ada"].pk]
    assert _ids(tenant_a, {"exclude_tags": ["staff"]}) == sorted([people["ada"].pk, people["bo"].pk])


def test_custom_field_and_created_since(tenant_a, people):
    boston = {"rules": [{"type": "field_equals", "field": "city", "value": "Boston"}]}
    assert _ids(tenant_a, boston) == sorted([people["ada"].pk, people["di"].pk])
    assert _ids(tenant_a, {"rules": [{"type": "field_equals", "field": "tier", "value": 2}]}) == [people["ada"].pk]
    since = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    recent = {"rules": [boston["rules"][0], {"type": "created_since", "value": since}]}
    assert _ids(tenant_a, recent) == [people["di"].pk]


def test_did_not_click_an_earlier_campaign(tenant_a, people):
    earlier = CampaignFactory(tenant=tenant_a)
    for key in ("ada", "bo"):
        MessageFactory(campaign=earlier, tenant=tenant_a, contact=people[key])
    audience = {"rules": [{"type": "not_clicked", "campaign": earlier.pk}]}
    # No click is recorded: both recipients did not click; people who never got it are out.
    assert _ids(tenant_a, audience) == sorted([people["ada"].pk, people["bo"].pk])
    clicked = {"rules": [{"type": "clicked", "campaign": earlier.pk}]}
    assert set(_ids(tenant_a, clicked)) <= {people["ada"].pk, people["bo"].pk}


def test_validation_normalizes_and_names_the_problem(tenant_a, tenant_b):
    assert audience_validate(tenant_id=tenant_a.pk, audience={"tags": [" vip ", "vip", ""]}) == {"tags": ["vip"]}
    assert audience_validate(tenant_id=tenant_a.pk, audience=None) == {}
    theirs = CampaignFactory(tenant=tenant_b)
    bad = [
        [],
        {"tags": [1]},
        {"rules": [{"type": "created_since", "value": "last week"}]},
        {"rules": [{"type": "field_equals", "field": ""}]},
        {"rules": [{"type": "clicked", "campaign": theirs.pk}]},
        {"rules": [{"type": "clicked", "campaign": True}]},
    ]
    for audience in bad:
        with pytest.raises(AudienceError):
            audience_validate(tenant_id=tenant_a.pk, audience=audience)


def test_click_rules_use_the_clickers_of_that_campaign(tenant_a, people):
    from links.tests.factories import ClickFactory, ShortLinkFactory

    earlier = CampaignFactory(tenant=tenant_a)
    messages = {
        key: MessageFactory(campaign=earlier, tenant=tenant_a, contact=people[key]) for key in ("ada", "bo", "cy")
    }
    links = {key: ShortLinkFactory(tenant=tenant_a, campaign=earlier, message=msg) for key, msg in messages.items()}
    # Bo clicked; Cy's link was only fetched by a preview bot, which is no click.
    ClickFactory(tenant=tenant_a, link=links["bo"], campaign_id=earlier.pk, contact_id=people["bo"].pk)
    ClickFactory(tenant=tenant_a, link=links["cy"], campaign_id=earlier.pk, contact_id=people["cy"].pk, is_bot=True)
    assert _ids(tenant_a, {"rules": [{"type": "clicked", "campaign": earlier.pk}]}) == [people["bo"].pk]
    assert _ids(tenant_a, {"rules": [{"type": "not_clicked", "campaign": earlier.pk}]}) == sorted(
        [people["ada"].pk, people["cy"].pk]
    )
