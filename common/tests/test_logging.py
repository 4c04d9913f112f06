"""Logs carry no phone numbers, names or searches: the scrubbing, the two formats, and a real gunicorn server."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings

from common.logging import JsonFormatter, RedactingFilter, log_format, scrub

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "+14155550123"
NAME = "Zebulon"


# scrub ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '127.0.0.1 - - "GET /api/v1/privacy/export/?phone_number=%2B14155550123&x=1 HTTP/1.1" 200 9',
            '127.0.0.1 - - "GET /api/v1/privacy/export/?phone_number=[…]&x=[…] HTTP/1.1" 200 9',
        ),
        ('"GET /api/v1/contacts/?search=Zebulon HTTP/1.1"', '"GET /api/v1/contacts/?search=[…] HTTP/1.1"'),
        ("/admin/contacts/contact/?q=Zebulon+Smith;o=1", "/admin/contacts/contact/?q=[…];o=[…]"),
        ("<WSGIRequest: GET '/a/?q=Ada'>", "<WSGIRequest: GET '/a/?q=[…]'>"),
        ("/admin/login/?next=/admin/%3Fq%3DAda#top", "/admin/login/?next=[…]#[…]"),
        ("?background", "?background"),  # a key with no value is a key
        ("Not Found: /api/v1/contacts/by-phone/+14155550123/", "Not Found: /api/v1/contacts/by-phone/+…23/"),
        ("/api/v1/contacts/by-phone/%2B442071838750/", "/api/v1/contacts/by-phone/+…50/"),
        (
            "Key (tenant_id, phone_number)=(1, +14155550123) already exists.",
            "Key (tenant_id, phone_number)=(1, +…23) already exists.",
        ),
        ("alice@acme.example signed in", "…@acme.example signed in"),
    ],
)
def test_scrub_drops_values_numbers_and_addresses(line, expected):
    assert scrub(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "[07/Dec/2026:03:28:36 +0000] took 12ms",  # a UTC offset is no number
        "a question? yes, and 12345678901234567 digits",
        "celery@worker1 ready.",
        "Campaign 12 started by user 3",
        "+12345678901234567890 is too long for E.164",
    ],
)
def test_scrub_leaves_other_text_alone(line):
    assert scrub(line) == line


def _record(msg, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("test", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_filter_scrubs_the_rendered_message_and_the_traceback():
    try:
        raise ValueError(f"duplicate {NUMBER}")
    except ValueError:
        record = _record("lookup of %s for %s?search=%s", NUMBER, "x", NAME, exc_info=sys.exc_info())
    assert RedactingFilter().filter(record) is True
    text = logging.Formatter().format(record)
    assert NUMBER not in text and NAME not in text and "4155550123" not in text
    assert "lookup of +…23 for x?search=[…]" in text
    assert "ValueError: duplicate +…23" in text


def test_filter_leaves_a_clean_record_as_it_was():
    record = _record("campaign %s sent %d", 7, 12)
    RedactingFilter().filter(record)
    assert (record.msg, record.args) == ("campaign %s sent %d", (7, 12))


def test_json_lines_are_scrubbed_and_drop_the_request_object():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("test.json_lines")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        request = type("Req", (), {"__str__": lambda self: f"<GET '/x/?phone_number={NUMBER}'>"})()
        try:
            raise RuntimeError(f"for {NUMBER}")
        except RuntimeError:
            logger.exception("Bad Request: /x/", extra={"request": request, "status_code": 400})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["level"] == "ERROR" and line["logger"] == "test.json_lines" and line["status_code"] == 400
    assert line["message"] == "Bad Request: /x/" and "time" in line
    assert "request" not in line
    assert "RuntimeError: for +…23" in line["exc_info"]
    assert "4155550123" not in stream.getvalue()


# configuration ------------------------------------------------------------------------------------


def test_log_format_defaults():
    assert log_format({}) == "json"  # production
    assert log_format({"DEBUG": "1"}) == "plain"
    assert log_format({}, testing=True) == "plain"
    assert log_format({"LOG_FORMAT": "JSON", "DEBUG": "1"}) == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        log_format({"LOG_FORMAT": "xml"})


def test_every_django_logger_reaches_the_scrubbing_handler():
    """runserver's access lines (django.server) and Django's request warnings go through the one handler."""
    root = logging.getLogger()
    handlers = [h for h in root.handlers if any(isinstance(f, RedactingFilter) for f in h.filters)]
    assert handlers, "the root logger has no scrubbing handler"
    for name in ("django.server", "django.request", "django.security.DisallowedHost"):
        logger = logging.getLogger(name)
        while logger is not None and logger.propagate and not logger.handlers:
            logger = logger.parent
        assert logger is root, f"{name} writes through {logger} instead of the root handler"
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["redact"]


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "DEBUG", "LOG_FORMAT"}}
    env.update(extra)
    return env


def test_production_logs_json_and_the_celery_worker_logs_like_the_web():
    """Celery's own logging setup (what a worker and beat run) ends in settings.LOGGING: JSON, scrubbed."""
    from cryptography.fernet import Fernet

    code = (
        "from smscampaigns.celery import app; app.loader.import_default_modules(); "
        "app.log.setup(loglevel='INFO'); import logging; "
        f"logging.getLogger('celery.app.trace').info('Task x succeeded: %s', {{'to': '{NUMBER}', 'q': '?q={NAME}'}}); "
        "from django.conf import settings; print(settings.LOG_FORMAT)"
    )
    env = _production_env(
        SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="sms.example.com",
        DJANGO_SETTINGS_MODULE="smscampaigns.settings",
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "json"
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    task = [line for line in lines if line["logger"] == "celery.app.trace"]
    assert task and task[0]["message"] == "Task x succeeded: {'to': '+…23', 'q': '?q=[…]'}", result.stderr
    assert NUMBER not in result.stderr and NAME not in result.stderr


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_gunicorn_logger_scrubs_its_access_lines(fmt, monkeypatch, capsys):
    """The logger class alone, in both formats: the line gunicorn builds from the raw request is scrubbed."""
    import datetime as dt
    from types import SimpleNamespace

    from gunicorn.config import Config

    from common.access_log import GunicornLogger

    monkeypatch.setenv("LOG_FORMAT", fmt)
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s "%(f)s"')
    log = GunicornLogger(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/v1/contacts/by-phone/{NUMBER}/?search={NAME}",
        "PATH_INFO": f"/api/v1/contacts/by-phone/{NUMBER}/",
        "QUERY_STRING": f"search={NAME}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_REFERER": f"https://sms.example.com/admin/?q={NAME}",
    }
    response = SimpleNamespace(status="200 OK", sent=12, headers=[])
    log.access(response, SimpleNamespace(headers=[]), environ, dt.timedelta(milliseconds=3))
    out = capsys.readouterr().out
    assert out.strip(), "no access line"
    assert NAME not in out and "4155550123" not in out
    assert '"GET /api/v1/contacts/by-phone/+…23/?search=[…] HTTP/1.1" 200 "https://sms.example.com/admin/?q=[…]"' in (
        out if fmt == "plain" else json.loads(out)["message"]
    )
    if fmt == "json":
        line = json.loads(out)
        assert (line["path"], line["query"], line["status"]) == ("/api/v1/contacts/by-phone/+…23/", "search=[…]", 200)


# A real server -------------------------------------------------------------------------------------


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, *, token: str = "", json_body: dict | None = None) -> int:
    headers = {"Referer": f"http://127.0.0.1/admin/contacts/contact/?q={NAME}"}
    if token:
        headers["Authorization"] = f"Token {token}"
    if json_body is not None:
        return requests.post(url, json=json_body, headers=headers, timeout=20, allow_redirects=False).status_code
    return requests.get(url, headers=headers, timeout=20, allow_redirects=False).status_code


@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_and_error_logs_carry_no_number_and_no_name(alice, tenant_a, redis_url):
    """gunicorn with the project's gunicorn.conf.py, as the Dockerfile starts it, JSON lines: a privacy export
    by query string, a contacts search by name, the admin's search, a number in a path (a 404 Django warns
    about): the access lines and the app's warnings name none of them, yet each request is logged."""
    from contacts.tests.factories import ContactFactory
    from tenants.tests.factories import token_for

    ContactFactory(tenant=tenant_a, phone_number=NUMBER, first_name=NAME, last_name="Quist")
    token = token_for(alice)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "LOG_FORMAT": "json",
        "DJANGO_SETTINGS_MODULE": "smscampaigns.settings",
    }
    env.pop("TEST_DATABASE_NAME", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "smscampaigns.wsgi", "--config", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "-"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=10)
                break
            except requests.RequestException:
                assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        encoded = quote(NUMBER)
        statuses = [
            _call(f"{base}/api/v1/privacy/export/?phone_number={encoded}", token=token),
            _call(f"{base}/api/v1/privacy/export/", token=token, json_body={"phone_number": NUMBER}),
            _call(f"{base}/api/v1/contacts/?search={NAME}", token=token),
            _call(f"{base}/api/v1/contacts/?search={NAME}%20Quist&tag=vip", token=token),
            _call(f"{base}/admin/contacts/contact/?q={NAME}"),  # to the login page
            _call(f"{base}/no/such/page/{encoded}/?first_name={NAME}"),
        ]
    finally:
        proc.terminate()
        try:
            output = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0]
    text = output.decode(errors="replace")
    assert statuses == [200, 200, 200, 200, 302, 404], text[-6000:]
    for secret in (NUMBER, NUMBER[1:], "4155550123", NAME, "Quist"):
        assert secret not in text, f"{secret!r} is in the server's log:\n{text[-4000:]}"
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    access = [line for line in lines if line.get("logger") == "gunicorn.access"]
    paths = [(a["method"], a["path"], a["query"], a["status"]) for a in access]
    assert ("GET", "/api/v1/privacy/export/", "phone_number=[…]", 200) in paths, paths
    assert ("POST", "/api/v1/privacy/export/", "", 200) in paths, paths
    assert ("GET", "/api/v1/contacts/", "search=[…]&tag=[…]", 200) in paths, paths
    assert ("GET", "/admin/contacts/contact/", "q=[…]", 302) in paths, paths
    assert ("GET", "/no/such/page/+…23/", "first_name=[…]", 404) in paths, paths
    assert any('"GET /api/v1/contacts/?search=[…] HTTP/1.1" 200' in a["message"] for a in access), access
    assert any('"http://127.0.0.1/admin/contacts/contact/?q=[…]"' in a["message"] for a in access), access
    # Django's own warning about the 404 went through the same handler, the number masked.
    warnings = [line for line in lines if line.get("logger") == "django.request"]
    assert any(w["message"] == "Not Found: /no/such/page/+…23/" for w in warnings), lines
