"""Status callbacks for tenants sharing one Twilio account: each lands with the tenant that owns the SID.

Twilio signs every webhook of an account with that account's auth token, so tenants
on one account normally hold the same token: the signature alone cannot tell them
apart. The message SID's owner does (or, before the sender has recorded the SID,
the sender the callback names: ``From`` or ``MessagingServiceSid``).
"""

from __future__ import annotations

import pytest

from campaigns.models import Message
from tenants.tests.factories import TenantFactory
from tracking.models import StatusEvent
from tracking.services import status_orphans_apply
from tracking.tests.conftest import callback, sent_message
from tracking.tests.factories import new_sid

ACCOUNT = "AC" + "5" * 32
TOKEN = "shared-account-token-0001"
MG_B = "MG" + "b" * 32


@pytest.fixture
def shop_a(db):
    return TenantFactory(
        slug="shared-a", name="Shop A", twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, sender="+14155550001"
    )


@pytest.fixture
def shop_b(shop_a):
    return TenantFactory(
        slug="shared-b", name="Shop B", twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, sender=MG_B
    )


def _status(message) -> str:
    return Message.objects.values_list("status", flat=True).get(pk=message.pk)


def _from_a(sid_or_message, status, tenant):
    return callback(sid_or_message, status, tenant, From="+14155550001")


def _from_b(sid_or_message, status, tenant):
    """Sent through B's Messaging Service: Twilio names the service and the pool number it used."""
    return callback(sid_or_message, status, tenant, From="+14155557777", MessagingServiceSid=MG_B)


def test_each_tenants_callbacks_move_its_own_messages(shop_a, shop_b, post):
    """The bug: the first tenant whose token validated took every callback, B's became A's orphans."""
    mine_a, mine_b = sent_message(shop_a), sent_message(shop_b)
    assert post(_from_b(mine_b, "delivered", shop_b), TOKEN).status_code == 204
    assert post(_from_a(mine_a, "failed", shop_a), TOKEN).status_code == 204
    assert _status(mine_b) == "delivered" and _status(mine_a) == "failed"
    events = dict(StatusEvent.objects.values_list("sid", "tenant_id"))
    assert events == {mine_b.sid: shop_b.pk, mine_a.sid: shop_a.pk}
    assert not StatusEvent.objects.filter(message=None).exists()


def test_the_same_holds_whichever_tenant_was_created_first(shop_a, shop_b, post):
    """The mirror image of the test above (the old code's answer depended on row order)."""
    mine_a, mine_b = sent_message(shop_a), sent_message(shop_b)
    assert post(_from_a(mine_a, "delivered", shop_a), TOKEN).status_code == 204
    assert post(_from_b(mine_b, "undelivered", shop_b), TOKEN).status_code == 204
    assert (_status(mine_a), _status(mine_b)) == ("delivered", "undelivered")
    assert StatusEvent.objects.get(sid=mine_b.sid).tenant_id == shop_b.pk


@pytest.mark.parametrize("who", ["a", "b"])
def test_an_early_callback_is_kept_by_the_tenant_whose_sender_it_names(shop_a, shop_b, post, who):
    """Before the sender records the SID, ``From``/``MessagingServiceSid`` say whose it is."""
    tenant, params = (shop_a, _from_a) if who == "a" else (shop_b, _from_b)
    sid = new_sid()
    assert post(params(sid, "sent", tenant), TOKEN).status_code == 204
    orphan = StatusEvent.objects.get()
    assert orphan.tenant_id == tenant.pk and orphan.message_id is None
    message = sent_message(tenant, sid=sid)  # the sender records the SID, then applies its orphans
    assert status_orphans_apply(tenant_id=tenant.pk, sid=sid) == 1
    assert _status(message) == "sent"


def test_a_callback_no_tenant_can_be_told_from_is_refused_and_kept_nowhere(shop_a, shop_b, post):
    params = callback(new_sid(), "delivered", shop_a, From="+14155559999")
    resp = post(params, TOKEN)
    assert resp.status_code == 422 and "tenant" in resp.json()["detail"]
    assert not StatusEvent.objects.exists()


def test_a_tenant_with_its_own_token_on_the_account_cannot_write_into_anothers_messages(shop_a, post):
    """Anyone can type an account SID into their tenant; only the owner's token moves the owner's messages."""
    TenantFactory(
        slug="claims-a", twilio_account_sid=ACCOUNT, twilio_auth_token="not-the-account-token", sender="+14155550003"
    )
    mine_a = sent_message(shop_a)
    resp = post(_from_a(mine_a, "failed", shop_a), "not-the-account-token")
    assert resp.status_code == 403
    assert _status(mine_a) == "queued" and not StatusEvent.objects.exists()


def test_a_tenant_left_with_the_old_token_gets_403_until_it_is_updated(shop_a, shop_b, post):
    """Rotated at Twilio and at A only: B's callbacks (signed with the new token) are refused, not given to A."""
    shop_a.twilio_auth_token = "rotated-token-0002"
    shop_a.save()
    mine_a, mine_b = sent_message(shop_a), sent_message(shop_b)
    assert post(_from_b(mine_b, "delivered", shop_b), "rotated-token-0002").status_code == 403
    assert _status(mine_b) == "queued" and not StatusEvent.objects.exists()
    assert post(_from_a(mine_a, "delivered", shop_a), "rotated-token-0002").status_code == 204
    shop_b.twilio_auth_token = "rotated-token-0002"
    shop_b.save()
    assert post(_from_b(mine_b, "delivered", shop_b), "rotated-token-0002").status_code == 204
    assert _status(mine_b) == "delivered"
    assert StatusEvent.objects.get(sid=mine_b.sid).tenant_id == shop_b.pk


def test_a_tenant_joining_the_account_is_seen_by_a_warm_process(shop_a, post):
    """The process cached A alone for this account; B's first callback still lands at B."""
    assert post(_from_a(sent_message(shop_a), "sent", shop_a), TOKEN).status_code == 204  # warms the cache
    shop_b = TenantFactory(slug="shared-b", twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, sender=MG_B)
    mine_b = sent_message(shop_b)
    assert post(_from_b(mine_b, "delivered", shop_b), TOKEN).status_code == 204
    assert _status(mine_b) == "delivered"
    assert StatusEvent.objects.get(sid=mine_b.sid).tenant_id == shop_b.pk


def test_the_hot_path_stays_one_statement_on_a_shared_account(
    shop_a, shop_b, post, django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr("gateways.signatures._SIGNERS", {})  # a cold process (earlier tests cached this account)
    first, second = sent_message(shop_b), sent_message(shop_b)
    with django_assert_max_num_queries(3):  # cold: the account's tokens, the statement, the endpoints
        assert post(_from_b(first, "delivered", shop_b), TOKEN).status_code == 204
    with django_assert_max_num_queries(1):  # warm: the one statement finds the owner, checks its token, moves
        assert post(_from_b(second, "delivered", shop_b), TOKEN).status_code == 204
    assert _status(first) == _status(second) == "delivered"
