"""The tap's Lua call on its own Redis connection (``links.capture._TapScript``): a flushed script cache, a
connection the server dropped, a reply that never came: every tap still answered, every click counted once."""

from __future__ import annotations

import pytest

from links import capture
from links.capture import stream_key
from links.models import Click
from links.selectors import campaign_click_counts
from links.writer import ClickWriter

from .test_redirect import campaign_links
from .test_writer import click

pytestmark = pytest.mark.django_db


def _tap_connection():
    resolve, _probe = capture._scripts_for(capture.settings.REDIS_URL)
    return resolve, resolve.local.conn


def test_a_flushed_script_cache_is_loaded_again_and_the_click_queued_once(links_redis, tenant_a):
    campaign, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0])  # the miss: the code is cached, the script known
    links_redis.script_flush()  # a Redis restarted without its scripts
    click(codes[0])
    click(codes[0])
    assert links_redis.xlen(stream_key()) == 3  # each tap queued its click, none twice
    assert ClickWriter(consumer="w").drain() == 3
    assert campaign_click_counts(campaign.pk)["clicks"] == 3


def test_a_connection_the_server_dropped_is_made_again(links_redis, tenant_a):
    campaign, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0])
    resolve, conn = _tap_connection()
    host, port = conn._sock.getsockname()[:2]
    assert links_redis.client_kill(f"{host}:{port}")  # the server drops the tap's connection
    click(codes[0])  # answered: through a new connection, or written directly with its event id
    click(codes[0])
    assert resolve.local.conn is not None and resolve.local.conn._sock.getsockname()[1] != port
    ClickWriter(consumer="w").drain()
    assert Click.objects.count() == 3
    assert campaign_click_counts(campaign.pk)["clicks"] == 3


def test_a_reply_that_never_came_is_not_read_by_the_next_tap(links_redis, tenant_a, monkeypatch):
    """The call timed out after Redis queued the click: the tap falls back to writing it directly (same event id),
    and the connection is dropped, so the late reply cannot be taken for the next tap's."""
    import redis

    campaign, _m, codes = campaign_links(tenant_a, 1)
    click(codes[0])
    ClickWriter(consumer="w").drain()
    resolve, conn = _tap_connection()
    real_read = conn.read_response

    def time_out(*args, **kwargs):
        raise redis.exceptions.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(conn, "read_response", time_out)
    click(codes[0])  # queued in Redis, then the reply "never came": written directly as well
    assert resolve.local.conn is None  # dropped, with its unread reply
    monkeypatch.setattr(conn, "read_response", real_read)
    click(codes[0])  # a new connection: its own reply
    assert resolve.local.conn is not conn
    assert ClickWriter(consumer="w").drain() == 1  # the queued copy of the timed-out tap is skipped, the next written
    assert Click.objects.count() == 3
    assert campaign_click_counts(campaign.pk)["clicks"] == 3
