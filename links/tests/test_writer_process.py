"""End to end: the real ``links_click_writer`` process is stopped, clicks arrive, it is restarted (or
killed mid-flight), and every click is in the table exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from links.models import Click

from .test_clickinfo import IPHONE
from .test_redirect import campaign_links

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _writer(settings, *extra: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        LINKS_CLICK_CAPTURE="redis",
        LINKS_REDIS_PREFIX=settings.LINKS_REDIS_PREFIX,
        DEBUG="1",
    )
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    cmd = [sys.executable, str(ROOT / "manage.py"), "links_click_writer", "--block-ms", "200", *extra]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(count: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = Click.objects.count()
        if n >= count:
            return n
        time.sleep(0.1)
    return Click.objects.count()


def test_writer_process_stopped_and_restarted_loses_no_click(links_redis, settings, tenant_a):
    _c, _m, codes = campaign_links(tenant_a, 2)
    client = Client()

    def tap(code, n):
        for _ in range(n):
            assert client.get(f"/l/{code}", HTTP_USER_AGENT=IPHONE).status_code == 302

    writer = _writer(settings)
    try:
        tap(codes[0], 5)
        assert _wait_for(5) == 5
        writer.send_signal(signal.SIGTERM)  # a graceful stop
        assert writer.wait(timeout=15) == 0
        tap(codes[0], 5)  # nobody is writing now
        tap(codes[1], 5)
        time.sleep(0.3)
        assert Click.objects.count() == 5
        writer = _writer(settings)  # restarted
        assert _wait_for(15) == 15
        writer.kill()  # and now killed outright (SIGKILL): nothing it held is lost either
        writer.wait(timeout=15)
        tap(codes[1], 3)
        writer = _writer(settings, "--claim-idle", "0")
        assert _wait_for(18) == 18
        time.sleep(0.5)
        assert Click.objects.count() == 18  # and nothing twice
    finally:
        if writer.poll() is None:
            writer.send_signal(signal.SIGTERM)
            writer.wait(timeout=15)
