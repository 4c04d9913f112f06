"""The README's curl walk-through, run as written against a live server and a real Celery worker.

The blocks marked ``<!-- walkthrough -->`` in README.md run in one ``bash -e`` session; the only change is
``BASE=``, pointed at pytest-django's ``live_server`` (a real HTTP server on the test database). ``make -s manage``
runs ``create_tenant`` on the same database (``DATABASE_URL`` given: it starts no services). A ``celery worker``
subprocess with the simulator gateway sends the campaign and reports its delivery, as under ``make run``.

Between the first block (the variables) and the second (the API calls) the test opens the new tenant's quiet
hours, so the result does not depend on the hour the test runs. Sending is real: the worker fans the campaign out,
hands the message to the simulator, and the simulator's status reports come back through the worker.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from campaigns.models import Campaign
from campaigns.stats import campaign_stats
from tenants.models import Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(django_settings.BASE_DIR)
README = BASE_DIR / "README.md"
MARK = "<!-- walkthrough -->"


def walkthrough_blocks(text: str) -> list[str]:
    """The ```sh blocks that follow a ``<!-- walkthrough -->`` line, in order."""
    return [m.group(1) for m in re.finditer(re.escape(MARK) + r"\s*```sh\n(.*?)```", text, re.S)]


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_the_readme_marks_its_walkthrough():
    blocks = walkthrough_blocks(README.read_text())
    assert len(blocks) == 2
    setup, calls = blocks
    assert re.search(r"^BASE=http://127\.0\.0\.1:8000\b", setup, re.M)
    for name in ("BASE", "TOKEN"):
        assert re.search(rf"^{name}=", setup, re.M), f"{name} is defined up front"
    for helper in ("field", "api"):
        assert re.search(rf"^{helper}\(\) {{", setup, re.M), f"{helper} is defined up front"
    assert "campaigns/1" not in calls and "$CAMPAIGN" in calls


@pytest.fixture
def worker_env(live_server, redis_url):
    redis.Redis.from_url(redis_url).flushdb()  # no stale tasks from an earlier run
    return {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CONN_MAX_AGE": "0",
        "SMS_GATEWAY": "simulator",
        "SIMULATOR_REPORT_DELAY": "0.3",
        "PUBLIC_BASE_URL": live_server.url,
        "SHORT_LINK_BASE_URL": django_settings.SHORT_LINK_BASE_URL,
    }


@pytest.fixture
def worker(worker_env):
    log = tempfile.NamedTemporaryFile(prefix="walkthrough-worker-", suffix=".log", delete=False)  # noqa: SIM115
    cmd = [
        sys.executable, "-m", "celery", "-A", "smscampaigns", "worker", "--pool=threads", "--concurrency=4",
        "--loglevel=INFO", "-n", f"walkthrough-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=worker_env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while "ready." not in Path(log.name).read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + Path(log.name).read_text()[-3000:])
            time.sleep(0.1)
        yield Path(log.name)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.skipif(not shutil.which("curl"), reason="the walk-through uses curl")
def test_the_readme_walkthrough_runs_as_written(live_server, worker, worker_env):
    setup, calls = walkthrough_blocks(README.read_text())
    setup = re.sub(r"^BASE=\S+", f"BASE={live_server.url}", setup, count=1, flags=re.M)
    env = {k: v for k, v in worker_env.items() if k not in ("SMS_GATEWAY", "SIMULATOR_REPORT_DELAY")}

    # One shell session: block 1, the test opening the new tenant's quiet hours, block 2.
    open_hours = (
        f"{shlex.quote(sys.executable)} -c 'import django; django.setup(); "
        "from campaigns.tests.conftest import always_open; from tenants.models import Tenant; "
        'always_open(Tenant.objects.get(slug="acme"))\''
    )
    run = subprocess.run(
        ["bash", "-e", "-c", f"{setup}\n{open_hours}\n{calls}"],
        env={**env, "DJANGO_SETTINGS_MODULE": "smscampaigns.settings"},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, (run.stdout, run.stderr, worker.read_text()[-3000:])
    tenant = Tenant.objects.get(slug="acme")

    # What the README says: a 201 contact, a 202 send, a campaign that ends "sent", and its stats.
    campaign = Campaign.objects.get(tenant=tenant)
    assert campaign.status == "sent"
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    contact, sent, stats = (json.loads(line) for line in lines)
    assert contact["phone_number"] == "+14155550100" and contact["tags"] == ["vip"]
    assert sent["id"] == campaign.pk and sent["status"] == "sending"
    assert stats["recipients"] == 1 and stats["suppressed"] == 0 and stats["failed"] == 0
    assert stats["queued"] + stats["sent"] + stats["delivered"] == 1, stats

    # The README's "delivered":1, once the simulator's status callbacks have come back through the worker.
    deadline = time.monotonic() + 10
    while campaign_stats(campaign_id=campaign.pk)["delivered"] != 1:
        assert time.monotonic() < deadline, (campaign_stats(campaign_id=campaign.pk), worker.read_text()[-3000:])
        time.sleep(0.2)
    assert "ERROR" not in worker.read_text()
