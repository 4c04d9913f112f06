from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory, MessageFactory
from compliance.rules import (
    STATE_RULES,
    UNKNOWN_STATE,
    contacts_over_cap,
    next_send_time,
    recipient_state,
    recipient_zones,
    window_for,
)
from compliance.selectors import compliance_settings_get
from contacts.tests.factories import ContactFactory

WEDNESDAY = dt.date(2026, 7, 15)
SATURDAY = dt.date(2026, 7, 18)
SUNDAY = dt.date(2026, 7, 19)
SECOND = dt.timedelta(seconds=1)

# state: (a number in it, its zone, weekday window (start, end))
STATES = {
    "FL": ("+13055550100", "America/New_York", (8, 20)),
    "OK": ("+14055550100", "America/Chicago", (8, 20)),
    "MD": ("+14105550100", "America/New_York", (8, 20)),
    "MA": ("+16175550100", "America/New_York", (8, 20)),
    "WA": ("+12065550100", "America/Los_Angeles", (8, 20)),
    "AL": ("+12055550100", "America/Chicago", (8, 20)),
    "LA": ("+15045550100", "America/Chicago", (8, 20)),
    "MS": ("+16015550100", "America/Chicago", (8, 20)),
    "CT": ("+12035550100", "America/New_York", (9, 20)),
    "NV": ("+17025550100", "America/Los_Angeles", (9, 20)),
    "TX": ("+12145550100", "America/Chicago", (9, 21)),
    "UT": ("+18015550100", "America/Denver", (8, 21)),
    "RI": ("+14015550100", "America/New_York", (9, 18)),
    "federal (CA)": ("+14155550100", "America/Los_Angeles", (8, 21)),
    "federal (IL)": ("+13125550100", "America/Chicago", (8, 21)),
}


def at(day: dt.date, hour: int, zone: str, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


def nst(tenant, number, now, tz=""):
    return next_send_time(tenant=tenant, phone_number=number, timezone=tz, now=now)


def test_every_state_of_the_table_is_tested():
    assert set(STATE_RULES) <= set(STATES)


@pytest.mark.parametrize("state", STATES)
def test_weekday_window_boundaries(tenant_a, state):
    number, zone, (start, end) = STATES[state]
    opens, closes = at(WEDNESDAY, start, zone), at(WEDNESDAY, end, zone)
    # One second before the window: wait until it opens.
    assert nst(tenant_a, number, opens - SECOND) == opens
    # At the opening and one second before closing: now.
    assert nst(tenant_a, number, opens) == opens
    assert nst(tenant_a, number, closes - SECOND) == closes - SECOND
    # At the close: tomorrow's opening (Thursday, same window).
    assert nst(tenant_a, number, closes) == at(WEDNESDAY + dt.timedelta(days=1), start, zone)


@pytest.mark.parametrize("state", ["AL", "LA", "MS", "UT", "RI"])
def test_no_sunday_states_wait_for_monday(tenant_a, state):
    number, zone, (start, _end) = STATES[state]
    monday = SUNDAY + dt.timedelta(days=1)
    assert nst(tenant_a, number, at(SUNDAY, 12, zone)) == at(monday, start, zone)
    # Saturday evening after close also skips Sunday.
    assert nst(tenant_a, number, at(SATURDAY, 23, zone)) == at(monday, start, zone)


def test_texas_sunday_opens_at_noon(tenant_a):
    number, zone, _ = STATES["TX"]
    assert nst(tenant_a, number, at(SUNDAY, 12, zone) - SECOND) == at(SUNDAY, 12, zone)
    assert nst(tenant_a, number, at(SUNDAY, 12, zone)) == at(SUNDAY, 12, zone)
    assert nst(tenant_a, number, at(SUNDAY, 21, zone)) == at(SUNDAY + dt.timedelta(days=1), 9, zone)
    assert nst(tenant_a, number, at(SATURDAY, 9, zone)) == at(SATURDAY, 9, zone)


def test_rhode_island_saturday_window(tenant_a):
    number, zone, _ = STATES["RI"]
    assert nst(tenant_a, number, at(SATURDAY, 10, zone) - SECOND) == at(SATURDAY, 10, zone)
    assert nst(tenant_a, number, at(SATURDAY, 17, zone) - SECOND) == at(SATURDAY, 17, zone) - SECOND
    assert nst(tenant_a, number, at(SATURDAY, 17, zone)) == at(SUNDAY + dt.timedelta(days=1), 9, zone)


def test_federal_states_send_on_sunday(tenant_a):
    number, zone, _ = STATES["federal (CA)"]
    assert nst(tenant_a, number, at(SUNDAY, 8, zone)) == at(SUNDAY, 8, zone)


def test_unknown_state_gets_the_most_restrictive_window(tenant_a):
    toll_free = "+18005550100"
    assert recipient_state(phone_number=toll_free) == {UNKNOWN_STATE}
    weekday = window_for(states={UNKNOWN_STATE}, weekday=WEDNESDAY.weekday())
    assert (weekday.start, weekday.end) == (dt.time(9), dt.time(18))
    assert window_for(states={UNKNOWN_STATE}, weekday=SUNDAY.weekday()) is None
    # Unknown zone as well: the window must be open in every US zone at once,
    # so 9am in Honolulu (3pm Eastern in July) is the earliest.
    now = at(WEDNESDAY, 12, "America/New_York")
    assert nst(tenant_a, toll_free, now) == at(WEDNESDAY, 9, "Pacific/Honolulu")
    assert (
        nst(tenant_a, toll_free, at(WEDNESDAY, 18, "America/New_York") - SECOND)
        == at(WEDNESDAY, 18, "America/New_York") - SECOND
    )
    # With the contact's own zone, only the state stays unknown.
    assert nst(tenant_a, toll_free, at(WEDNESDAY, 9, "America/Chicago"), tz="America/Chicago") == at(
        WEDNESDAY, 9, "America/Chicago"
    )
    assert nst(tenant_a, toll_free, at(WEDNESDAY, 8, "America/Chicago"), tz="America/Chicago") == at(
        WEDNESDAY, 9, "America/Chicago"
    )


def test_contact_zone_adds_its_state(tenant_a):
    # A California number whose contact lives in Phoenix: Arizona joins the states, the zone is Phoenix.
    assert recipient_state(phone_number="+14155550100", timezone="America/Phoenix") == {"CA", "AZ"}
    assert recipient_zones(phone_number="+14155550100", timezone="America/Phoenix") == ["America/Phoenix"]
    # A Florida number whose contact lives in California keeps Florida's 8pm close, in California time.
    number = STATES["FL"][0]
    la = "America/Los_Angeles"
    assert nst(tenant_a, number, at(WEDNESDAY, 20, la), tz=la) == at(WEDNESDAY + dt.timedelta(days=1), 8, la)
    assert nst(tenant_a, number, at(WEDNESDAY, 20, la) - SECOND, tz=la) == at(WEDNESDAY, 20, la) - SECOND


def test_tenant_window_narrows_but_never_widens(tenant_a):
    number, zone, _ = STATES["federal (CA)"]
    tenant_a.quiet_hours_start, tenant_a.quiet_hours_end = dt.time(10), dt.time(23)
    assert nst(tenant_a, number, at(WEDNESDAY, 9, zone)) == at(WEDNESDAY, 10, zone)
    assert nst(tenant_a, number, at(WEDNESDAY, 21, zone)) == at(WEDNESDAY + dt.timedelta(days=1), 10, zone)
    tenant_a.quiet_hours_start = dt.time(6)
    assert nst(tenant_a, number, at(WEDNESDAY, 7, zone)) == at(WEDNESDAY, 8, zone)


def test_non_us_number_uses_the_federal_window_in_its_own_zone(tenant_a):
    uk = "+447911123456"
    assert recipient_state(phone_number=uk) == set()
    assert nst(tenant_a, uk, at(WEDNESDAY, 7, "Europe/London")) == at(WEDNESDAY, 8, "Europe/London")
    assert nst(tenant_a, uk, at(WEDNESDAY, 20, "Europe/London")) == at(WEDNESDAY, 20, "Europe/London")


def test_winter_time_boundaries(tenant_a):
    number, zone, _ = STATES["FL"]
    winter = dt.date(2026, 1, 14)
    assert nst(tenant_a, number, at(winter, 20, zone)) == at(winter + dt.timedelta(days=1), 8, zone)
    assert at(winter, 8, zone).hour == 13  # EST is UTC-5


# Frequency cap ---------------------------------------------------------------


def _sent(tenant, contact, when, campaign=None):
    return MessageFactory(campaign=campaign or CampaignFactory(tenant=tenant), contact=contact, sent_at=when)


def test_frequency_cap_default_three_in_24_hours(tenant_a):
    now = timezone.now()
    two, three, old = (ContactFactory(tenant=tenant_a) for _ in range(3))
    for _ in range(2):
        _sent(tenant_a, two, now - dt.timedelta(hours=1))
    for hours in (1, 5, 23):
        _sent(tenant_a, three, now - dt.timedelta(hours=hours))
    for hours in (25, 30, 48):
        _sent(tenant_a, old, now - dt.timedelta(hours=hours))
    _sent(tenant_a, old, now - dt.timedelta(hours=2))
    ids = [two.pk, three.pk, old.pk]
    assert compliance_settings_get(tenant=tenant_a).frequency_cap == 3
    assert contacts_over_cap(tenant=tenant_a, contact_ids=ids, now=now) == {three.pk}
    # The window is exactly 24 hours: once the oldest of the three is 24h old, it no longer counts.
    one_hour = dt.timedelta(hours=1)
    assert contacts_over_cap(tenant=tenant_a, contact_ids=ids, now=now + one_hour - SECOND) == {three.pk}
    assert contacts_over_cap(tenant=tenant_a, contact_ids=ids, now=now + one_hour) == set()


def test_frequency_cap_is_the_tenants_setting_and_counts_only_sent(tenant_a, tenant_b):
    now = timezone.now()
    contact = ContactFactory(tenant=tenant_a)
    _sent(tenant_a, contact, now - dt.timedelta(minutes=5))
    MessageFactory(campaign=CampaignFactory(tenant=tenant_a), contact=contact, sent_at=None)  # not sent yet
    cfg = compliance_settings_get(tenant=tenant_a)
    cfg.frequency_cap = 1
    cfg.save()
    assert contacts_over_cap(tenant=tenant_a, contact_ids=[contact.pk], now=now) == {contact.pk}
    cfg.frequency_cap = 2
    cfg.save()
    assert contacts_over_cap(tenant=tenant_a, contact_ids=[contact.pk], now=now) == set()
    cfg.frequency_cap = 0  # off
    cfg.save()
    assert contacts_over_cap(tenant=tenant_a, contact_ids=[contact.pk], now=now) == set()
    # Tenant B's cap and messages are its own.
    assert contacts_over_cap(tenant=tenant_b, contact_ids=[contact.pk], now=now) == set()
    assert contacts_over_cap(tenant=tenant_a, contact_ids=[], now=now) == set()


def test_opt_out_footer_only_for_contacts_never_texted(tenant_a):
    from compliance.selectors import contacts_never_texted, opt_out_footer

    assert opt_out_footer(tenant=tenant_a) == "Reply STOP to opt out"
    texted, fresh, queued = (ContactFactory(tenant=tenant_a) for _ in range(3))
    _sent(tenant_a, texted, timezone.now())
    MessageFactory(campaign=CampaignFactory(tenant=tenant_a), contact=queued, sent_at=None)
    assert contacts_never_texted(tenant=tenant_a, contact_ids=[texted.pk, fresh.pk, queued.pk]) == {fresh.pk, queued.pk}


def test_legal_rules_can_be_turned_off_for_a_tenant(tenant_a):
    """Only the tenant's own window then applies (non-US programs, demos)."""
    import datetime as dt

    from compliance.rules import next_send_time

    night_in_new_york = dt.datetime(2026, 3, 4, 7, 30, tzinfo=dt.UTC)  # 02:30 EST
    tenant_a.quiet_hours_start, tenant_a.quiet_hours_end = dt.time(0, 0), dt.time(23, 59)
    assert next_send_time(tenant=tenant_a, phone_number="+12125550100", now=night_in_new_york) > night_in_new_york
    tenant_a.legal_quiet_hours = False
    assert next_send_time(tenant=tenant_a, phone_number="+12125550100", now=night_in_new_york) == night_in_new_york
    tenant_a.quiet_hours_start = dt.time(9, 0)
    assert next_send_time(tenant=tenant_a, phone_number="+12125550100", now=night_in_new_york) == dt.datetime(
        2026, 3, 4, 14, 0, tzinfo=dt.UTC
    )
