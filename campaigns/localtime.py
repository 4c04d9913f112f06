"""Local-time sends: "at 10:00 in each recipient's time zone".

A campaign with ``local_send_time`` holds each new message (``Message.hold_until``, the quiet-hours mechanism)
until the next time the recipient's clock shows that time, counted from the campaign's start. The beat tick
releases held messages when due (``campaigns.sending.control._release_held``), and the sender then applies the
recipient's quiet hours as always, so a local time inside quiet hours waits for the window to open.

The zone: the contact's own (``Contact.timezone``), else the one its number implies
(``contacts.phone.timezone_for_number``), else the project's ``TIME_ZONE`` (tenants have no zone of their
own). Zones are looked up once per chunk (one query for the contacts' own zones) and one hold time is written
per distinct zone, in one UPDATE each.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from contacts.models import Contact
from contacts.phone import timezone_for_number, timezone_is_valid


def local_moment(*, zone: str, at: dt.time, after: dt.datetime) -> dt.datetime:
    """The first moment at or after ``after`` when the clock in ``zone`` shows ``at`` (aware, UTC)."""
    tz = ZoneInfo(zone)
    local = after.astimezone(tz)
    for offset in (0, 1, 2):
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=offset), at, tzinfo=tz)
        # A time a DST change skips does not exist that day: the round trip moves it; it goes an hour late.
        candidate = candidate.astimezone(dt.UTC)
        if candidate >= after:
            return candidate
    return after  # unreachable: a day later is always after


def recipient_zone(*, own: str, phone_number: str) -> str:
    if own and timezone_is_valid(own):
        return own
    return timezone_for_number(phone_number) or settings.TIME_ZONE


def local_time_holds(*, campaign: Campaign, rows: list, message_ids: list[int], statuses: list) -> int:
    """Hold a fan-out chunk's messages that will be sent until the local time in each recipient's zone.

    ``rows`` (contact id, phone number, …), ``message_ids`` and ``statuses`` (``None``: will be sent) are the
    chunk's, in order. Call inside the chunk's transaction. Returns how many messages were held."""
    at = campaign.local_send_time
    if at is None:
        return 0
    start = campaign.started_at or timezone.now()
    wanted = [(row, mid) for row, mid, status in zip(rows, message_ids, statuses, strict=True) if status is None]
    if not wanted:
        return 0
    contact_ids = [row[0] for row, _mid in wanted]
    own = dict(
        Contact.objects.filter(tenant_id=campaign.tenant_id, id__gte=min(contact_ids), id__lte=max(contact_ids))
        .exclude(timezone="")
        .values_list("id", "timezone")
    )
    by_moment: dict[dt.datetime, list[int]] = defaultdict(list)
    moments: dict[str, dt.datetime] = {}
    for row, mid in wanted:
        zone = recipient_zone(own=own.get(row[0], ""), phone_number=row[1])
        moment = moments.get(zone)
        if moment is None:
            moment = moments[zone] = local_moment(zone=zone, at=at, after=start)
        by_moment[moment].append(mid)
    now = timezone.now()
    held = 0
    for moment, ids in by_moment.items():
        if moment > now:
            held += Message.objects.filter(pk__in=ids, status=MessageStatus.PENDING).update(hold_until=moment)
    return held
