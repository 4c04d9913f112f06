"""MMS through the gateways: one ``MediaUrl`` per file at Twilio (recorded by the local server), no ``Body`` when
an MMS has no text, and the simulator keeps the media it was given."""

from __future__ import annotations

from django.core.cache import cache

from gateways import OutboundSMS, get_gateway
from gateways.simulator import SENT

URLS = ["http://127.0.0.1:8000/media/tok1/a.jpg", "http://127.0.0.1:8000/media/tok2/b.png"]


def test_twilio_sends_one_media_url_per_file(fake_twilio, tenant_a):
    result = get_gateway().send(tenant_a, OutboundSMS(to="+14155550123", body="Look", media_url=URLS))
    [request] = fake_twilio.sends()
    assert request.media_urls == URLS and request.form["Body"] == "Look"
    assert fake_twilio.created()[0]["num_media"] == "2" and fake_twilio.created()[0]["sid"] == result.sid


def test_an_mms_without_text_has_no_body(fake_twilio, tenant_a):
    get_gateway().send(tenant_a, OutboundSMS(to="+14155550124", body="", media_url=URLS[:1]))
    [request] = fake_twilio.sends()
    assert "Body" not in request.form and request.media_urls == URLS[:1]


def test_an_sms_has_no_media_url(fake_twilio, tenant_a):
    get_gateway().send(tenant_a, OutboundSMS(to="+14155550125", body="Hi"))
    assert fake_twilio.sends()[0].media_urls == []


def test_the_simulator_records_the_media(tenant_a, sent_tasks):
    result = get_gateway("simulator").send(tenant_a, OutboundSMS(to="+14155550126", body="", media_url=URLS))
    assert cache.get(SENT._message(result.sid))["media_url"] == URLS
