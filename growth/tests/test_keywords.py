"""Tenant keywords through the real doors: the signed inbound webhook (auto-reply in the TwiML, tags, consent) and
the API (CRUD, collisions refused naming ``word``, two tenants and an outsider)."""

from __future__ import annotations

import pytest

from compliance.models import ConsentEvent, ConsentKind, ConsentSource, InboundKind, InboundMessage
from compliance.selectors import compliance_settings_get
from compliance.tests.test_inbound_webhook import NUMBER, post, reply_text
from contacts.models import ConsentStatus, Contact
from contacts.services import tags_get_or_create
from contacts.tests.factories import ContactFactory
from growth.models import Keyword
from growth.tests.factories import KeywordFactory

pytestmark = pytest.mark.django_db

PROMPT = "reply YES to confirm"


def _tags(contact) -> set[str]:
    return set(contact.tags.values_list("name", flat=True))


def test_a_keyword_auto_replies_tags_a_new_contact_and_yes_subscribes(tenant_a):
    KeywordFactory(tenant=tenant_a, word="VIP", auto_reply="{brand}: welcome to VIP!", tags=["vip", "spring"])

    answer = reply_text(post(tenant_a, " vip! "))

    assert answer.startswith("Acme: welcome to VIP!")
    assert PROMPT in answer  # not subscribed yet: the tenant's JOIN prompt follows the auto-reply
    contact = Contact.objects.get(tenant=tenant_a, phone_number=NUMBER)
    assert _tags(contact) == {"vip", "spring"}
    assert contact.consent_status == ConsentStatus.UNKNOWN
    inbound = InboundMessage.objects.get(tenant=tenant_a)
    assert (inbound.kind, inbound.keyword, inbound.contact_id) == (InboundKind.KEYWORD, "VIP", contact.pk)
    requested = ConsentEvent.objects.get(tenant=tenant_a)
    assert (requested.kind, requested.source) == (ConsentKind.REQUESTED, ConsentSource.KEYWORD)
    assert requested.disclosure_text == answer

    confirmed = reply_text(post(tenant_a, "YES"))

    assert confirmed == compliance_settings_get(tenant=tenant_a).join_confirmation.replace("{brand}", "Acme")
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.GRANTED
    granted = ConsentEvent.objects.filter(tenant=tenant_a, kind=ConsentKind.GRANTED).get()
    assert granted.source == ConsentSource.KEYWORD
    assert granted.disclosure_text == answer  # what the person agreed to, verbatim
    assert "keyword VIP" in granted.note


def test_a_subscribed_contact_gets_the_auto_reply_only_and_keeps_its_tags(tenant_a):
    contact = ContactFactory(tenant=tenant_a, phone_number=NUMBER, consent_status="granted")
    contact.tags.set(tags_get_or_create(tenant=tenant_a, names=["old"]))
    KeywordFactory(tenant=tenant_a, word="DEALS", auto_reply="Deals every Friday.", tags=["deals"])
    before = ConsentEvent.objects.filter(tenant=tenant_a).count()

    assert reply_text(post(tenant_a, "Deals")) == "Deals every Friday."

    assert _tags(contact) == {"old", "deals"}
    assert ConsentEvent.objects.filter(tenant=tenant_a).count() == before


def test_a_keyword_without_consent_request_only_answers_and_tags(tenant_a):
    KeywordFactory(tenant=tenant_a, word="HOURS", auto_reply="Open 9-5.", tags=["asked-hours"], ask_consent=False)
    assert reply_text(post(tenant_a, "hours")) == "Open 9-5."
    contact = Contact.objects.get(tenant=tenant_a, phone_number=NUMBER)
    assert _tags(contact) == {"asked-hours"} and contact.consent_status == ConsentStatus.UNKNOWN
    assert not ConsentEvent.objects.filter(tenant=tenant_a).exists()


def test_another_tenants_or_an_inactive_keyword_is_a_plain_reply(tenant_a, tenant_b):
    KeywordFactory(tenant=tenant_b, word="VIP")
    KeywordFactory(tenant=tenant_a, word="OLD", active=False)
    for body in ("VIP", "old"):
        assert reply_text(post(tenant_a, body)) is None
    assert set(InboundMessage.objects.filter(tenant=tenant_a).values_list("kind", flat=True)) == {InboundKind.REPLY}
    assert not Contact.objects.filter(tenant=tenant_a).exists()


def test_stop_and_join_still_win_and_join_is_marked(tenant_a):
    KeywordFactory(tenant=tenant_a, word="VIP")
    assert PROMPT in reply_text(post(tenant_a, "JOIN"))
    assert InboundMessage.objects.get(tenant=tenant_a).keyword == "JOIN"
    assert "unsubscribed" in reply_text(post(tenant_a, "STOP"))
    assert InboundMessage.objects.filter(tenant=tenant_a, kind=InboundKind.OPT_OUT).count() == 1


def test_a_keyword_inside_a_longer_message_is_a_reply(tenant_a):
    KeywordFactory(tenant=tenant_a, word="VIP")
    assert reply_text(post(tenant_a, "is VIP still on?")) is None
    assert InboundMessage.objects.get(tenant=tenant_a).keyword is None


# --- API -----------------------------------------------------------------------------------------------------------

URL = "/api/v1/keywords/"


def test_api_crud_is_tenant_scoped(api_alice, api_bob, api_charlie, tenant_a):
    created = api_alice.post(
        URL, {"word": "spring25", "auto_reply": "{brand}: 25% off", "tags": ["spring", " spring "]}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["word"], body["tags"], body["ask_consent"], body["active"]) == ("SPRING25", ["spring"], True, True)
    kid = body["id"]
    assert Keyword.objects.get(pk=kid).tenant_id == tenant_a.pk

    assert [k["word"] for k in api_alice.get(URL).json()["results"]] == ["SPRING25"]
    for outsider in (api_bob, api_charlie):
        assert outsider.get(URL).json()["count"] == 0
        assert outsider.get(f"{URL}{kid}/").status_code == 404
        assert outsider.patch(f"{URL}{kid}/", {"active": False}, format="json").status_code == 404
        assert outsider.delete(f"{URL}{kid}/").status_code == 404

    changed = api_alice.patch(f"{URL}{kid}/", {"active": False, "word": "Spring25"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["active"] is False and changed.json()["word"] == "SPRING25"
    assert api_alice.delete(f"{URL}{kid}/").status_code == 204
    assert not Keyword.objects.filter(pk=kid).exists()


@pytest.mark.parametrize(
    "word", ["stop", "Stop!", "unsubscribe", "cancel", "optout", "START", "yes", "unstop", "help", "INFO", "join"]
)
def test_api_refuses_a_reserved_word_naming_word(api_alice, word):
    answer = api_alice.post(URL, {"word": word, "auto_reply": "x"}, format="json")
    assert answer.status_code == 400
    assert list(answer.json()) == ["word"]
    assert "Choose another word" in answer.json()["word"][0]
    assert not Keyword.objects.exists()


def test_api_refuses_the_tenants_own_join_keyword_a_duplicate_and_two_words(api_alice, tenant_a):
    cfg = compliance_settings_get(tenant=tenant_a)
    cfg.join_keyword = "SIGNUP"
    cfg.save()
    assert api_alice.post(URL, {"word": "signup", "auto_reply": "x"}, format="json").status_code == 400
    assert api_alice.post(URL, {"word": "VIP", "auto_reply": "x"}, format="json").status_code == 201
    dup = api_alice.post(URL, {"word": "vip", "auto_reply": "x"}, format="json")
    assert dup.status_code == 400 and "already" in dup.json()["word"][0]
    two = api_alice.post(URL, {"word": "big deal", "auto_reply": "x"}, format="json")
    assert two.status_code == 400 and "one word" in two.json()["word"][0]
    assert api_alice.post(URL, {"auto_reply": "x"}, format="json").json() == {"word": ["This field is required."]}


def test_api_another_tenant_may_use_the_same_word(api_alice, api_bob):
    assert api_alice.post(URL, {"word": "VIP", "auto_reply": "x"}, format="json").status_code == 201
    assert api_bob.post(URL, {"word": "VIP", "auto_reply": "y"}, format="json").status_code == 201


def test_api_needs_a_key(client):
    assert client.get(URL).status_code == 401


def test_a_keyword_flood_from_one_number_is_kept_but_not_answered(tenant_a):
    from guard.tests.factories import GuardSettingsFactory

    guard = GuardSettingsFactory(tenant=tenant_a)
    guard.inbound_burst_per_number = 2
    guard.save()
    KeywordFactory(tenant=tenant_a, word="VIP", auto_reply="Welcome!", ask_consent=False)
    answers = [reply_text(post(tenant_a, "VIP")) for _ in range(4)]
    assert answers == ["Welcome!", "Welcome!", None, None]
    assert InboundMessage.objects.filter(tenant=tenant_a, keyword="VIP").count() == 4


def test_a_journey_triggered_by_the_keyword_starts_for_the_contact_it_made(tenant_a):
    import datetime as dt

    from django.utils import timezone

    from campaigns.tests.conftest import always_open
    from journeys.models import JourneyRun, TriggerKind
    from journeys.services import journey_create, journey_set_status, journeys_tick

    always_open(tenant_a)
    journey = journey_create(
        tenant=tenant_a,
        name="VIP welcome",
        trigger_kind=TriggerKind.KEYWORD,
        trigger_value="VIP",
        steps=[{"kind": "tag", "add": ["vip-journey"]}],
    )
    journey_set_status(journey=journey, status="active")
    KeywordFactory(tenant=tenant_a, word="VIP")
    reply_text(post(tenant_a, "vip"))
    reply_text(post(tenant_a, "hello", from_number="+14155550999"))  # not the keyword: no run

    journeys_tick(now=timezone.now() + dt.timedelta(seconds=30))

    contact = Contact.objects.get(tenant=tenant_a, phone_number=NUMBER)
    assert list(JourneyRun.objects.filter(journey=journey).values_list("contact_id", flat=True)) == [contact.pk]
