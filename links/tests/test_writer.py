"""Clicks queued in Redis are never lost: a stopped or crashed writer leaves them for the next one."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from links.capture import link_key, stream_key
from links.models import Click
from links.selectors import campaign_click_counts
from links.services import clicks_record
from links.writer import GROUP, ClickWriter

from .test_clickinfo import IPHONE
from .test_redirect import campaign_links


def click(code, n=1):
    client = Client()
    for _ in range(n):
        assert client.get(f"/l/{code}", HTTP_USER_AGENT=IPHONE).status_code == 302


def test_hot_path_queues_without_touching_the_clicks_table(links_redis, tenant_a, django_assert_max_num_queries):
    _c, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0])  # first request: cache miss, one lookup
    _expiry, tenant, target = links_redis.get(link_key(codes[0])).split("|", 2)
    assert tenant == str(tenant_a.pk) and target.startswith("https://shop.example.com/")
    with django_assert_max_num_queries(0):
        click(codes[0], 3)  # cached: no database at all
    assert links_redis.xlen(stream_key()) == 4
    assert Click.objects.count() == 0


def test_writer_stopped_clicks_then_restarted_finds_every_click(links_redis, tenant_a):
    campaign, _m, codes = campaign_links(tenant_a, 3)
    first = ClickWriter(consumer="writer-1")
    click(codes[0], 2)
    assert first.drain() == 2
    del first  # the writer stops
    for code in codes:
        click(code, 5)  # clicks while no writer runs
    assert links_redis.xlen(stream_key()) == 15
    restarted = ClickWriter(consumer="writer-2")
    assert restarted.drain() == 15
    assert Click.objects.count() == 17
    assert campaign_click_counts(campaign.pk) == {"clicks": 17, "unique_clicks": 3, "bot_hits": 0}
    assert links_redis.xlen(stream_key()) == 0  # acknowledged and deleted once written


def test_writer_crashing_mid_batch_loses_nothing_and_doubles_nothing(links_redis, tenant_a, monkeypatch):
    campaign, _m, codes = campaign_links(tenant_a, 2)
    for code in codes:
        click(code, 3)
    crashing = ClickWriter(consumer="crashing", batch_size=4)

    def boom(*, events):
        raise ConnectionError("database went away")

    monkeypatch.setattr("links.writer.clicks_record", boom)
    with pytest.raises(ConnectionError):
        crashing.run_once()
    monkeypatch.undo()
    # The 4 read entries are pending (unacknowledged), not lost.
    assert links_redis.xpending(stream_key(), GROUP)["pending"] == 4
    survivor = ClickWriter(consumer="survivor", claim_idle=0)
    assert survivor.drain() == 6
    assert Click.objects.count() == 6
    assert campaign_click_counts(campaign.pk)["clicks"] == 6


def test_a_batch_written_twice_is_written_once(links_redis, tenant_a):
    campaign, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0], 3)
    entries = links_redis.xrange(stream_key())
    events = [json.loads(fields["d"]) for _id, fields in entries]
    assert clicks_record(events=events) == 3
    assert clicks_record(events=events) == 0  # a replay after a crash between commit and ack
    assert ClickWriter(consumer="w").drain() == 0
    assert Click.objects.count() == 3
    assert campaign_click_counts(campaign.pk) == {"clicks": 3, "unique_clicks": 1, "bot_hits": 0}


def test_own_failed_batch_is_retried(links_redis, tenant_a, monkeypatch):
    _c, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0], 2)
    writer = ClickWriter(consumer="w")
    monkeypatch.setattr("links.writer.clicks_record", lambda *, events: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(OSError):
        writer.run_once()
    monkeypatch.undo()
    assert writer.retry_own() == 2 and Click.objects.count() == 2


def test_celery_task_drains_the_stream(links_redis, tenant_a):
    from links.tasks import clicks_write

    _c, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0], 4)
    assert clicks_write() == {"written": 4}
    assert clicks_write() == {"written": 0}
    assert Click.objects.count() == 4


def test_management_command_once(links_redis, tenant_a):
    from django.core.management import call_command

    _c, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0], 2)
    call_command("links_click_writer", "--once")
    assert Click.objects.count() == 2


def test_clicks_on_a_deleted_link_are_dropped_not_stuck(links_redis, tenant_a):
    from links.models import ShortLink

    _c, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0], 2)
    ShortLink.objects.filter(code=codes[0]).delete()
    assert ClickWriter(consumer="w").drain() == 0
    assert links_redis.xlen(stream_key()) == 0


def test_redis_down_falls_back_to_writing_directly(settings, tenant_a, db):
    settings.LINKS_CLICK_CAPTURE = "redis"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    _c, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0])
    assert Click.objects.count() == 1


def test_a_refused_event_goes_to_the_dead_letter_list_and_the_rest_is_written(links_redis, tenant_a, monkeypatch):
    from django.db import DataError

    from links import writer as writer_module

    _c, _m, codes = campaign_links(tenant_a, 2)
    click(codes[0], 2)
    click(codes[1], 1)
    real = writer_module.clicks_record

    def picky(*, events):
        if any(e["c"] == codes[1] for e in events):
            raise DataError("value too long")
        return real(events=events)

    monkeypatch.setattr(writer_module, "clicks_record", picky)
    assert ClickWriter(consumer="w").drain() == 2
    assert links_redis.llen(f"{stream_key()}:dead") == 1
    assert links_redis.xlen(stream_key()) == 0


def test_a_redis_timeout_after_the_click_was_queued_does_not_double_it(links_redis, tenant_a, monkeypatch):
    import redis

    from links import capture

    _c, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0])  # warm the cache
    ClickWriter(consumer="w").drain()
    real_resolve, real_probe = capture._scripts_for(capture.settings.REDIS_URL)

    def resolve_then_time_out(*, keys, args):
        real_resolve(keys=keys, args=args)  # the click is queued...
        raise redis.exceptions.TimeoutError("...but the answer never came")

    monkeypatch.setattr(capture, "_scripts_for", lambda url: (resolve_then_time_out, real_probe))
    click(codes[0])  # falls back to writing directly, with the same event id
    monkeypatch.undo()
    assert Click.objects.count() == 2
    assert ClickWriter(consumer="w").drain() == 0  # the queued copy is recognised and skipped
    assert Click.objects.count() == 2
    assert campaign_click_counts(_c.pk)["clicks"] == 2
