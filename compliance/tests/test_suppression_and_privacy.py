from __future__ import annotations

import pytest
from django.test import override_settings

from campaigns.models import MessageStatus
from campaigns.tests.factories import CampaignFactory, MessageFactory
from compliance.hashing import phone_hash
from compliance.models import ConsentEvent, ConsentKind, ConsentSource, InboundMessage, Suppression, SuppressionSource
from compliance.privacy import ERASED_BODY, contact_erase, privacy_export
from compliance.selectors import is_suppressed, suppressed_among
from compliance.services import consent_record, suppression_add, suppression_remove
from compliance.tests.factories import SuppressionFactory
from contacts.models import Contact
from contacts.tests.factories import ContactFactory

NUMBER = "+14155550142"


def test_suppression_add_is_idempotent_and_keeps_the_first_source(tenant_a):
    first = suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.CARRIER)
    again = suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.API)
    assert first.pk == again.pk and again.source == SuppressionSource.CARRIER
    assert first.phone_hash == phone_hash(tenant_id=tenant_a.pk, phone_number=NUMBER)
    assert ConsentEvent.objects.filter(kind=ConsentKind.REVOKED, source=ConsentSource.CARRIER).count() == 1


def test_deleting_a_contact_never_deletes_its_suppression(tenant_a):
    contact = ContactFactory(tenant=tenant_a, phone_number=NUMBER)
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.KEYWORD)
    contact.delete()
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_a_number_suppressed_only_by_its_hash_is_still_found(tenant_a, tenant_b):
    SuppressionFactory(tenant=tenant_a, phone_number=NUMBER)
    Suppression.objects.filter(tenant=tenant_a).update(phone_number="")
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    assert suppressed_among(tenant_id=tenant_a.pk, phone_numbers=[NUMBER, "+14155550143"]) == {NUMBER}
    # The hash is per tenant: tenant B does not inherit it.
    assert not is_suppressed(tenant_id=tenant_b.pk, phone_number=NUMBER)
    # Adding it again finds the hashed row instead of duplicating it.
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.API)
    assert Suppression.objects.filter(tenant=tenant_a).count() == 1


def test_suppressed_among_mixes_clear_and_hashed_and_chunks(tenant_a, monkeypatch):
    import compliance.selectors as selectors

    monkeypatch.setattr(selectors, "SUPPRESSION_CHUNK", 2)
    numbers = [f"+1415555{n:04d}" for n in range(7)]
    for n in numbers[::2]:
        suppression_add(tenant=tenant_a, phone_number=n, source=SuppressionSource.IMPORT)
    Suppression.objects.filter(phone_number=numbers[2]).update(phone_number="")
    assert suppressed_among(tenant_id=tenant_a.pk, phone_numbers=numbers) == set(numbers[::2])
    assert suppressed_among(tenant_id=tenant_a.pk, phone_numbers=[]) == set()


def test_hash_lookup_survives_key_rotation(tenant_a, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.KEYWORD)
    Suppression.objects.update(phone_number="")
    with override_settings(FIELD_ENCRYPTION_KEYS=["bmV3LWtleS1uZXctbmV3LW5ldy1uZXctbmV3LW5ldyE=", old_key]):
        assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    with override_settings(FIELD_ENCRYPTION_KEYS=["bmV3LWtleS1uZXctbmV3LW5ldy1uZXctbmV3LW5ldyE="]):
        assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_suppression_remove_lifts_clear_and_hashed(tenant_a):
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.KEYWORD)
    assert suppression_remove(tenant=tenant_a, phone_number=NUMBER) == 1
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_consent_ledger_is_append_only(tenant_a):
    event = consent_record(
        tenant=tenant_a,
        phone_number=NUMBER,
        kind=ConsentKind.GRANTED,
        source=ConsentSource.WEB_FORM,
        source_url="https://acme.example/join",
        disclosure_text="I agree",
        disclosure_version="2",
        ip_address="203.0.113.9",
        user_agent="Mozilla/5.0",
    )
    event.note = "changed"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        ConsentEvent.objects.filter(pk=event.pk).delete()


def _person(tenant):
    contact = ContactFactory(
        tenant=tenant, phone_number=NUMBER, first_name="Ada", last_name="Lovelace", custom_fields={"size": "M"}
    )
    campaign = CampaignFactory(tenant=tenant)
    sent = MessageFactory(campaign=campaign, contact=contact, body="Hi Ada", status=MessageStatus.DELIVERED)
    pending = MessageFactory(campaign=CampaignFactory(tenant=tenant), contact=contact, body="Hi Ada again")
    consent_record(
        tenant=tenant,
        phone_number=NUMBER,
        kind=ConsentKind.GRANTED,
        source=ConsentSource.WEB_FORM,
        source_url="https://acme.example/join",
        disclosure_text="I agree",
        ip_address="203.0.113.9",
        user_agent="Mozilla/5.0",
    )
    return contact, sent, pending


def test_privacy_export_holds_everything_about_the_number(tenant_a, tenant_b):
    _person(tenant_a)
    ContactFactory(tenant=tenant_b, phone_number=NUMBER, first_name="Other")
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.API)
    data = privacy_export(tenant=tenant_a, phone_number=NUMBER)
    assert [c["first_name"] for c in data["contacts"]] == ["Ada"]
    assert data["contacts"][0]["custom_fields"] == {"size": "M"}
    assert sorted(m["body"] for m in data["messages"]) == ["Hi Ada", "Hi Ada again"]
    assert [e["kind"] for e in data["consent_events"]] == ["granted", "revoked"]
    assert data["consent_events"][0]["ip_address"] == "203.0.113.9"
    assert data["suppression"]["source"] == "api"


def test_erase_then_reimport_is_still_suppressed(tenant_a, tenant_b):
    contact, sent, pending = _person(tenant_a)
    InboundMessage.objects.create(tenant=tenant_a, from_number=NUMBER, body="STOP")
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.KEYWORD)
    ContactFactory(tenant=tenant_b, phone_number=NUMBER, first_name="Keep")

    counts = contact_erase(tenant=tenant_a, phone_number=NUMBER)
    assert counts["contacts"] == 1 and counts["suppressions_kept_as_hash"] == 1

    assert not Contact.objects.filter(tenant=tenant_a, phone_number=NUMBER).exists()
    assert not Contact.objects.filter(tenant=tenant_a, first_name="Ada").exists()
    suppression = Suppression.objects.get(tenant=tenant_a)
    assert suppression.phone_number == "" and suppression.erased_at is not None
    sent.refresh_from_db()
    pending.refresh_from_db()
    assert sent.to == "" and sent.body == ERASED_BODY and sent.contact_id is None
    assert pending.status == MessageStatus.SUPPRESSED  # never sent after the erasure
    assert not InboundMessage.objects.filter(from_number=NUMBER).exists()
    events = ConsentEvent.objects.filter(tenant=tenant_a)
    assert events.count() == 2
    assert all(e.phone_number == "" and e.ip_address is None and e.user_agent == "" for e in events)
    # Nothing personal is left in a privacy export either.
    data = privacy_export(tenant=tenant_a, phone_number=NUMBER)
    assert data["contacts"] == [] and data["messages"] == []
    assert "Ada" not in str(data)

    # Re-import: the same number comes back as a new contact, and is still never texted.
    Contact.objects.create(tenant=tenant_a, phone_number=NUMBER, first_name="Ada")
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    assert suppressed_among(tenant_id=tenant_a.pk, phone_numbers=[NUMBER]) == {NUMBER}
    # Tenant B's contact with the same number is untouched.
    assert Contact.objects.get(tenant=tenant_b, phone_number=NUMBER).first_name == "Keep"


def test_erase_of_an_unsuppressed_contact_leaves_no_suppression(tenant_a):
    _person(tenant_a)
    contact_erase(tenant=tenant_a, phone_number=NUMBER)
    assert not Suppression.objects.exists()
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_clicks_are_exported_then_erased_but_still_counted(tenant_a, tenant_b):
    from links.models import Click
    from links.tests.factories import ClickFactory, ShortLinkFactory

    _contact, sent, _pending = _person(tenant_a)
    link = ShortLinkFactory(tenant=tenant_a, campaign=sent.campaign, message=sent)
    ClickFactory(tenant=tenant_a, link=link, message=sent, campaign=sent.campaign, ip_address="203.0.113.0")
    other = ClickFactory(tenant=tenant_b, ip_address="198.51.100.0")

    exported = privacy_export(tenant=tenant_a, phone_number=NUMBER)["clicks"]
    assert [(c["code"], c["ip_address"], c["country"]) for c in exported] == [(link.code, "203.0.113.0", "US")]

    assert contact_erase(tenant=tenant_a, phone_number=NUMBER)["clicks"] == 1
    click = Click.objects.get(link=link)
    assert (click.ip_address, click.user_agent, click.country, click.contact_id) == (None, "", "", None)
    assert Click.objects.get(pk=other.pk).ip_address == "198.51.100.0"  # another tenant's click untouched


def test_suppressed_numbers_sql_finds_what_suppressed_among_finds(tenant_a, tenant_b):
    from django.db import connection

    from compliance.selectors import suppressed_numbers_sql

    numbers = [f"+1415555{n:04d}" for n in range(8)]
    for n in numbers[:4]:
        suppression_add(tenant=tenant_a, phone_number=n, source=SuppressionSource.IMPORT)
    Suppression.objects.filter(phone_number=numbers[1]).update(phone_number="")  # erased: hash only
    Suppression.objects.filter(phone_number=numbers[2]).update(phone_hash="")  # a raw insert: number only
    suppression_add(tenant=tenant_b, phone_number=numbers[5], source=SuppressionSource.KEYWORD)  # not A's
    sql, params = suppressed_numbers_sql(tenant_id=tenant_a.pk, phone_numbers=numbers)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {row[0] for row in cursor.fetchall()}
    assert found == set(numbers[:4]) == suppressed_among(tenant_id=tenant_a.pk, phone_numbers=numbers)
    sql, params = suppressed_numbers_sql(tenant_id=tenant_a.pk, phone_numbers=[])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchall() == []


def test_bulk_hashes_are_the_hashes_of_each_number_under_every_key(db, settings):  # db: pinned keys are read
    from compliance.hashing import phone_hashes, phone_hashes_many

    numbers = ["+14155550142", "+14155550143", "+447700900123"]
    settings.FIELD_ENCRYPTION_KEYS = ["bmV3LWtleS1uZXctbmV3LW5ldy1uZXctbmV3LW5ldyE=", "b2xkLWtleQ=="]
    expected = {h: n for n in numbers for h in phone_hashes(tenant_id=7, phone_number=n)}
    assert len(expected) == 6  # two keys, three numbers
    assert phone_hashes_many(tenant_id=7, phone_numbers=numbers) == expected
    assert set(phone_hashes_many(tenant_id=8, phone_numbers=numbers)).isdisjoint(expected)  # per tenant
