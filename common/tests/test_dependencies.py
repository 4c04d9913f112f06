"""Dependency hygiene: every package pinned with hashes, the locks in step with their sources, and the
environment the tests run in is exactly the locked one (a drifted venv would test other code than we ship)."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def _name(name: str) -> str:
    """PEP 503 normalised name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(path: str) -> dict[str, tuple[str, int]]:
    """``{name: (version, number of hashes)}`` of a pip-compile lock."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / path).read_text().splitlines():
        match = _PIN.match(line)
        if match:
            current = _name(match.group(1))
            entries[current] = (match.group(2), 0)
        if current and "--hash=sha256:" in line:
            version, hashes = entries[current]
            entries[current] = (version, hashes + line.count("--hash=sha256:"))
    return entries


def _sources(path: str) -> dict[str, str]:
    """The pins written by hand in a ``.in`` file (``-r``/``-c`` lines and comments skipped)."""
    pins = {}
    for line in (ROOT / path).read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[_name(match.group(1))] = match.group(2)
    return pins


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-dev.txt"])
def test_every_locked_package_is_pinned_with_hashes(lock):
    entries = _lock(lock)
    assert len(entries) > 20, f"{lock} does not look like a lock"
    unhashed = sorted(name for name, (_, hashes) in entries.items() if hashes == 0)
    assert unhashed == [], f"{lock}: no --hash for {unhashed}"
    text = (ROOT / lock).read_text()
    assert not re.search(r"^\s*[A-Za-z0-9][^=\s#]*\s*(>=|<=|~=|>|<|$)", text, re.MULTILINE), f"{lock}: an unpinned line"


@pytest.mark.parametrize(
    ("source", "lock"), [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")]
)
def test_the_locks_follow_their_sources(source, lock):
    """An edited ``.in`` without ``make lock`` leaves the lock stale: the pin written by hand must be the locked one."""
    locked = _lock(lock)
    stale = {name: (version, locked.get(name, ("missing",))[0]) for name, version in _sources(source).items()}
    assert {name: pair for name, pair in stale.items() if pair[0] != pair[1]} == {}


def test_the_runtime_lock_is_the_dev_lock_s_runtime():
    dev = _lock("requirements-dev.txt")
    runtime = _lock("requirements.txt")
    differ = {
        name: (v, dev.get(name, ("missing",))[0]) for name, (v, _) in runtime.items() if dev.get(name, ("",))[0] != v
    }
    assert differ == {}, "requirements-dev.txt must lock the runtime packages at requirements.txt's versions"


def test_installed_versions_match_the_lock():
    """The venv the suite runs in holds what requirements-dev.txt locks, at those versions, and nothing else
    (pip, and pip-tools' own venv, are not in it)."""
    installed = {_name(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
    locked = {name: version for name, (version, _) in _lock("requirements-dev.txt").items()}
    wrong = {
        name: (version, installed.get(name, "not installed"))
        for name, version in locked.items()
        if installed.get(name) != version
    }
    assert wrong == {}, f"locked vs installed: {wrong} (run `make venv`)"
    extra = sorted(set(installed) - set(locked) - {"pip", "setuptools", "wheel"})
    assert extra == [], f"installed but not locked: {extra}"


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_answers(), reason="no Docker daemon here: test_deploy.py checks .dockerignore instead")
def test_the_image_builds():
    result = subprocess.run(
        ["docker", "build", "--quiet", "--tag", "smscampaigns:ci", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    user = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Config.User}}", "smscampaigns:ci"],
        capture_output=True,
        text=True,
    )
    assert user.stdout.strip() not in {"", "root", "0"}
