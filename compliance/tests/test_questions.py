"""The question detector: replies a person should answer, in English and Spanish, and what is not one."""

from __future__ import annotations

import pytest

from compliance.models import InboundKind, InboundMessage
from compliance.questions import is_question

QUESTIONS = [
    # the issue's own example, without a question mark
    "What time do you open tomorrow",
    "What time do you open tomorrow?",
    "?",
    "Is the 20% off valid online too",
    "do you deliver to Oakland",
    "Can I bring a friend",
    "can u hold one for me",
    "Are you open on Sunday",
    "Does it come in blue",
    "will there be more sizes",
    "Where's the store",
    "whats the code",
    "How much is shipping",
    "Which location has it",
    "Who do I talk to about my order",
    "Why was I charged twice",
    "When does the sale end",
    "Hi! What time do you close",
    "Thanks for the coupon. Where do I use it",
    "ok so is there parking",
    "I was wondering if you ship to Canada",
    "any chance you have size 9",
    "Got it, see you then. Do you take cards",
    # Spanish, with and without accents and the opening ¿
    "¿A qué hora abren mañana",
    "A que hora abren mañana",
    "Qué hora cierran",
    "cuando abren",
    "Cuándo termina la oferta",
    "Dónde están ubicados",
    "donde queda la tienda",
    "Por qué me cobraron dos veces",
    "por que no me llego el codigo",
    "Quién me puede ayudar",
    "Cómo uso el cupón",
    "Cuál es el horario",
    "Cuánto cuesta el envío",
    "cuanto cuesta",
    "Puedes apartarme uno",
    "Pueden enviarlo a domicilio",
    "Tienen envío gratis",
    "Hay estacionamiento",
    "Hola, ¿tienen talla 9",
    "Buenas tardes, hay mesa para 4",
    "Me pueden llamar",
    "se puede pagar con tarjeta",
    "Gracias. Aceptan tarjeta",
]

NOT_QUESTIONS = [
    # keywords: answered by the keyword handler, never a question for a person
    "STOP",
    "Stop?",
    "HELP",
    "help?",
    "Info?",
    "YES",
    "yes?",
    "START",
    "start?",
    "UNSUBSCRIBE",
    "stop texting me",
    # plain replies that ask nothing
    "",
    "   ",
    "Thanks!",
    "ok",
    "Great, see you tomorrow",
    "I'll be there at 5",
    "Love it",
    "What a deal!",
    "How nice, thank you",
    "Have a nice day",
    "Do it",
    "will do",
    "I know what you mean",
    "Sent from my iPhone",
    "check https://shop.example/?ref=sms",
    "Gracias",
    "Qué bueno, gracias",
    "Que tengas buen día",
    "Como te dije, no puedo",
    "Tienes razón",
    "Hay que esperar",
    "Perfecto, nos vemos",
    "👍",
]


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_are_flagged(text):
    assert is_question(text) is True


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_keywords_and_statements_are_not(text):
    assert is_question(text) is False


def test_none_is_not_a_question():
    assert is_question(None) is False  # type: ignore[arg-type]


# Through the doors: a signed inbound webhook flags the reply at receipt, the admin's inbox shows and filters it.


def _receive(tenant, body, from_number):
    from compliance.tests.test_inbound_webhook import post, reply_text

    reply_text(post(tenant, body, from_number=from_number))
    return InboundMessage.objects.filter(tenant=tenant, from_number=from_number).latest("id")


@pytest.mark.django_db
def test_signed_inbound_question_needs_a_reply(tenant_a):
    question = _receive(tenant_a, "What time do you open tomorrow?", "+14155550201")
    assert (question.kind, question.needs_reply, question.needs_review) == (InboundKind.REPLY, True, False)
    spanish = _receive(tenant_a, "A que hora abren mañana", "+14155550202")
    assert spanish.needs_reply is True
    assert _receive(tenant_a, "Thanks, see you then", "+14155550203").needs_reply is False
    help_ = _receive(tenant_a, "HELP?", "+14155550204")
    assert (help_.kind, help_.needs_reply) == (InboundKind.HELP, False)  # answered automatically
    stop = _receive(tenant_a, "Stop?", "+14155550205")
    assert (stop.kind, stop.needs_reply) == (InboundKind.OPT_OUT, False)


@pytest.mark.django_db
def test_flagging_costs_the_webhook_no_query(tenant_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance.tests.test_inbound_webhook import post

    post(tenant_a, "warm up", from_number="+14155550210")
    with CaptureQueriesContext(connection) as plain:
        post(tenant_a, "Thanks, see you then", from_number="+14155550211")
    with CaptureQueriesContext(connection) as question:
        post(tenant_a, "Do you deliver to Oakland", from_number="+14155550212")
    assert InboundMessage.objects.get(from_number="+14155550212").needs_reply is True
    assert len(question.captured_queries) == len(plain.captured_queries)


@pytest.mark.django_db
def test_admin_inbox_shows_and_filters_replies_that_need_a_person(alice, bob, tenant_a, tenant_b):
    from django.test import Client
    from django.urls import reverse

    _receive(tenant_a, "What time do you open tomorrow?", "+14155550221")
    _receive(tenant_a, "Great, thank you", "+14155550222")
    _receive(tenant_b, "Bob's customer: can I return it?", "+14155550223")
    client = Client()
    client.force_login(alice)
    inbox = reverse("admin:compliance_inboundmessage_changelist")
    html = client.get(inbox).content.decode()
    assert "Needs a reply" in html  # the column and the filter
    assert html.index("What time do you open tomorrow?") < html.index("Great, thank you")  # questions first
    assert "Bob&#x27;s customer" not in html and "Bob's customer" not in html
    flagged = client.get(inbox, {"needs_reply__exact": "1"}).content.decode()
    assert "What time do you open tomorrow?" in flagged
    assert "Great, thank you" not in flagged
    assert "Bob" not in flagged.split('id="result_list"')[1]
    # A person answers and clears the flag on the reply's page.
    row = InboundMessage.objects.get(tenant=tenant_a, from_number="+14155550221")
    change = reverse("admin:compliance_inboundmessage_change", args=[row.pk])
    assert client.post(change, {"needs_review": "", "needs_reply": ""}).status_code == 302
    row.refresh_from_db()
    assert row.needs_reply is False
    client.force_login(bob)
    assert client.get(change).status_code in (302, 404)
