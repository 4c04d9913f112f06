"""Conversations kept from the inbound webhook's texts, read through the API and the admin: the list, its filters
and search, a thread both ways with statuses, assign / done / read; another tenant's is a 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import CampaignKind, MessageStatus
from campaigns.tests.factories import CampaignFactory, MessageFactory
from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from inbox.models import Conversation
from inbox.services import conversations_refresh
from tenants.models import Role
from tenants.tests.factories import UserFactory

from .conftest import inbound_post

pytestmark = pytest.mark.django_db

ADA = "+14155550123"
BEN = "+14155550456"


def test_texts_make_one_conversation_per_contact_with_unread_counts(tenant_a, tenant_b, api_alice, api_bob):
    ada = ContactFactory(tenant=tenant_a, phone_number=ADA, first_name="Ada")
    inbound_post(tenant_a, "Is the sale still on?", from_number=ADA)
    inbound_post(tenant_a, "And tomorrow?", from_number=ADA)
    inbound_post(tenant_a, "Hello", from_number=BEN)  # a number with no contact yet
    inbound_post(tenant_b, "Bob's customer", from_number=ADA)  # the same number at another tenant

    listed = api_alice.get("/api/v1/conversations/").json()["results"]
    by_number = {c["contact"]["phone_number"]: c for c in listed}
    assert set(by_number) == {ADA, BEN}
    assert by_number[ADA]["unread"] == 2 and by_number[ADA]["contact"]["id"] == ada.pk
    assert by_number[ADA]["last_preview"] == "And tomorrow?"
    assert by_number[BEN]["unread"] == 1
    assert Contact.objects.filter(tenant=tenant_a, phone_number=BEN).exists()  # made for the conversation
    # A refresh again counts nothing twice.
    conversations_refresh(tenant=tenant_a)
    assert Conversation.objects.get(tenant=tenant_a, contact=ada).unread == 2

    bobs = api_bob.get("/api/v1/conversations/").json()["results"]
    assert [c["contact"]["phone_number"] for c in bobs] == [ADA]
    assert bobs[0]["last_preview"] == "Bob's customer" and bobs[0]["id"] != by_number[ADA]["id"]


def test_done_reopens_on_a_new_text_and_read_clears_unread(tenant_a, api_alice):
    inbound_post(tenant_a, "Hi", from_number=ADA)
    conversation = api_alice.get("/api/v1/conversations/").json()["results"][0]
    url = f"/api/v1/conversations/{conversation['id']}/"
    assert api_alice.post(url + "read/").json()["unread"] == 0
    done = api_alice.post(url + "done/", {"done": True}, format="json").json()
    assert done["done"] is True and done["unread"] == 0
    assert api_alice.get("/api/v1/conversations/?done=false").json()["results"] == []
    inbound_post(tenant_a, "Still there?", from_number=ADA)
    again = api_alice.get(url).json()
    assert again["done"] is False and again["unread"] == 1 and again["last_preview"] == "Still there?"
    assert [c["id"] for c in api_alice.get("/api/v1/conversations/?done=false").json()["results"]] == [again["id"]]
    reopened = api_alice.post(url + "done/", {"done": False}, format="json").json()
    assert reopened["done"] is False


def test_filters_and_search(tenant_a, alice, api_alice):
    ContactFactory(tenant=tenant_a, phone_number=ADA, first_name="Ada", last_name="Lovelace")
    ContactFactory(tenant=tenant_a, phone_number=BEN, first_name="Ben", last_name="Okri")
    inbound_post(tenant_a, "Do you ship to Lisbon?", from_number=ADA)
    inbound_post(tenant_a, "Thanks", from_number=ADA)
    inbound_post(tenant_a, "Hello there", from_number=BEN)
    rows = {c["contact"]["first_name"]: c for c in api_alice.get("/api/v1/conversations/").json()["results"]}
    api_alice.post(f"/api/v1/conversations/{rows['Ben']['id']}/read/")
    marketer = UserFactory(tenant=tenant_a, role=Role.MARKETER, email="mark@acme.example")
    assert (
        api_alice.post(
            f"/api/v1/conversations/{rows['Ada']['id']}/assign/", {"user": marketer.pk}, format="json"
        ).json()["assigned_to_email"]
        == "mark@acme.example"
    )

    def names(query: str) -> list[str]:
        response = api_alice.get(f"/api/v1/conversations/?{query}")
        assert response.status_code == 200, response.content
        return sorted(c["contact"]["first_name"] for c in response.json()["results"])

    assert names("unread=true") == ["Ada"]
    assert names("unread=false") == ["Ben"]
    assert names(f"assigned={marketer.pk}") == ["Ada"]
    assert names("assigned=none") == ["Ben"]
    assert names("assigned=any") == ["Ada"]
    assert names("assigned=me") == []
    assert names("search=lovelace") == ["Ada"]
    assert names("search=550456") == ["Ben"]  # part of the number
    assert names("search=lisbon") == ["Ada"]  # an older text, not the latest
    assert names("search=nothing-like-this") == []
    for bad in ("unread=maybe", "done=2", "assigned=someone"):
        response = api_alice.get(f"/api/v1/conversations/?{bad}")
        assert response.status_code == 400 and bad.split("=")[0] in response.json()


def test_assign_refuses_another_tenants_user(tenant_a, api_alice, bob):
    inbound_post(tenant_a, "Hi", from_number=ADA)
    conversation = api_alice.get("/api/v1/conversations/").json()["results"][0]
    response = api_alice.post(f"/api/v1/conversations/{conversation['id']}/assign/", {"user": bob.pk}, format="json")
    assert response.status_code == 400 and "user" in response.json()
    assert Conversation.objects.get(pk=conversation["id"]).assigned_to is None


def test_thread_holds_both_ways_newest_first_with_statuses(tenant_a, api_alice):
    ada = ContactFactory(tenant=tenant_a, phone_number=ADA)
    campaign = CampaignFactory(tenant=tenant_a, name="Spring sale")
    journey = CampaignFactory(tenant=tenant_a, name="Welcome", kind=CampaignKind.JOURNEY)
    MessageFactory(campaign=campaign, contact=ada, body="Sale starts now", status=MessageStatus.DELIVERED)
    MessageFactory(
        campaign=journey, contact=ada, body="Welcome aboard", status=MessageStatus.FAILED, error_code=30006,
        error_message="Landline or unreachable carrier", run_id=7,
    )  # fmt: skip
    inbound_post(tenant_a, "Is the sale still on?", from_number=ADA)
    conversation = api_alice.get("/api/v1/conversations/").json()["results"][0]
    thread = api_alice.get(f"/api/v1/conversations/{conversation['id']}/messages/").json()
    bodies = [(m["direction"], m["body"], m["status"]) for m in thread["results"]]
    assert bodies == [
        ("in", "Is the sale still on?", ""),
        ("out", "Welcome aboard", "failed"),
        ("out", "Sale starts now", "delivered"),
    ]
    failed = thread["results"][1]
    assert failed["source"] == "Journey: Welcome" and failed["error"].startswith("30006")
    assert thread["results"][2]["source"] == "Campaign: Spring sale"
    assert "Quiet hours do not apply" in thread["rules"]["quiet_hours"]
    assert thread["rules"]["frequency_cap"] == "The frequency cap does not apply to answers."
    bad = api_alice.get(f"/api/v1/conversations/{conversation['id']}/messages/?limit=0")
    assert bad.status_code == 400 and "limit" in bad.json()


def test_another_tenants_conversation_is_a_404_everywhere(tenant_a, api_bob, api_charlie, client_charlie, sent_tasks):
    inbound_post(tenant_a, "Private", from_number=ADA)
    conversations_refresh(tenant=tenant_a)
    conversation = Conversation.objects.get(tenant=tenant_a)
    base = f"/api/v1/conversations/{conversation.pk}/"
    for api in (api_bob, api_charlie):
        assert api.get("/api/v1/conversations/").json()["results"] == []
        assert api.get(base).status_code == 404
        assert api.get(base + "messages/").status_code == 404
        assert api.post(base + "reply/", {"body": "Hi"}, format="json").status_code == 404
        assert api.post(base + "assign/", {"user": None}, format="json").status_code == 404
        assert api.post(base + "done/", {}, format="json").status_code == 404
        assert api.post(base + "read/").status_code == 404
    change = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    thread = reverse("admin:inbox_conversation_thread", args=[conversation.pk])
    assert client_charlie.get(change).status_code == 404
    assert client_charlie.post(change, {"op": "reply", "body": "Hi", "token": "x"}).status_code == 404
    assert client_charlie.get(thread).status_code == 404
    listed = client_charlie.get(reverse("admin:inbox_conversation_live")).json()
    assert listed["conversations"] == [] and listed["unread_total"] == 0
    assert "Private" not in client_charlie.get(reverse("admin:inbox_conversation_changelist")).content.decode()
    conversation.refresh_from_db()
    assert conversation.unread == 1 and sent_tasks == []


def test_admin_inbox_list_thread_assign_and_done(tenant_a, alice, client_alice):
    ContactFactory(tenant=tenant_a, phone_number=ADA, first_name="Ada")
    inbound_post(tenant_a, "Is the sale still on?", from_number=ADA)
    page = client_alice.get(reverse("admin:inbox_conversation_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Is the sale still on?" in html and "1 unread" in html
    conversation = Conversation.objects.get(tenant=tenant_a)
    live = client_alice.get(reverse("admin:inbox_conversation_live") + "?view=unread").json()
    assert live["unread_total"] == 1 and [c["id"] for c in live["conversations"]] == [conversation.pk]

    change = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    thread = client_alice.get(change)
    assert thread.status_code == 200 and "Is the sale still on?" in thread.content.decode()
    assert "Quiet hours do not apply" in thread.content.decode()
    conversation.refresh_from_db()
    assert conversation.unread == 0  # opened by a writer: read

    assert client_alice.post(change, {"op": "assign", "assigned_to": alice.pk}).status_code == 302
    assert client_alice.post(change, {"op": "done"}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.assigned_to == alice and conversation.is_done
    mine = client_alice.get(reverse("admin:inbox_conversation_live") + "?view=mine").json()["conversations"]
    assert mine == []  # done: "Assigned to me" shows open ones
    done = client_alice.get(reverse("admin:inbox_conversation_live") + "?view=done").json()["conversations"]
    assert [c["assigned_to"] for c in done] == [alice.email]


def test_viewer_reads_but_does_not_answer(tenant_a):
    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER, email="vera@acme.example")
    from .conftest import admin_client

    client = admin_client(viewer)
    inbound_post(tenant_a, "Hi", from_number=ADA)
    conversations_refresh(tenant=tenant_a)
    conversation = Conversation.objects.get(tenant=tenant_a)
    change = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    page = client.get(change)
    assert page.status_code == 200 and 'name="body"' not in page.content.decode()
    assert client.post(change, {"op": "reply", "body": "Hi", "token": "t"}).status_code == 403
    conversation.refresh_from_db()
    assert conversation.unread == 1  # a viewer's look does not mark it read


def test_the_list_reads_conversation_rows_only_in_constant_queries(tenant_a, api_alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def listed() -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            response = api_alice.get("/api/v1/conversations/?done=false")
        assert response.status_code == 200
        return response.json()["count"], [q["sql"] for q in queries.captured_queries]

    for i in range(3):
        inbound_post(tenant_a, f"Text {i}", from_number=f"+1415555{i:04d}")
    listed()  # the first look refreshes the three
    count, few = listed()
    for i in range(3, 12):
        inbound_post(tenant_a, f"Text {i}", from_number=f"+1415555{i:04d}")
    listed()
    count_more, more = listed()
    assert (count, count_more) == (3, 12)
    assert len(few) == len(more)  # no query per conversation
    assert not [sql for sql in more if "campaigns_message" in sql]  # the list never touches messages


def test_erasing_a_person_removes_their_conversation_and_answers(tenant_a, api_alice, sent_tasks):
    from compliance.privacy import contact_erase
    from inbox.models import InboxReply

    inbound_post(tenant_a, "Please forget me", from_number=ADA)
    conversation = api_alice.get("/api/v1/conversations/").json()["results"][0]
    reply = api_alice.post(f"/api/v1/conversations/{conversation['id']}/reply/", {"body": "Done"}, format="json")
    assert reply.status_code == 201
    contact_erase(tenant=tenant_a, phone_number=ADA)
    assert not Conversation.objects.filter(tenant=tenant_a).exists()
    assert not InboxReply.objects.filter(tenant=tenant_a).exists()
    assert api_alice.get("/api/v1/conversations/").json()["results"] == []  # a refresh makes none from erased texts
