"""What the benchmarks share: a database of their own beside the one DATABASE_URL names."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse, urlunparse


def bench_database_url(suffix: str) -> str:
    """``BENCH_DATABASE_URL``, else DATABASE_URL's database with ``_<suffix>`` added (PostgreSQL only)."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit(f"Set DATABASE_URL to a PostgreSQL server (the benchmark uses <name>_{suffix} on it).")
    if os.environ.get("BENCH_DATABASE_URL"):
        return url
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=parsed.path.rstrip("/") + f"_{suffix}"))


def bench_secrets() -> None:
    """Throw-away secrets for this run, shared with the servers and workers it starts (production settings
    refuse the published development keys, and a worker must decrypt what the bench process encrypted)."""
    from cryptography.fernet import Fernet

    os.environ.setdefault("SECRET_KEY", "bench-" + Fernet.generate_key().decode())
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())


def django_setup(url: str) -> None:
    """Django on the benchmark's database, production-like: no query log (with DEBUG, Django keeps the last
    9,000 statements, memory the code under test does not use), any host. The settings require Redis."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")
    os.environ.setdefault("DEBUG", "1")
    bench_secrets()
    if not os.environ.get("REDIS_URL"):
        sys.exit("Set REDIS_URL (the settings require Redis).")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]


def ensure_database(url: str) -> None:
    """Create the database ``url`` names unless it exists."""
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(urlunparse(parsed._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def contacts_copy(tenant_id: int, n: int) -> None:
    """``n`` contacts for one tenant by one COPY (distinct US numbers, a few first and last names)."""
    import io

    from django.db import connection

    buf = io.StringIO()
    for i in range(n):
        phone = f"+1{415 + i // 8_000_000}{2_000_000 + i % 8_000_000:07d}"
        buf.write(f"{tenant_id}\t{phone}\tFirst{i % 977}\tLast{i % 613}\t\t\t{{}}\tgranted\t\t\\N\t\tnow\tnow\n")
    buf.seek(0)
    with connection.cursor() as cur:
        cur.copy_expert(
            "COPY contacts_contact (tenant_id, phone_number, first_name, last_name, email, timezone, custom_fields, "
            "consent_status, consent_source, consent_at, consent_text, created_at, updated_at) FROM STDIN",
            buf,
        )
        cur.execute("ANALYZE contacts_contact")


def bench_campaign(*, n: int, slug: str, name: str, account_sid: str, auth_token: str, sender: str):
    """A clean slate, then a tenant (quiet hours off), ``n`` contacts and a campaign fanned out: ``n`` pending
    messages, each with its own link. The send and resolution benchmarks start from it."""
    import datetime as dt

    from django.db import connection

    from campaigns.models import Campaign, CampaignStatus
    from campaigns.sending.fanout import messages_materialise
    from tenants.models import Tenant

    with connection.cursor() as cur:
        # Other tenants' messages (the growth benchmark's millions, bench/growth) are kept: only this tenant's
        # rows go. Otherwise the tables are truncated.
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM campaigns_message WHERE tenant_id <> "
            "coalesce((SELECT id FROM tenants_tenant WHERE slug = %s), 0))",
            [slug],
        )
        if cur.fetchone()[0]:
            own = (
                "(SELECT c.id FROM campaigns_campaign c JOIN tenants_tenant t ON t.id = c.tenant_id WHERE t.slug = %s)"
            )
            for table in (
                "links_shortlink",
                "campaigns_messagestatuscount",
                "campaigns_messagecheck",
                "campaigns_message",
            ):
                column = "message_id IN (SELECT id FROM campaigns_message WHERE campaign_id IN " + own + ")"  # noqa: S608
                where = column if table == "campaigns_messagecheck" else f"campaign_id IN {own}"
                cur.execute(f"DELETE FROM {table} WHERE {where}", [slug])  # noqa: S608 - constant names
            cur.execute(
                "DELETE FROM contacts_contact WHERE tenant_id IN (SELECT id FROM tenants_tenant WHERE slug = %s)",
                [slug],
            )
        else:
            cur.execute(
                "TRUNCATE campaigns_message, links_shortlink, campaigns_messagestatuscount, campaigns_campaign, "
                "contacts_contact, compliance_suppression CASCADE"
            )
    # Each run has its own throw-away key (bench_secrets): an earlier run's token is unreadable, so blank it first.
    Tenant.objects.filter(slug=slug).update(twilio_auth_token="")
    tenant, _ = Tenant.objects.update_or_create(
        slug=slug,
        defaults={
            "name": name,
            "twilio_account_sid": account_sid,
            "twilio_auth_token": auth_token,
            "sender": sender,
            "sending_paused_reason": "",
        },
    )
    tenant.quiet_hours_start, tenant.quiet_hours_end = dt.time(0), dt.time(23, 59, 59, 999999)
    tenant.legal_quiet_hours = False  # measure the machine, whatever the hour in the US
    tenant.save()
    contacts_copy(tenant.pk, n)
    campaign = Campaign.objects.create(
        tenant=tenant,
        name=name,
        body="Hi {{first_name}}, our spring sale starts now: {{link}}",
        link_url="https://shop.example.com/spring",
        status=CampaignStatus.SENDING,
    )
    messages_materialise(campaign_id=campaign.pk)
    return campaign
