"""Partition maintenance (retention/services.py) on the real partitioned status history: months made ahead, a
month whose rows sat in the default partition moved into its own, an expired month dropped whole while the
counters the dashboards read stay as they were."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.counters import campaign_status_counts
from campaigns.models import MessageStatus as S
from campaigns.tests.factories import CampaignFactory, MessageFactory
from common.partitions import month_add, month_start
from retention import tasks
from retention.services import partitions_maintain, partitions_of
from tracking.models import StatusEvent
from tracking.services import callback_apply, callback_parse

pytestmark = pytest.mark.django_db
TABLE = "tracking_statusevent"
SID = "SM" + "a" * 32


def _at(year: int, month: int, day: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, 12, tzinfo=dt.UTC)


def _partition_of(event: StatusEvent) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [event.pk])  # noqa: S608
        return cursor.fetchone()[0]


def _callback(status: str, sid: str = SID):
    return callback_parse({"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32})


def test_the_table_is_partitioned_with_months_ahead_and_a_default():
    names = partitions_of(TABLE)
    current = month_start(timezone.now())
    assert f"{TABLE}_pdefault" in names
    for n in range(4):  # the migration made the current month and three ahead, each split by tenant
        month = f"{TABLE}_p{month_add(current, n):%Y%m}"
        assert month in names
        assert partitions_of(month) == [f"{month}_tdefault"]


def test_months_are_created_ahead_once():
    result = partitions_maintain(now=_at(2031, 5), ahead=3, retention_months=0)
    assert [n for n in result.created if n.startswith(TABLE)] == [
        f"{TABLE}_p203105", f"{TABLE}_p203106", f"{TABLE}_p203107", f"{TABLE}_p203108"
    ]  # fmt: skip
    assert set(result.created) <= set(partitions_of(TABLE)) | set(partitions_of("links_click"))
    assert partitions_maintain(now=_at(2031, 5), ahead=3, retention_months=0).created == []


def test_rows_in_the_default_partition_move_into_their_month(tenant_a):
    message = MessageFactory(campaign=CampaignFactory(tenant=tenant_a), status=S.SENT, sid=SID)
    callback_apply(tenant_id=tenant_a.pk, callback=_callback("delivered"), received_at=_at(2032, 2))
    event = StatusEvent.objects.get(sid=SID, status="delivered")
    assert _partition_of(event) == f"{TABLE}_pdefault"  # no month partition that far ahead yet
    partitions_maintain(now=_at(2032, 2), ahead=0, retention_months=0)
    assert _partition_of(event) == f"{TABLE}_p203202_tdefault"  # the month's leaf for tenants without a retention
    assert StatusEvent.objects.get(pk=event.pk).message_id == message.pk
    # The month's own dedup index: a repeat of the callback adds nothing.
    callback_apply(tenant_id=tenant_a.pk, callback=_callback("delivered"), received_at=_at(2032, 2, 20))
    assert StatusEvent.objects.filter(sid=SID, status="delivered").count() == 1


def test_an_expired_month_is_dropped_and_the_counters_stay(tenant_a, tenant_b):
    old, now = _at(2024, 1), _at(2025, 3)
    partitions_maintain(now=old, ahead=0, retention_months=0)  # January 2024's partition
    campaign = CampaignFactory(tenant=tenant_a)
    MessageFactory(campaign=campaign, status=S.SENT, sid=SID)
    other = "SM" + "b" * 32
    MessageFactory(campaign=CampaignFactory(tenant=tenant_b), status=S.SENT, sid=other)
    callback_apply(tenant_id=tenant_a.pk, callback=_callback("delivered"), received_at=old)
    callback_apply(tenant_id=tenant_b.pk, callback=_callback("delivered", other), received_at=_at(2024, 3, 1))
    counts = campaign_status_counts(campaign.pk)
    assert counts[S.DELIVERED] == 1

    # Retention 13 months at March 2025: January 2024 ended more than 13 months ago, March 2024 did not.
    result = partitions_maintain(now=now, ahead=0, retention_months=13)
    assert f"{TABLE}_p202401" in result.dropped
    assert f"{TABLE}_p202401" not in partitions_of(TABLE)
    assert not StatusEvent.objects.filter(sid=SID).exists()
    assert StatusEvent.objects.filter(sid=other).exists()  # in the default (no March 2024 partition): kept
    assert f"{TABLE}_pdefault" in partitions_of(TABLE)
    assert campaign_status_counts(campaign.pk) == counts  # aggregates and counters kept
    assert campaign.messages.get().status == S.DELIVERED


def test_the_task_runs_the_maintenance_under_a_lock():
    result = tasks.partitions_maintain()
    assert set(result) == {"created", "dropped", "archived"}
    assert result["dropped"] == []  # nothing is older than RETENTION_MONTHS in a fresh database


def test_clicks_an_expired_month_is_dropped_a_replayed_event_written_once(tenant_a, tenant_b):
    from campaigns.stats import campaign_stats
    from links.capture import click_event
    from links.models import CampaignClickCount, Click
    from links.services import clicks_record, short_links_create_for_messages

    old = _at(2024, 1)
    partitions_maintain(now=old, ahead=0, retention_months=0)  # January 2024's month, for both tables
    assert "links_click_p202401" in partitions_of("links_click")
    campaign = CampaignFactory(tenant=tenant_a)
    message = MessageFactory(campaign=campaign, status=S.SENT, sid=SID)
    codes = short_links_create_for_messages(
        tenant=tenant_a, campaign_id=campaign.pk, target_url="https://shop.example/", message_ids=[message.pk]
    )
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
    event = click_event(code=codes[message.pk], ip="8.8.8.8", user_agent=iphone, method="GET")
    event["ts"] = old.timestamp()
    assert clicks_record(events=[event]) == 1
    assert clicks_record(events=[event]) == 0  # replayed: same id, same month, written once
    click = Click.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM links_click WHERE id = %s", [click.pk])
        assert cursor.fetchone()[0] == "links_click_p202401_tdefault"
    counters = CampaignClickCount.objects.get(campaign=campaign)
    stats = campaign_stats(campaign_id=campaign.pk)
    assert (counters.clicks, stats["clicks"]) == (1, 1)

    with connection.cursor() as cursor:
        # The clicks' deferred foreign-key checks fire now (the test is one transaction; the job drops a month in
        # a transaction of its own, where no insert is pending).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    result = partitions_maintain(now=_at(2025, 3), ahead=0, retention_months=13)
    assert "links_click_p202401" in result.dropped and not Click.objects.exists()
    assert CampaignClickCount.objects.get(campaign=campaign).clicks == 1  # the counters stay
    assert campaign_stats(campaign_id=campaign.pk) == stats


def _leaves(month: str) -> list[str]:
    return partitions_of(month)


def test_a_tenant_with_a_shorter_retention_loses_its_month_first_the_others_keep_theirs(tenant_a, tenant_b):
    """Rows stored before the tenant chose a retention move into a leaf of its own, which is dropped whole when
    the month has expired for it; the other tenant's rows stay until the server's retention, then the month goes."""
    partitions_maintain(now=_at(2024, 1), ahead=0, retention_months=0)
    month = f"{TABLE}_p202401"
    sid_a, sid_b = SID, "SM" + "b" * 32
    campaign_a = CampaignFactory(tenant=tenant_a)
    MessageFactory(campaign=campaign_a, status=S.SENT, sid=sid_a)
    MessageFactory(campaign=CampaignFactory(tenant=tenant_b), status=S.SENT, sid=sid_b)
    callback_apply(tenant_id=tenant_a.pk, callback=_callback("delivered", sid_a), received_at=_at(2024, 1))
    callback_apply(tenant_id=tenant_b.pk, callback=_callback("delivered", sid_b), received_at=_at(2024, 1))
    counts = campaign_status_counts(campaign_a.pk)

    tenant_a.event_retention_months = 6
    tenant_a.save(update_fields=["event_retention_months"])
    # September 2024: January ended 7 months ago, past tenant A's 6, within the server's 13.
    result = partitions_maintain(now=_at(2024, 9), ahead=0, retention_months=13)
    leaf_a = f"{month}_t{tenant_a.pk}"
    assert leaf_a in result.created and leaf_a in result.dropped  # A's rows moved out of the default leaf, dropped
    assert _leaves(month) == [f"{month}_tdefault"]
    assert not StatusEvent.objects.filter(sid=sid_a).exists()
    assert _partition_of(StatusEvent.objects.get(sid=sid_b)) == f"{month}_tdefault"  # B's month kept
    assert campaign_status_counts(campaign_a.pk) == counts  # A's counters kept
    # A month that has not expired for A holds a leaf for A, where its new rows go.
    assert f"{TABLE}_p202409_t{tenant_a.pk}" in _leaves(f"{TABLE}_p202409")

    # Nothing more to do an hour later: no leaf made only to be dropped.
    again = partitions_maintain(now=_at(2024, 9), ahead=0, retention_months=13)
    assert again.created == [] and again.dropped == []

    # March 2025: past the server's 13 months too; nothing in January is kept, so the month goes whole.
    result = partitions_maintain(now=_at(2025, 3), ahead=0, retention_months=13)
    assert month in result.dropped and month not in partitions_of(TABLE)
    assert not StatusEvent.objects.filter(sid=sid_b).exists()


def test_a_tenant_that_keeps_longer_keeps_its_leaf_while_the_month_goes_for_the_others(tenant_a, tenant_b):
    tenant_b.event_retention_months = 0  # for ever
    tenant_b.save(update_fields=["event_retention_months"])
    partitions_maintain(now=_at(2024, 1), ahead=0, retention_months=0)
    month = f"{TABLE}_p202401"
    assert _leaves(month) == [f"{month}_t{tenant_b.pk}", f"{month}_tdefault"]  # made with the month
    sid_a, sid_b = SID, "SM" + "b" * 32
    MessageFactory(campaign=CampaignFactory(tenant=tenant_a), status=S.SENT, sid=sid_a)
    MessageFactory(campaign=CampaignFactory(tenant=tenant_b), status=S.SENT, sid=sid_b)
    callback_apply(tenant_id=tenant_a.pk, callback=_callback("delivered", sid_a), received_at=_at(2024, 1))
    callback_apply(tenant_id=tenant_b.pk, callback=_callback("delivered", sid_b), received_at=_at(2024, 1))
    assert _partition_of(StatusEvent.objects.get(sid=sid_b)) == f"{month}_t{tenant_b.pk}"

    result = partitions_maintain(now=_at(2025, 3), ahead=0, retention_months=13)
    assert result.dropped == [f"{month}_tdefault"]  # the default leaf dropped whole, and made again, empty
    assert _leaves(month) == [f"{month}_t{tenant_b.pk}", f"{month}_tdefault"]
    assert not StatusEvent.objects.filter(sid=sid_a).exists()
    assert StatusEvent.objects.filter(sid=sid_b).exists()
    # A late row of another tenant for that month still has somewhere to go, and the per-leaf dedup holds there.
    callback_apply(tenant_id=tenant_a.pk, callback=_callback("undelivered", sid_a), received_at=_at(2024, 1))
    callback_apply(tenant_id=tenant_a.pk, callback=_callback("undelivered", sid_a), received_at=_at(2024, 1))
    assert StatusEvent.objects.filter(sid=sid_a).count() == 1
    # An empty expired default leaf is left alone.
    assert partitions_maintain(now=_at(2025, 3), ahead=0, retention_months=13).dropped == [f"{month}_tdefault"]
    assert partitions_maintain(now=_at(2025, 3), ahead=0, retention_months=13).dropped == []


def test_with_an_archive_folder_each_dropped_partition_is_written_there_first(tenant_a, settings, tmp_path):
    import csv
    import gzip

    settings.RETENTION_ARCHIVE_DIR = str(tmp_path / "archive")
    partitions_maintain(now=_at(2024, 1), ahead=0, retention_months=0)
    MessageFactory(campaign=CampaignFactory(tenant=tenant_a), status=S.SENT, sid=SID)
    callback_apply(tenant_id=tenant_a.pk, callback=_callback("delivered"), received_at=_at(2024, 1))
    result = partitions_maintain(now=_at(2025, 3), ahead=0, retention_months=13)
    path = tmp_path / "archive" / f"{TABLE}_p202401.csv.gz"
    assert str(path) in result.archived
    with gzip.open(path, "rt", newline="") as archived:
        rows = list(csv.DictReader(archived))
    assert [(r["sid"], r["status"], r["tenant_id"]) for r in rows] == [(SID, "delivered", str(tenant_a.pk))]
    assert not list((tmp_path / "archive").glob("*.partial"))


def test_a_month_not_split_by_tenant_follows_the_servers_retention(tenant_a):
    """A month attached as a plain table (by hand, or an older layout) is neither split nor dropped early."""
    month = f"{TABLE}_p202401"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{month}" (LIKE "{TABLE}" INCLUDING DEFAULTS)')
        cursor.execute(
            f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{month}" '
            "FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00')"
        )
    tenant_a.event_retention_months = 1
    tenant_a.save(update_fields=["event_retention_months"])
    result = partitions_maintain(now=_at(2024, 6), ahead=0, retention_months=13)
    assert month not in result.dropped and not [n for n in result.created if n.startswith(month)]
    assert month in partitions_of(TABLE) and partitions_of(month) == []  # still plain
    result = partitions_maintain(now=_at(2025, 3), ahead=0, retention_months=13)
    assert month in result.dropped and month not in partitions_of(TABLE)
