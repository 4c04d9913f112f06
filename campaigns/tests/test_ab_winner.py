"""A/B tests that pick their winner (#21 part 4): the sample first through the real fan-out, the decision from
the maintained counters after the wait, the winner to everyone else, exactly one message per contact."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.services import click_aggregates_add
from campaigns.abtest import in_first_round
from campaigns.authoring import campaign_variant_pick
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.sending.control import campaign_complete_if_done
from campaigns.sending.fanout import messages_materialise
from campaigns.transitions import message_move
from campaigns.winners import ab_winners_due
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.usefixtures("open_hours")

VARIANTS = [{"body": "A: hi {{first_name}}", "percent": 50}, {"body": "B: hello {{first_name}}", "percent": 50}]


def _create(api, **fields):
    body = {"name": "AB", "body": "x", "variants": VARIANTS, **fields}
    return api.post("/api/v1/campaigns/", body, format="json")


def _start(campaign: Campaign, at: dt.datetime) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING, started_at=at)


def _deliver(messages, status=MessageStatus.DELIVERED) -> None:
    for message in messages:
        assert message_move(message_id=message.pk, to=status, delivered_at=timezone.now())


def _clicks(messages) -> None:
    """Human unique clicks on these messages, counted by the click writer's own aggregate step."""
    now = timezone.now()
    click_aggregates_add(
        clicks=[
            {
                "campaign_id": m.campaign_id,
                "tenant_id": m.tenant_id,
                "clicked_at": now,
                "is_bot": False,
                "is_unique": True,
                "message_id": m.pk,
            }
            for m in messages
        ],
        variant_of_message={m.pk: m.variant for m in messages},
    )


def test_the_sample_first_then_the_winner_to_the_rest_once(api_alice, api_bob, tenant_a, tenant_b):
    contacts = [ContactFactory(tenant=tenant_a) for _ in range(60)]
    ContactFactory(tenant=tenant_b)
    resp = _create(api_alice, ab_test_percent=30, ab_wait_hours=2, ab_metric="clicks")
    assert resp.status_code == 201, resp.json()
    got = resp.json()
    assert (got["ab_test_percent"], got["ab_wait_hours"], got["ab_metric"], got["ab_winner"]) == (30, 2, "clicks", None)
    assert api_bob.get(f"/api/v1/campaigns/{got['id']}/").status_code == 404
    campaign = Campaign.objects.get(pk=got["id"])
    t0 = timezone.now() - dt.timedelta(minutes=5)
    _start(campaign, t0)

    # Round one: the sample only, each with its variant.
    messages_materialise(campaign_id=campaign.pk)
    first = {c.pk for c in contacts if in_first_round(campaign=campaign, contact_id=c.pk)}
    assert 5 < len(first) < 40
    sent = list(Message.objects.filter(campaign=campaign))
    assert {m.contact_id for m in sent} == first
    for m in sent:
        assert m.variant == campaign_variant_pick(campaign=campaign, contact_id=m.contact_id)[0]
    # Everything of round one done: still sending, waiting for its winner.
    _deliver(sent)
    assert not campaign_complete_if_done(campaign_id=campaign.pk)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING

    # B gets the clicks.
    b_messages = [m for m in sent if m.variant == 1]
    assert b_messages and len(b_messages) < len(sent)
    _clicks(b_messages)
    assert ab_winners_due(now=t0 + dt.timedelta(hours=1)) == 0  # the wait is not over
    assert ab_winners_due(now=t0 + dt.timedelta(hours=2, minutes=1)) == 1
    campaign.refresh_from_db()
    assert campaign.ab_winner == 1 and campaign.ab_decided_at is not None
    assert campaign.ab_decision.startswith("B wins by click rate: A 0/")
    assert campaign.fanned_out_at is None
    assert ab_winners_due(now=t0 + dt.timedelta(hours=3)) == 0  # decided once

    # Round two (the fan-out the decision enqueued): everyone else, with B's body; nobody twice.
    result = messages_materialise(campaign_id=campaign.pk)
    assert result.created == len(contacts) - len(first)
    rest = Message.objects.filter(campaign=campaign).exclude(contact_id__in=first)
    assert rest.count() == len(contacts) - len(first)
    assert set(rest.values_list("variant", flat=True)) == {1}
    assert all(body.startswith("B: hello ") for body in rest.values_list("body", flat=True))
    assert Message.objects.filter(campaign=campaign).count() == len(contacts)
    assert Message.objects.filter(campaign=campaign).values("contact_id").distinct().count() == len(contacts)
    _deliver(rest)
    assert campaign_complete_if_done(campaign_id=campaign.pk)
    # The API shows the decision.
    got = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/").json()
    assert got["ab_winner"] == 1 and "B wins" in got["ab_decision"]


def test_winner_by_delivery_rate(api_alice, tenant_a):
    for _ in range(40):
        ContactFactory(tenant=tenant_a)
    campaign = Campaign.objects.get(pk=_create(api_alice, ab_test_percent=50, ab_metric="delivered").json()["id"])
    t0 = timezone.now() - dt.timedelta(hours=5)
    _start(campaign, t0)
    messages_materialise(campaign_id=campaign.pk)
    sent = list(Message.objects.filter(campaign=campaign))
    _deliver([m for m in sent if m.variant == 0])
    _deliver([m for m in sent if m.variant == 1], status=MessageStatus.UNDELIVERED)
    assert ab_winners_due() == 1
    campaign.refresh_from_db()
    assert campaign.ab_winner == 0 and campaign.ab_decision.startswith("A wins by delivery rate")


def test_a_paused_test_waits_and_a_plain_ab_test_splits_everyone(api_alice, tenant_a):
    for _ in range(20):
        ContactFactory(tenant=tenant_a)
    paused = Campaign.objects.get(pk=_create(api_alice, ab_test_percent=50).json()["id"])
    _start(paused, timezone.now() - dt.timedelta(hours=9))
    messages_materialise(campaign_id=paused.pk)
    Campaign.objects.filter(pk=paused.pk).update(status=CampaignStatus.PAUSED)
    assert ab_winners_due() == 0
    plain = Campaign.objects.get(pk=_create(api_alice).json()["id"])
    _start(plain, timezone.now())
    assert messages_materialise(campaign_id=plain.pk).created == 20


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ab_test_percent": 0}, "ab_test_percent"),
        ({"ab_test_percent": 100}, "ab_test_percent"),
        ({"ab_test_percent": 20, "ab_wait_hours": 0}, "ab_wait_hours"),
        ({"ab_test_percent": 20, "ab_metric": "revenue"}, "ab_metric"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field(api_alice, fields, field):
    resp = _create(api_alice, **fields)
    assert resp.status_code == 400 and field in resp.json()


def test_a_test_without_variants_is_a_400(api_alice):
    resp = api_alice.post("/api/v1/campaigns/", {"name": "x", "body": "Hi", "ab_test_percent": 20}, format="json")
    assert resp.status_code == 400 and "variants" in str(resp.json()["ab_test_percent"])


def test_the_admin_edits_variants_as_rows(alice, tenant_a):
    ContactFactory(tenant=tenant_a)
    client = Client()
    client.force_login(alice)
    html = client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert 'name="variant_b_body"' in html and 'name="ab_test_percent"' in html and 'name="variants"' not in html
    resp = client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Rows",
            "body": "A text",
            "variant_b_body": "B text",
            "variant_c_body": "C text",
            "variant_c_percent": "20",
            "ab_test_percent": "25",
            "ab_wait_hours": "3",
            "ab_metric": "replies",
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:3000]
    campaign = Campaign.objects.get()
    assert campaign.variants == [
        {"body": "A text", "percent": 40},
        {"body": "B text", "percent": 40},
        {"body": "C text", "percent": 20},
    ]
    assert (campaign.ab_test_percent, campaign.ab_wait_hours, campaign.ab_metric) == (25, 3, "replies")
    html = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "B text</textarea>" in html and 'name="variant_c_percent" value="20"' in html
    # Percents that do not add up: said on the rows, nothing saved.
    resp = client.post(
        reverse("admin:campaigns_campaign_add"),
        {"name": "Bad", "body": "A", "variant_a_percent": "70", "variant_b_body": "B", "variant_b_percent": "70"},
    )
    assert resp.status_code == 200 and "add up to 100" in resp.content.decode()
    # A test that picks its winner needs a variant.
    resp = client.post(reverse("admin:campaigns_campaign_add"), {"name": "One", "body": "A", "ab_test_percent": "20"})
    assert resp.status_code == 200 and "two to four variants" in resp.content.decode()
    assert Campaign.objects.count() == 1
