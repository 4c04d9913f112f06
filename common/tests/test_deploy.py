"""Deployment files: what the image leaves out, production settings, the compose health check."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


# .dockerignore ---------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regex over a slash path."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        rules.append((keep, _pattern_regex(line.lstrip("!").strip("/"))))
    return rules


def _ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last matching pattern wins; a path is out if it or a parent directory is out."""
    parts = path.split("/")
    for n in range(1, len(parts) + 1):
        prefix, verdict = "/".join(parts[:n]), None
        for keep, rx in rules:
            if rx.match(prefix):
                verdict = not keep
        if verdict:
            return True
    return False


def test_matcher_follows_docker_rules():
    rules = [
        (False, _pattern_regex("**/__pycache__")),
        (False, _pattern_regex(".env.*")),
        (True, _pattern_regex(".env.example")),
    ]
    assert _ignored("a/b/__pycache__/x.pyc", rules)
    assert _ignored(".env.local", rules)
    assert not _ignored(".env.example", rules)
    assert not _ignored("a/b/x.py", rules)


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        ".venv/bin/python",
        "var/services/redis/dump.rdb",
        "node_modules/chart.js/package.json",
        ".git/HEAD",
        "db.sqlite3",
        "campaigns/local.sqlite3",
        "staticfiles/admin/css/base.css",
        "bench/results/send.json",
        ".pytest_cache/v/cache/lastfailed",
        "campaigns/tests/.pytest_cache/README.md",
        "__pycache__/x.pyc",
        "campaigns/__pycache__/models.cpython-311.pyc",
    ],
)
def test_dockerignore_keeps_out_secrets_and_local_state(path):
    assert _ignored(path, _rules()), f"{path} would be sent to the Docker build"


def _dockerfile_copy_sources() -> list[str]:
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def test_dockerfile_copies_what_the_build_needs():
    rules = _rules()
    sources = _dockerfile_copy_sources()
    assert {"requirements.txt", "package.json", "package-lock.json", "."} <= set(sources)
    for src in sources:
        if src != ".":
            assert (ROOT / src).exists(), src
            assert not _ignored(src, rules), f"the Dockerfile copies {src}, .dockerignore leaves it out"
    # `COPY . .` must still bring the code: manage.py, every app package, the templates.
    packages = [p.parent.name for p in ROOT.glob("*/__init__.py")]
    assert {"smscampaigns", "campaigns", "tenants", "common"} <= set(packages)
    needed = ["manage.py", "templates"] + [f"{p}/__init__.py" for p in packages]
    needed += [
        f"{p}/migrations/0001_initial.py" for p in packages if (ROOT / p / "migrations/0001_initial.py").exists()
    ]
    for path in needed:
        assert not _ignored(path, rules), f"{path} is left out of the image"


def test_image_runs_as_non_root():
    users = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}


# Production settings -----------------------------------------------------------------------------


def _production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="sms.example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/unused"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    env.update(overrides)
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_env():
    """Not one warning, the API schema's (drf-spectacular's W001) included: a warning fails the command."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.findall(r"^\S*: \((\S+)\)", output, re.MULTILINE) == [], output
    assert "System check identified no issues" in output, output


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", "change-me-to-50-random-characters"),
        ("SECRET_KEY", "dev-only-insecure-secret-key-do-not-use-in-production"),
        ("FIELD_ENCRYPTION_KEY", "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="),
        ("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode() + ",ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="),
    ],
)
def test_public_secret_values_are_refused(name, value):
    result = _manage("check", "--deploy", env=_production_env(**{name: value}))
    assert result.returncode != 0
    assert "Configuration error" in result.stderr and name in result.stderr, result.stderr


def test_env_example_placeholders_are_refused():
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY"):
        # not `check`: that one runs on dev defaults when a secret is missing (CODE_ONLY_COMMAND)
        result = _manage("diffsettings", env=_production_env(**{name: example[name]}))
        assert result.returncode != 0, f"{name} from .env.example was accepted"
        assert name in result.stderr


def test_healthz_is_exempt_from_the_https_redirect():
    code = (
        "import django; django.setup(); from django.test import Client; "
        "c = Client(HTTP_HOST='localhost'); "
        "print(c.get('/healthz').status_code, c.get('/api/docs/').status_code)"
    )
    env = _production_env(ALLOWED_HOSTS="sms.example.com,localhost", DJANGO_SETTINGS_MODULE="smscampaigns.settings")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    healthz, other = result.stdout.split()
    assert healthz in {"200", "503"}  # answered, not redirected (503: a service is down, still an answer)
    assert other == "301"


# docker-compose.yml ------------------------------------------------------------------------------


def test_compose_healthcheck_host_is_allowed():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["web"]
    check = " ".join(web["healthcheck"]["test"])
    url = re.search(r"https?://([^/:'\"]+)(?::\d+)?/healthz", check)
    assert url, check
    host = url.group(1)
    allowed = web["environment"]["ALLOWED_HOSTS"]
    # "${ALLOWED_HOSTS:?…},localhost": the deployment's hosts, from .env, plus the health check's own.
    hosts = [h.strip() for h in re.sub(r"\$\{[^}]*\}", "", allowed).split(",") if h.strip()]
    assert host in hosts, (host, allowed)
    assert "${ALLOWED_HOSTS" in allowed, "the compose file must not replace the deployment's ALLOWED_HOSTS"


# gunicorn -------------------------------------------------------------------------------------------


def _gunicorn_commands() -> dict[str, list[str]]:
    import json

    yaml = pytest.importorskip("yaml")
    cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {"Dockerfile": json.loads(cmd.removeprefix("CMD ")), "compose web": compose["services"]["web"]["command"]}


@pytest.mark.parametrize("where", ["Dockerfile", "compose web"])
def test_production_gunicorn_reads_the_logging_config(where):
    """Started as the image starts it (from the app's root, where gunicorn.conf.py is), gunicorn takes the
    scrubbing logger class (docs/operations.md, Logs) and writes access lines."""
    command = _gunicorn_commands()[where]
    assert command[0] == "gunicorn", command
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    result = subprocess.run(
        [gunicorn, *command[1:], "--print-config"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    config = dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.MULTILINE))
    assert config["logger_class"] == "common.access_log.GunicornLogger"
    assert config["accesslog"] == "-"
    assert "%(r)s" in config["access_log_format"]  # the request line, scrubbed by the logger class
