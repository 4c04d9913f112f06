"""The simulator and console gateways remember what they sent, so fetch and lookup answer truthfully."""

from __future__ import annotations

import datetime as dt

import pytest

from gateways import GatewayError, OutboundSMS, get_gateway
from gateways import simulator as simulator_module

TO = "+14155550102"  # delivered by the simulator
MG = "MG" + "c" * 32


@pytest.fixture
def scheduled(sent_tasks):
    """The simulator's status reports put on the broker (kwargs), in order."""

    class Reports:
        def __iter__(self):
            return iter([kw for name, _, kw in sent_tasks if name == "gateways.tasks.simulator_report"])

        def __len__(self):
            return len(list(iter(self)))

        def __getitem__(self, i):
            return list(iter(self))[i]

    return Reports()


@pytest.fixture
def clock(monkeypatch):
    """The simulator's clock, moved by hand."""

    class Clock:
        now = 1_900_000_000.0

        def time(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(simulator_module, "time", clock)
    return clock


def _at(clock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now, dt.UTC)


def _send(tenant, to: str = TO, body: str = "Hi") -> str:
    return get_gateway("simulator").send(tenant, OutboundSMS(to=to, body=body)).sid


def test_fetch_follows_what_the_callbacks_report(settings, tenant_a, scheduled, clock):
    settings.SIMULATOR_REPORT_DELAY = 10
    gw = get_gateway("simulator")
    delivered, undelivered = _send(tenant_a), _send(tenant_a, to="+14155550113")
    assert [(c["sid"], c["status"]) for c in scheduled] == [
        (delivered, "sent"),
        (delivered, "delivered"),
        (undelivered, "undelivered"),
    ]
    assert gw.fetch(tenant_a, delivered).status == "queued"
    clock.now += 10
    assert gw.fetch(tenant_a, delivered).status == "sent"
    assert gw.fetch(tenant_a, undelivered).status == "queued"  # no "sent" report for it
    clock.now += 10
    assert (gw.fetch(tenant_a, delivered).status, gw.fetch(tenant_a, delivered).error_code) == ("delivered", None)
    fetched = gw.fetch(tenant_a, undelivered)
    assert (fetched.sid, fetched.status, fetched.error_code) == (undelivered, "undelivered", 30003)


def test_fetch_of_a_sid_it_never_created_is_a_permanent_20404(tenant_a, tenant_b, scheduled):
    theirs = _send(tenant_b)
    for sid in ("SM" + "0" * 32, theirs):
        with pytest.raises(GatewayError) as info:
            get_gateway("simulator").fetch(tenant_a, sid)
        assert (info.value.code, info.value.permanent, info.value.retryable) == (20404, True, False)
    assert get_gateway("simulator").fetch(tenant_b, theirs).sid == theirs


def test_lookup_finds_this_tenants_messages_to_that_number_since_then(settings, tenant_a, tenant_b, scheduled, clock):
    settings.SIMULATOR_REPORT_DELAY = 1
    old = _send(tenant_a, body="old")
    clock.now += 60
    since = _at(clock)
    first = _send(tenant_a, body="first")
    clock.now += 1
    second = _send(tenant_a, body="second")
    _send(tenant_a, to="+14155550104")
    _send(tenant_b)
    gw = get_gateway("simulator")

    found = gw.lookup(tenant_a, to=TO, created_after=since)

    assert [(m.sid, m.body) for m in found] == [(second, "second"), (first, "first")]
    assert (found[0].status, found[1].status) == ("queued", "sent")  # one second on, the first was sent
    assert (found[0].to, found[0].from_, found[0].messaging_service_sid) == (TO, tenant_a.sender, "")
    assert found[0].date_created == _at(clock)
    assert [m.sid for m in gw.lookup(tenant_a, to=TO, created_after=since - dt.timedelta(minutes=5))][-1] == old
    assert gw.lookup(tenant_a, to="+14155550100", created_after=since) == []
    tenant_a.sender = "+14155559999"
    assert gw.lookup(tenant_a, to=TO, created_after=since) == []


def test_lookup_for_a_messaging_service(tenant_a, scheduled):
    since = dt.datetime.now(dt.UTC)
    tenant_a.sender = MG
    sid = get_gateway("simulator").send(tenant_a, OutboundSMS(to=TO, body="x")).sid
    [found] = get_gateway("simulator").lookup(tenant_a, to=TO, created_after=since)
    assert (found.sid, found.status, found.messaging_service_sid, found.from_) == (sid, "accepted", MG, "")


def test_lookup_reads_back_past_many_messages(tenant_a, scheduled, clock):
    early = [_send(tenant_a) for _ in range(70)]
    clock.now += 100
    since = _at(clock)
    late = [_send(tenant_a) for _ in range(60)]
    found = get_gateway("simulator").lookup(tenant_a, to=TO, created_after=since)
    assert {m.sid for m in found} == set(late)
    assert len(get_gateway("simulator").lookup(tenant_a, to=TO, created_after=since - dt.timedelta(days=1))) == 130
    assert early[0] not in {m.sid for m in found}


def test_the_record_is_in_the_shared_cache(redis_url, tenant_a, scheduled):
    """Another process (a fresh connection to the same Redis) sees what this one sent."""
    from django.core.cache import caches

    since = dt.datetime.now(dt.UTC)
    sid = _send(tenant_a)
    other = caches.create_connection("default")
    assert other.get(f"gw:sim:m:{sid}")["tenant_id"] == tenant_a.pk
    assert [m.sid for m in get_gateway("simulator").lookup(tenant_a, to=TO, created_after=since)] == [sid]


@pytest.mark.parametrize(("roll", "went_out"), [(0.1, False), (0.4, True)])
def test_cut_rate_ends_sends_in_an_unknown_outcome(settings, tenant_a, scheduled, monkeypatch, roll, went_out):
    settings.SIMULATOR_CUT_RATE = 0.5
    monkeypatch.setattr(simulator_module.random, "random", lambda: roll)
    since = dt.datetime.now(dt.UTC)
    with pytest.raises(GatewayError) as info:
        _send(tenant_a)
    assert info.value.outcome_unknown and not info.value.retryable and not info.value.permanent
    found = get_gateway("simulator").lookup(tenant_a, to=TO, created_after=since)
    assert len(found) == (1 if went_out else 0)
    assert len(scheduled) == (2 if went_out else 0)  # a message that went out is reported on as any other


def test_cut_rate_splits_sends_about_as_asked(settings, tenant_a, scheduled):
    settings.SIMULATOR_CUT_RATE = 0.3
    since = dt.datetime.now(dt.UTC)
    unknown = 0
    for _ in range(400):
        try:
            _send(tenant_a)
        except GatewayError as exc:
            assert exc.outcome_unknown
            unknown += 1
    created = len(get_gateway("simulator").lookup(tenant_a, to=TO, created_after=since))
    assert 80 <= unknown <= 160  # 120 expected
    assert 400 - unknown + unknown * 0.25 <= created <= 400 - unknown * 0.25  # about half the cut ones went out


def test_no_cut_rate_no_cuts(settings, tenant_a, scheduled):
    settings.SIMULATOR_CUT_RATE = 0.0
    for _ in range(50):
        _send(tenant_a)


def test_console_remembers_what_it_wrote(tenant_a, tenant_b):
    since = dt.datetime.now(dt.UTC)
    gw = get_gateway("console")
    sid = gw.send(tenant_a, OutboundSMS(to=TO, body="x")).sid
    assert gw.fetch(tenant_a, sid).status == "delivered"
    assert [m.sid for m in gw.lookup(tenant_a, to=TO, created_after=since)] == [sid]
    assert gw.lookup(tenant_b, to=TO, created_after=since) == []
    with pytest.raises(GatewayError) as info:
        gw.fetch(tenant_b, sid)
    assert info.value.code == 20404 and info.value.permanent
