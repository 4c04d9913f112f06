"""The campaign page's "Send now" through a confirmation page (#21 part 3): recipients, cost, the first-contact
footer, a rendered sample; the count typed above the threshold; two tenants, an outsider and a viewer."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.admin.send_confirm import count_typed_matches
from campaigns.models import CampaignStatus
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory


@pytest.fixture
def draft(tenant_a, tenant_b):
    for name in ("Ann", "Ben", "Cat"):
        ContactFactory(tenant=tenant_a, first_name=name)
    ContactFactory(tenant=tenant_b, first_name="Zed")
    return CampaignFactory(tenant=tenant_a, name="Spring sale", body="Hi {{first_name}}, spring sale on", link_url="")


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(campaign) -> str:
    return reverse("admin:campaigns_campaign_send", args=[campaign.pk])


def test_change_page_has_the_button(alice, draft):
    html = _login(alice).get(reverse("admin:campaigns_campaign_change", args=[draft.pk])).content.decode()
    assert _url(draft) in html


def test_confirmation_shows_what_the_send_does(alice, draft):
    resp = _login(alice).get(_url(draft))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert '<td class="send-recipients">3</td>' in html
    assert "0.02 USD" in html  # 3 first contacts × 2 segments (with the footer) × 0.0083
    assert "Reply STOP to opt out" in html  # the first-contact footer
    assert "spring sale on" in html and any(f"Hi {name}, spring sale on" in html for name in ("Ann", "Ben", "Cat"))
    assert 'name="count"' not in html  # under the threshold
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT  # looking sends nothing


def test_confirming_sends(alice, draft, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = _login(alice).post(_url(draft))
    assert resp.status_code == 302
    assert resp["Location"] == reverse("admin:campaigns_campaign_dashboard", args=[draft.pk])
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.SENDING
    assert sent_tasks  # the fan-out, enqueued


def test_above_the_threshold_the_count_must_be_typed(alice, draft, settings, sent_tasks):
    settings.SEND_CONFIRM_TYPE_COUNT_ABOVE = 2
    client = _login(alice)
    assert 'name="count"' in client.get(_url(draft)).content.decode()
    for typed in ("", "4", "three"):
        resp = client.post(_url(draft), {"count": typed})
        assert resp.status_code == 400 and "Type the number of recipients, 3" in resp.content.decode()
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT and not sent_tasks
    assert client.post(_url(draft), {"count": " 3 "}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.SENDING


def test_an_audience_that_grew_is_not_sent_on_the_old_count(alice, draft, settings, tenant_a):
    settings.SEND_CONFIRM_TYPE_COUNT_ABOVE = 2
    ContactFactory(tenant=tenant_a)  # after the page was shown with 3
    assert _login(alice).post(_url(draft), {"count": "3"}).status_code == 400
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT


def test_a_sent_campaign_says_why(alice, tenant_a):
    sent = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENT)
    client = _login(alice)
    resp = client.post(_url(sent), follow=True)
    assert "only a draft can be sent, once" in resp.content.decode()
    sent.refresh_from_db()
    assert sent.status == CampaignStatus.SENT


def test_other_tenants_outsider_and_viewer(bob, charlie, tenant_a, draft):
    for user in (bob, charlie):
        assert _login(user).get(_url(draft)).status_code == 404
        assert _login(user).post(_url(draft)).status_code == 404
    viewer = UserFactory(email="vi@acme.example", tenant=tenant_a, role=Role.VIEWER)
    assert _login(viewer).post(_url(draft)).status_code == 403
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT


def test_count_typed_matches():
    assert count_typed_matches(typed="1,234", recipients=1234)
    assert count_typed_matches(typed="1 234", recipients=1234)
    assert not count_typed_matches(typed="1234.5", recipients=1234)
    assert not count_typed_matches(typed="", recipients=0)


def test_over_a_cap_it_asks_for_that_too(alice, draft, tenant_a, redis_url):
    from guard.tests.factories import GuardSettingsFactory

    GuardSettingsFactory(tenant=tenant_a, daily_segment_cap=2)
    client = _login(alice)
    html = client.get(_url(draft)).content.decode()
    assert "caps would stop this send" in html and 'name="confirm_over_cap"' in html
    assert client.post(_url(draft)).status_code == 400
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT
    assert client.post(_url(draft), {"confirm_over_cap": "1"}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.SENDING


def _control(campaign) -> str:
    return reverse("admin:campaigns_campaign_control", args=[campaign.pk])


def test_campaign_page_buttons_pause_resume_cancel(alice, tenant_a):
    sending_one = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING)
    client = _login(alice)
    html = client.get(reverse("admin:campaigns_campaign_change", args=[sending_one.pk])).content.decode()
    assert 'value="pause"' in html and 'value="cancel"' in html and 'value="resume"' not in html
    assert _url(sending_one) not in html  # no "Send now" once sending
    assert client.post(_control(sending_one), {"op": "pause"}).status_code == 302
    sending_one.refresh_from_db()
    assert sending_one.status == CampaignStatus.PAUSED and "alice@acme.example" in sending_one.paused_reason
    assert client.post(_control(sending_one), {"op": "resume"}).status_code == 302
    sending_one.refresh_from_db()
    assert sending_one.status == CampaignStatus.SENDING
    assert client.post(_control(sending_one), {"op": "cancel"}).status_code == 302
    sending_one.refresh_from_db()
    assert sending_one.status == CampaignStatus.CANCELED
    resp = client.post(_control(sending_one), {"op": "resume"}, follow=True)
    assert "Not done: the campaign is canceled" in resp.content.decode()


def test_schedule_button_needs_a_future_time(alice, tenant_a):
    import datetime as dt

    from django.utils import timezone

    draft = CampaignFactory(tenant=tenant_a)
    client = _login(alice)
    resp = client.post(_control(draft), {"op": "schedule"}, follow=True)
    assert "Set a send time in the future first" in resp.content.decode()
    draft.send_at = timezone.now() + dt.timedelta(hours=2)
    draft.save(update_fields=["send_at"])
    client.post(_control(draft), {"op": "schedule"})
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.SCHEDULED


def test_buttons_are_scoped(bob, charlie, tenant_a):
    sending_one = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING)
    for user in (bob, charlie):
        assert _login(user).post(_control(sending_one), {"op": "cancel"}).status_code == 404
    viewer = UserFactory(email="vw@acme.example", tenant=tenant_a, role=Role.VIEWER)
    html = _login(viewer).get(reverse("admin:campaigns_campaign_change", args=[sending_one.pk])).content.decode()
    assert 'value="cancel"' not in html
    assert _login(viewer).post(_control(sending_one), {"op": "cancel"}).status_code == 403
    sending_one.refresh_from_db()
    assert sending_one.status == CampaignStatus.SENDING


def test_campaign_page_updates_live(alice, bob, charlie, tenant_a):
    from campaigns.counters import counts_add

    sending_one = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING)
    counts_add(campaign_id=sending_one.pk, deltas={"sent": 1, "pending": 1})  # the maintained counters
    client = _login(alice)
    html = client.get(reverse("admin:campaigns_campaign_change", args=[sending_one.pk])).content.decode()
    url = reverse("admin:campaigns_campaign_progress", args=[sending_one.pk])
    assert "campaigns/campaign_live.js" in html and f'data-url="{url}"' in html
    got = client.get(url).json()
    assert got["status"] == "sending" and got["sending_progress"] == "1 / 2"
    for user in (bob, charlie):
        assert _login(user).get(url).status_code == 404
