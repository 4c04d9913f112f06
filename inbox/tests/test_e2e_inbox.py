"""End to end: an answer typed in the admin goes through a real Celery worker to the local Twilio-compatible server
exactly once (a double submit, a batch run again), at night too (quiet hours do not hold an answer to someone who
just wrote), and shows in the thread with the status a signed status callback reports."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.urls import reverse

from campaigns.models import Message
from campaigns.tests.test_e2e_sending import _tenant_ready, _wait, fake, workers  # noqa: F401 - fixtures
from contacts.tests.factories import ContactFactory
from inbox.models import Conversation, InboxReply

from .conftest import admin_client, inbound_post, status_post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADA = "+14155550123"


def test_an_admin_answer_reaches_twilio_once_and_shows_its_delivery(workers, fake, tenant_a, alice):  # noqa: F811
    _tenant_ready(tenant_a, fake, rate=50)
    # Quiet hours that never open: only the inbox's exemption lets the answer go now.
    tenant_a.quiet_hours_start, tenant_a.quiet_hours_end = dt.time(0, 0), dt.time(0, 0, 0, 1)
    tenant_a.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    ContactFactory(tenant=tenant_a, phone_number=ADA, first_name="Ada")
    inbound_post(tenant_a, "Is the sale still on?", from_number=ADA)
    client = admin_client(alice)
    listing = client.get(reverse("admin:inbox_conversation_changelist"))
    assert "Is the sale still on?" in listing.content.decode()
    conversation = Conversation.objects.get(tenant=tenant_a)
    page = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    assert "Quiet hours do not apply" in client.get(page).content.decode()

    workers.start()
    form = {"op": "reply", "body": "Yes, until Sunday!", "token": "form-token-1"}
    assert client.post(page, form).status_code == 302
    assert client.post(page, form).status_code == 302  # a double submit
    _wait(lambda: len(fake.sends()) >= 1, 20, "the answer to reach Twilio", workers)
    reply = InboxReply.objects.get()
    from campaigns.tasks import messages_send

    messages_send.delay(message_ids=[reply.message_id])  # the same batch again, through the broker
    time.sleep(2)
    sends = fake.sends()
    assert len(sends) == 1, [r.form for r in sends]
    assert sends[0].form["To"] == ADA and sends[0].form["Body"].startswith("Yes, until Sunday!")
    assert sends[0].auth == (tenant_a.twilio_account_sid, tenant_a.twilio_auth_token)

    _wait(lambda: Message.objects.get(pk=reply.message_id).sid, 10, "the SID to be recorded", workers)
    message = Message.objects.get(pk=reply.message_id)
    assert message.status == "queued"
    response = status_post(fake.callback_params(message.sid, "delivered"), tenant_a.twilio_auth_token)
    assert response.status_code in (200, 204), response.content
    thread = client.get(reverse("admin:inbox_conversation_thread", args=[conversation.pk])).json()
    answer = thread["messages"][0]
    assert (answer["direction"], answer["status"], answer["source"]) == (
        "out", "delivered", "Answer by alice@acme.example",
    )  # fmt: skip
    assert thread["messages"][1]["body"] == "Is the sale still on?"
    assert "Delivered" in client.get(page).content.decode()
    assert workers.errors() == ""
