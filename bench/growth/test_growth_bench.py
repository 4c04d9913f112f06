"""The growth benchmark's fill, small (1,000 messages at 1×), so CI sees it still writes what it says."""

from __future__ import annotations

import pytest
from django.db import connection

from bench.growth.run import fill

pytestmark = pytest.mark.django_db(transaction=True)


def _counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        out = {}
        for table in ("campaigns_message", "tracking_statusevent", "links_click", "links_shortlink"):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant names
            out[table] = cursor.fetchone()[0]
        for table in ("tracking_statusevent_pdefault", "links_click_pdefault"):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant names
            out[table] = cursor.fetchone()[0]
    return out


def test_fill_tops_up_to_the_scale_and_never_lands_in_a_default_partition():
    fill(1, unit=1000)
    first = _counts()
    assert first["campaigns_message"] == first["tracking_statusevent"] == 1000
    assert first["links_click"] == 200 and first["links_shortlink"] == 100  # two clicks on one link in ten
    assert first["tracking_statusevent_pdefault"] == first["links_click_pdefault"] == 0  # a year back, by month

    fill(1, unit=1000)  # already there: nothing added
    assert _counts() == first

    fill(2, unit=1000)  # topped up, never removed
    second = _counts()
    assert second["campaigns_message"] == second["tracking_statusevent"] == 2000
    assert second["links_click"] == 400
    assert second["tracking_statusevent_pdefault"] == second["links_click_pdefault"] == 0
