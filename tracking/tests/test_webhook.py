"""The status webhook through HTTP: signatures, order, repeats, orphans, errors."""

from __future__ import annotations

import pytest

from campaigns.counters import campaign_status_counts
from campaigns.models import Message
from campaigns.transitions import message_move
from tracking.models import StatusEvent
from tracking.services import status_orphans_apply
from tracking.tests.conftest import callback, sent_message
from tracking.tests.factories import new_sid


def _status(message) -> str:
    message.refresh_from_db()
    return message.status


def _recount(campaign_id: int) -> dict[str, int]:
    counts = {k: v for k, v in campaign_status_counts(campaign_id).items() if v}
    actual: dict[str, int] = {}
    for status in Message.objects.filter(campaign_id=campaign_id).values_list("status", flat=True):
        actual[status] = actual.get(status, 0) + 1
    assert counts == actual
    return counts


def test_delivered_then_late_sent_stays_delivered(tenant_a, post):
    msg = sent_message(tenant_a)
    assert post(callback(msg, "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert post(callback(msg, "sent", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert _status(msg) == "delivered"
    assert msg.delivered_at is not None
    # Both are in the history, the late one included.
    assert set(StatusEvent.objects.filter(sid=msg.sid).values_list("status", flat=True)) == {"delivered", "sent"}
    assert _recount(msg.campaign_id) == {"delivered": 1}


def test_in_order_lifecycle_and_read_after_delivered(tenant_a, post):
    msg = sent_message(tenant_a)
    for status, expected in [("sending", "queued"), ("sent", "sent"), ("delivered", "delivered"), ("read", "read")]:
        assert post(callback(msg, status, tenant_a), tenant_a.twilio_auth_token).status_code == 204
        assert _status(msg) == expected
    # Twilio's own "sending" is applied as our "queued" and kept raw in the history.
    assert StatusEvent.objects.filter(sid=msg.sid, status="sending").exists()
    assert _recount(msg.campaign_id) == {"read": 1}


def test_terminal_statuses_stay(tenant_a, post):
    msg = sent_message(tenant_a)
    post(callback(msg, "undelivered", tenant_a, ErrorCode=30003), tenant_a.twilio_auth_token)
    post(callback(msg, "delivered", tenant_a), tenant_a.twilio_auth_token)
    post(callback(msg, "read", tenant_a), tenant_a.twilio_auth_token)
    assert _status(msg) == "undelivered"


def test_duplicates_change_nothing(tenant_a, post):
    msg = sent_message(tenant_a)
    params = callback(msg, "sent", tenant_a)
    for _ in range(3):
        assert post(params, tenant_a.twilio_auth_token).status_code == 204
    assert StatusEvent.objects.filter(sid=msg.sid).count() == 1
    assert _status(msg) == "sent"
    assert _recount(msg.campaign_id) == {"sent": 1}


def test_error_code_is_kept_with_a_description(tenant_a, post):
    msg = sent_message(tenant_a)
    resp = post(callback(msg, "undelivered", tenant_a, ErrorCode="30003"), tenant_a.twilio_auth_token)
    assert resp.status_code == 204
    msg.refresh_from_db()
    assert (msg.status, msg.error_code) == ("undelivered", 30003)
    assert "Unreachable" in msg.error_message
    event = StatusEvent.objects.get(sid=msg.sid)
    assert event.error_code == 30003 and event.fields["ErrorCode"] == "30003"


def test_unknown_fields_are_accepted_and_kept(tenant_a, post):
    msg = sent_message(tenant_a)
    params = callback(msg, "delivered", tenant_a, RawDlrDoneDate="2611270830", BrandNewTwilioField="x")
    assert post(params, tenant_a.twilio_auth_token).status_code == 204
    event = StatusEvent.objects.get(sid=msg.sid)
    assert event.fields["BrandNewTwilioField"] == "x" and event.fields["RawDlrDoneDate"] == "2611270830"
    assert event.message_id == msg.pk and event.tenant_id == tenant_a.pk


def test_status_twilio_invents_later_is_kept_but_moves_nothing(tenant_a, post):
    msg = sent_message(tenant_a)
    assert post(callback(msg, "partially_delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert post(callback(msg, "teleported", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert _status(msg) == "queued"
    assert StatusEvent.objects.filter(sid=msg.sid).count() == 2


def test_our_internal_statuses_cannot_be_set_by_a_callback(tenant_a, post):
    msg = sent_message(tenant_a)
    for status in ("suppressed", "capped", "pending", "unknown"):
        assert post(callback(msg, status, tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert _status(msg) == "queued"


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_forged_or_missing_signature_is_403_and_changes_nothing(tenant_a, post, token):
    msg = sent_message(tenant_a)
    resp = post(callback(msg, "delivered", tenant_a), token)
    assert resp.status_code == 403 and resp["Content-Type"] == "application/json"
    assert _status(msg) == "queued"
    assert not StatusEvent.objects.exists()


def test_another_tenants_token_is_403(tenant_a, tenant_b, post):
    msg = sent_message(tenant_a)
    resp = post(callback(msg, "delivered", tenant_a), tenant_b.twilio_auth_token)
    assert resp.status_code == 403
    assert _status(msg) == "queued" and not StatusEvent.objects.exists()


def test_signed_by_another_tenant_for_our_sid_touches_nothing_of_ours(tenant_a, tenant_b, post):
    """Tenant B, correctly signed, names tenant A's SID: only B's own history records it."""
    msg = sent_message(tenant_a)
    resp = post(callback(msg, "delivered", tenant_b), tenant_b.twilio_auth_token)
    assert resp.status_code == 204
    assert _status(msg) == "queued"
    event = StatusEvent.objects.get()
    assert event.tenant_id == tenant_b.pk and event.message_id is None
    # A's real callback is not taken for a duplicate of B's.
    assert post(callback(msg, "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert _status(msg) == "delivered"


def test_outsider_with_its_own_valid_signature_cannot_move_our_message(tenant_a, charlie, post):
    msg = sent_message(tenant_a)
    outsider = charlie.tenant
    params = callback(msg, "failed", outsider)
    assert post(params, outsider.twilio_auth_token).status_code == 204
    assert _status(msg) == "queued"


def test_signature_over_tampered_params_is_403(tenant_a, post, settings):
    from django.test import Client
    from twilio.request_validator import RequestValidator

    msg = sent_message(tenant_a)
    params = callback(msg, "delivered", tenant_a)
    sig = RequestValidator(tenant_a.twilio_auth_token).compute_signature(
        "http://127.0.0.1:8000/webhooks/twilio/status/", params
    )
    resp = Client().post("/webhooks/twilio/status/", {**params, "MessageStatus": "failed"}, HTTP_X_TWILIO_SIGNATURE=sig)
    assert resp.status_code == 403 and _status(msg) == "queued"


def test_unknown_sid_is_kept_then_applied_when_the_sender_records_it(tenant_a, post):
    msg = sent_message(tenant_a, status="sending", sid=None)
    sid = new_sid()
    assert post(callback(sid, "sent", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert post(callback(sid, "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert StatusEvent.objects.filter(sid=sid, message=None).count() == 2
    assert _status(msg) == "sending"
    # The send task's own write lands after the callbacks, then it applies orphans.
    assert message_move(message_id=msg.pk, to="queued", sid=sid) == "sending"
    assert status_orphans_apply(tenant_id=tenant_a.pk, sid=sid) == 2
    assert _status(msg) == "delivered"
    assert not StatusEvent.objects.filter(message=None).exists()
    assert status_orphans_apply(tenant_id=tenant_a.pk, sid=sid) == 0
    assert _recount(msg.campaign_id) == {"delivered": 1}


def test_orphans_of_another_tenant_are_not_applied(tenant_a, tenant_b, post):
    msg = sent_message(tenant_a, status="sending", sid=None)
    sid = new_sid()
    post(callback(sid, "delivered", tenant_b), tenant_b.twilio_auth_token)
    message_move(message_id=msg.pk, to="queued", sid=sid)
    assert status_orphans_apply(tenant_id=tenant_a.pk, sid=sid) == 0
    assert _status(msg) == "queued"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"MessageSid": "", "SmsSid": ""}, "MessageSid"),
        ({"MessageSid": "SM-not-a-sid", "SmsSid": ""}, "MessageSid"),
        ({"MessageStatus": "", "SmsStatus": ""}, "MessageStatus"),
        ({"MessageStatus": "<script>"}, "MessageStatus"),
        ({"ErrorCode": "thirty"}, "ErrorCode"),
        ({"ErrorCode": "99999999999999"}, "ErrorCode"),
    ],
)
def test_malformed_signed_callback_is_400_naming_the_field(tenant_a, post, change, field):
    msg = sent_message(tenant_a)
    params = {**callback(msg, "delivered", tenant_a), **change}
    resp = post(params, tenant_a.twilio_auth_token)
    assert resp.status_code == 400
    assert field in resp.json()
    assert _status(msg) == "queued" and not StatusEvent.objects.exists()


def test_malformed_bodies_are_4xx_never_500(tenant_a, client):
    path = "/webhooks/twilio/status/"
    assert client.post(path, "{not json", content_type="application/json").status_code == 403
    assert client.post(path, b"\xff\xfe=\x00", content_type="application/x-www-form-urlencoded").status_code == 403
    assert client.post(path, "--x\r\nbroken", content_type="multipart/form-data; boundary=x").status_code // 100 == 4
    assert client.get(path).status_code == 405


def test_the_hot_path_is_a_few_queries(tenant_a, post, django_assert_max_num_queries):
    first, second = sent_message(tenant_a), sent_message(tenant_a)
    # Cold: the tenant's tokens, then ONE statement (history, locked move, counters), then
    # which events the tenant's endpoints want (cached per process for a few seconds).
    with django_assert_max_num_queries(3):
        assert post(callback(first, "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    # Warm: the token and the endpoints are known; the token is re-checked inside that same statement.
    with django_assert_max_num_queries(1):
        assert post(callback(second, "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert _status(first) == _status(second) == "delivered"


def test_a_write_guarded_by_a_stale_token_writes_nothing(tenant_a):
    from tracking.services import TokenChanged, callback_apply_signed, callback_parse

    msg = sent_message(tenant_a)
    stale = _ciphertext(tenant_a.pk)
    tenant_a.twilio_auth_token = "rotated-token-0002"
    tenant_a.save()
    with pytest.raises(TokenChanged):
        callback_apply_signed(
            account_sid=tenant_a.twilio_account_sid,
            token_ciphertexts=[stale],
            callback=callback_parse(callback(msg, "delivered", tenant_a)),
        )
    assert _status(msg) == "queued" and not StatusEvent.objects.exists()
    assert callback_apply_signed(
        account_sid=tenant_a.twilio_account_sid,
        token_ciphertexts=[_ciphertext(tenant_a.pk)],
        callback=callback_parse(callback(msg, "delivered", tenant_a)),
    ).moved
    assert _status(msg) == "delivered"


def _ciphertext(tenant_id: int) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT twilio_auth_token FROM tenants_tenant WHERE id = %s", [tenant_id])
        return cursor.fetchone()[0]


def test_a_rotated_token_takes_effect_at_once(tenant_a, post):
    msg = sent_message(tenant_a)
    old_token = tenant_a.twilio_auth_token
    assert post(callback(msg, "sent", tenant_a), old_token).status_code == 204
    tenant_a.twilio_auth_token = "rotated-token-0001"
    tenant_a.save()
    assert post(callback(msg, "delivered", tenant_a), old_token).status_code == 403
    assert _status(msg) == "sent"
    assert post(callback(msg, "delivered", tenant_a), "rotated-token-0001").status_code == 204
    assert _status(msg) == "delivered"


def test_tenants_sharing_an_account_sid_each_use_their_own_token(tenant_a, post):
    from tenants.tests.factories import TenantFactory

    twin = TenantFactory(slug="twin", twilio_account_sid=tenant_a.twilio_account_sid, twilio_auth_token="twin-token")
    msg = sent_message(twin)
    assert post(callback(msg, "delivered", twin), "twin-token").status_code == 204
    assert _status(msg) == "delivered"
    assert StatusEvent.objects.get().tenant_id == twin.pk


def test_history_outlives_a_deleted_message(tenant_a, post, alice):
    from django.test import Client
    from django.urls import reverse

    msg = sent_message(tenant_a)
    post(callback(msg, "delivered", tenant_a), tenant_a.twilio_auth_token)
    event = StatusEvent.objects.get(sid=msg.sid)
    msg.campaign.delete()
    event.refresh_from_db()
    assert event.message_id is not None  # kept as it was: the history is keyed by SID
    client = Client()
    client.force_login(alice)
    assert client.get(reverse("admin:tracking_statusevent_change", args=[event.pk])).status_code == 200
    assert client.get(reverse("admin:tracking_statusevent_changelist")).status_code == 200


def test_the_simulator_reports_through_the_same_path(tenant_a):
    from gateways.tasks import simulator_report

    msg = sent_message(tenant_a)
    simulator_report(tenant_id=tenant_a.pk, sid=msg.sid, to=msg.to, status="undelivered", error_code=30003)
    msg.refresh_from_db()
    assert (msg.status, msg.error_code) == ("undelivered", 30003)
    assert StatusEvent.objects.filter(sid=msg.sid, status="undelivered").exists()


def test_orphans_of_a_group_of_sids_are_applied_with_one_look_up(tenant_a, post, django_assert_num_queries):
    from tracking.services import status_orphans_apply_many

    early = sent_message(tenant_a, status="sending", sid=None)
    plain = sent_message(tenant_a, status="sending", sid=None)
    early_sid, plain_sid = new_sid(), new_sid()
    assert post(callback(early_sid, "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    message_move(message_id=early.pk, to="queued", sid=early_sid)
    message_move(message_id=plain.pk, to="queued", sid=plain_sid)
    with django_assert_num_queries(1):
        assert status_orphans_apply_many(tenant_id=tenant_a.pk, sids=[plain_sid]) == 0
    assert status_orphans_apply_many(tenant_id=tenant_a.pk, sids=[early_sid, plain_sid]) == 1
    assert (_status(early), _status(plain)) == ("delivered", "queued")
    assert status_orphans_apply_many(tenant_id=tenant_a.pk, sids=[]) == 0
