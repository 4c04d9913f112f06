"""Local-time sends (#21 part 5): "at 10:00 in each recipient's time zone", through the real fan-out, held with
``hold_until`` and released by the beat tick as the clock moves (``now`` passed in)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.localtime import local_moment
from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.sending import dispatch
from campaigns.sending.control import tick_run
from campaigns.sending.fanout import messages_materialise
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.usefixtures("open_hours", "abroad_allowed")

UTC = dt.UTC
#: A winter day in the future (no DST anywhere below): New York UTC-5, Los Angeles UTC-8, London UTC+0.
START = dt.datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(tenant_a, tenant_b):
    return {
        "ny": ContactFactory(tenant=tenant_a, phone_number="+12125550101", timezone="America/New_York"),
        "la": ContactFactory(tenant=tenant_a, phone_number="+13105550102", timezone=""),  # from the number
        "london": ContactFactory(tenant=tenant_a, phone_number="+447700900123", timezone="Europe/London"),
        "tokyo": ContactFactory(tenant=tenant_a, phone_number="+12125550104", timezone="Asia/Tokyo"),  # own zone
        "theirs": ContactFactory(tenant=tenant_b, phone_number="+12125550105", timezone="America/New_York"),
    }


def _campaign(api, **fields) -> Campaign:
    resp = api.post("/api/v1/campaigns/", {"name": "Ten", "body": "Hi {{first_name}}", **fields}, format="json")
    assert resp.status_code == 201, resp.json()
    return Campaign.objects.get(pk=resp.json()["id"])


def _holds(campaign) -> dict[str, dt.datetime | None]:
    return dict(Message.objects.filter(campaign=campaign).values_list("to", "hold_until"))


def test_each_recipient_waits_for_ten_in_their_own_zone(
    api_alice, api_bob, people, sent_tasks, django_capture_on_commit_callbacks
):
    campaign = _campaign(api_alice, local_send_time="10:00")
    assert api_alice.get(f"/api/v1/campaigns/{campaign.pk}/").json()["local_send_time"] == "10:00:00"
    assert api_bob.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 404
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING, started_at=START)
    messages_materialise(campaign_id=campaign.pk)
    assert _holds(campaign) == {
        "+12125550101": dt.datetime(2030, 1, 15, 15, 0, tzinfo=UTC),  # 10:00 in New York, the same day
        "+13105550102": dt.datetime(2030, 1, 15, 18, 0, tzinfo=UTC),  # Los Angeles, from the 310 number
        "+447700900123": dt.datetime(2030, 1, 16, 10, 0, tzinfo=UTC),  # London's 10:00 had passed: the next day
        "+12125550104": dt.datetime(2030, 1, 16, 1, 0, tzinfo=UTC),  # the contact's own zone beats the number's
    }
    # The sender holds them all now.
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    result = dispatch.messages_send_batch(message_ids=ids)
    assert result.held == 4 and set(Message.objects.values_list("status", flat=True)) == {"pending"}

    # The clock moves: the tick releases each zone at its hour, not before (and hands it to the sender).
    with django_capture_on_commit_callbacks(execute=True):
        assert tick_run(now=dt.datetime(2030, 1, 15, 14, 59, tzinfo=UTC)).released == 0
        assert tick_run(now=dt.datetime(2030, 1, 15, 15, 0, 30, tzinfo=UTC)).released == 1
        assert _holds(campaign)["+12125550101"] is None
        assert tick_run(now=dt.datetime(2030, 1, 15, 18, 0, 30, tzinfo=UTC)).released == 1
        assert tick_run(now=dt.datetime(2030, 1, 16, 1, 0, 30, tzinfo=UTC)).released == 1
        assert tick_run(now=dt.datetime(2030, 1, 16, 10, 0, 30, tzinfo=UTC)).released == 1
    assert set(_holds(campaign).values()) == {None}
    released = [kw["message_ids"] for name, _a, kw in sent_tasks if name == "campaigns.tasks.messages_send"]
    assert sorted(m for batch in released for m in batch) == sorted(ids)


def test_without_a_local_time_nothing_is_held(api_alice, people):
    campaign = _campaign(api_alice)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING, started_at=START)
    messages_materialise(campaign_id=campaign.pk)
    assert set(_holds(campaign).values()) == {None}


def test_local_moment_over_a_dst_change():
    # 2030-03-10: New York springs forward at 02:00; 10:00 that day is 14:00 UTC (EDT), the day before 15:00 UTC.
    after = dt.datetime(2030, 3, 9, 16, 0, tzinfo=UTC)
    assert local_moment(zone="America/New_York", at=dt.time(10), after=after) == dt.datetime(
        2030, 3, 10, 14, 0, tzinfo=UTC
    )


def test_bad_local_time_is_a_400_and_the_admin_sets_it(api_alice, alice):
    resp = api_alice.post("/api/v1/campaigns/", {"name": "x", "body": "Hi", "local_send_time": "25:00"}, format="json")
    assert resp.status_code == 400 and "local_send_time" in resp.json()
    client = Client()
    client.force_login(alice)
    resp = client.post(
        reverse("admin:campaigns_campaign_add"), {"name": "Local", "body": "Hi", "local_send_time": "09:30"}
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert Campaign.objects.get(name="Local").local_send_time == dt.time(9, 30)
