"""Send safety leftovers (#21 part 3): the list's "Send now" never sends, states are explained as the API's 409
explains them, a blank add form shows no error, and test sends through the API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message, UserTestNumber
from campaigns.tests.factories import CampaignFactory
from campaigns.tests.test_test_sends import Recorder
from contacts.tests.factories import ContactFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory, token_for


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _action(client, action: str, *campaigns):
    return client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": action, "_selected_action": [c.pk for c in campaigns]},
        follow=False,
    )


def _messages(resp) -> str:
    return " ".join(str(m) for m in resp.wsgi_request._messages)


@pytest.fixture
def drafts(tenant_a):
    ContactFactory(tenant=tenant_a)
    return CampaignFactory(tenant=tenant_a, name="Spring"), CampaignFactory(tenant=tenant_a, name="Summer")


def test_send_now_on_the_list_opens_the_confirmation_page_and_sends_nothing(alice, drafts):
    spring, _summer = drafts
    resp = _action(_login(alice), "send_now", spring)
    assert resp.status_code == 302
    assert resp["Location"] == reverse("admin:campaigns_campaign_send", args=[spring.pk])
    spring.refresh_from_db()
    assert spring.status == CampaignStatus.DRAFT and not Message.objects.exists()


def test_send_now_on_several_asks_for_one_at_a_time(alice, drafts):
    resp = _action(_login(alice), "send_now", *drafts)
    assert resp.status_code == 302 and resp["Location"].endswith("/campaigns/campaign/")
    assert "one campaign at a time" in _messages(resp)
    assert set(Campaign.objects.values_list("status", flat=True)) == {CampaignStatus.DRAFT}


def test_a_sent_campaign_is_explained_like_the_api_409(alice, api_alice, tenant_a):
    done = CampaignFactory(tenant=tenant_a, name="Old", status=CampaignStatus.SENT, finished_at=timezone.now())
    api = api_alice.post(f"/api/v1/campaigns/{done.pk}/send/")
    assert api.status_code == 409 and "sent" in api.json()["detail"]
    client = _login(alice)
    resp = _action(client, "send_now", done)
    said = _messages(resp)
    assert "Old is sent" in said and "Only a draft can be sent" in said
    assert "not in a state that allows it" not in said
    resp = _action(client, "pause", done)
    assert "Old is sent. Paused needs a sending or scheduled campaign" in _messages(resp)
    # The confirmation page itself, opened by URL, says the same.
    resp = client.get(reverse("admin:campaigns_campaign_send", args=[done.pk]))
    assert resp.status_code == 302 and "only a draft can be sent" in _messages(resp)


def test_another_tenants_campaign_is_not_touched_from_the_list(bob, drafts):
    spring, _ = drafts
    resp = _action(_login(bob), "send_now", spring)
    assert resp.status_code == 302
    assert f"campaigns/campaign/{spring.pk}/send/" not in resp.get("Location", "")


def test_a_blank_add_form_has_no_error_until_something_is_typed(alice):
    client = _login(alice)
    url = reverse("admin:campaigns_campaign_preview")
    assert client.post(url, {"purpose": "marketing", "mms_fallback": "skip"}).json()["errors"] == {}
    typed = client.post(url, {"body": "Hi {{coupon}}", "purpose": "marketing"}).json()["errors"]
    assert "coupon" in str(typed)
    html = client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert "errorlist" not in html and 'class="errornote"' not in html
    # Submitting the blank form still says what is missing.
    resp = client.post(reverse("admin:campaigns_campaign_add"), {"name": "x"})
    assert resp.status_code == 200 and "A message body is required." in resp.content.decode()


@pytest.fixture
def gateway(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr("campaigns.testsends.get_gateway", lambda: recorder)
    return recorder


def _api(user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return api


def test_test_send_through_the_api(alice, bob, api_alice, api_bob, api_charlie, tenant_a, drafts, gateway):
    spring, _ = drafts
    url = f"/api/v1/campaigns/{spring.pk}/test-send/"
    UserTestNumber.objects.create(tenant=tenant_a, user=alice, phone_number="+14155550199", verified_at=None)
    resp = api_alice.post(url, {"phone_number": "+14155550199"}, format="json")
    assert resp.status_code == 400 and "phone_number" in resp.json() and gateway.sent == []
    UserTestNumber.objects.filter(user=alice).update(verified_at=timezone.now())
    resp = api_alice.post(url, {"phone_number": "(415) 555-0199"}, format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["to"] == "+14155550199" and resp.json()["body"].startswith("[Test] ")
    assert [s[1] for s in gateway.sent] == ["+14155550199"]
    assert not Message.objects.exists()
    # A colleague cannot use Alice's number; other tenants get a 404.
    colleague = UserFactory(tenant=tenant_a, role=Role.MARKETER)
    assert _api(colleague).post(url, {"phone_number": "+14155550199"}, format="json").status_code == 400
    for api in (api_bob, api_charlie):
        assert api.post(url, {"phone_number": "+14155550199"}, format="json").status_code == 404
    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    assert _api(viewer).post(url, {"phone_number": "+14155550199"}, format="json").status_code == 403
    Campaign.objects.filter(pk=spring.pk).update(status=CampaignStatus.SENT)
    assert api_alice.post(url, {"phone_number": "+14155550199"}, format="json").status_code == 409
    assert len(gateway.sent) == 1
