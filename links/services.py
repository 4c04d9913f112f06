"""Writes for short links and their clicks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import ipaddress
import logging
import secrets
import string
import uuid
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from analytics.services import click_aggregates_add
from common.db import copy_escape, copy_value, pg_values
from common.enqueue import task_enqueue
from guard.abuse import CLICK_SURGE_REASON, ClickSurges
from integrations.events import clicks_events_emit
from tenants.models import Tenant

from .capture import (
    cache_ttl,
    cache_value,
    is_web_url,
    link_cache_forget,
    links_cache_forget,
    links_cache_warm,
    redirect_target,
)
from .clickinfo import country_for, user_agent_info
from .domains import domains_forget, host_clean
from .models import CampaignClickCount, Click, DomainMethod, LinkDomain, LinkExpiry, ShortLink
from .verification import Fetch, Lookup, check_dns, check_http

logger = logging.getLogger(__name__)

ALPHABET = string.ascii_letters + string.digits  # base62
CODE_LENGTH = 8
MAX_ATTEMPTS = 5
#: Rows per INSERT and per read-back; tens of thousands of links take a few round trips.
BULK_CHUNK = 10_000


# Random bytes → base62 without bias: bytes 0..247 map to ALPHABET[b % 62] (248 = 4 × 62),
# bytes 248..255 are dropped. ``bytes.translate`` does it in C, a whole batch at once.
_BYTE_TO_CHAR = bytes(ord(ALPHABET[b % 62]) if b < 248 else 0 for b in range(256))
_DROPPED = bytes(range(248, 256))


def codes_generate(count: int) -> list[str]:
    """``count`` random 8-character base62 codes from ``secrets`` (one draw for the whole batch)."""
    need = count * CODE_LENGTH
    chars = b""
    while len(chars) < need:
        chars += secrets.token_bytes(need - len(chars) + need // 16 + 8).translate(_BYTE_TO_CHAR, _DROPPED)
    text = chars[:need].decode("ascii")
    return [text[i : i + CODE_LENGTH] for i in range(0, need, CODE_LENGTH)]


def code_generate() -> str:
    return codes_generate(1)[0]


def short_link_base(tenant_id: int | None = None) -> str:
    """Where a tenant's new links point: ``https://<host>`` of its verified domain in use, else the shared
    ``SHORT_LINK_BASE_URL``. One indexed query; the fan-out asks once per chunk."""
    if tenant_id is not None:
        host = (
            LinkDomain.objects.filter(tenant_id=tenant_id, active=True, verified_at__isnull=False)
            .values_list("host", flat=True)
            .first()
        )
        if host:
            return f"https://{host}"
    return settings.SHORT_LINK_BASE_URL


def short_url(code: str, *, base: str | None = None) -> str:
    return f"{base or settings.SHORT_LINK_BASE_URL}/{code}"


def short_url_length(tenant_id: int | None = None) -> int:
    """Characters a short link takes in a message body (known before any code exists)."""
    return len(short_url("x" * CODE_LENGTH, base=short_link_base(tenant_id)))


def link_expiry_for(*, campaign_id: int | None, now: dt.datetime) -> dt.datetime | None:
    """When links made ``now`` for the campaign expire (its ``LinkExpiry``), or None."""
    if campaign_id is None:
        return None
    rule = LinkExpiry.objects.filter(campaign_id=campaign_id).values_list("expires_at", "ttl_days").first()
    if rule is None:
        return None
    expires_at, ttl_days = rule
    return expires_at if expires_at is not None else now + dt.timedelta(days=ttl_days)


def short_links_create_for_messages(
    *, tenant: Tenant, campaign_id: int, target_url: str, message_ids: Sequence[int], warm: str = "now"
) -> dict[int, str]:
    """One new link per message, in bulk; returns ``{message_id: code}``. Safe to rerun.

    All the links go in with one ``COPY`` inside a savepoint (three queries
    whatever the count). A code already taken (62^8 codes: rare) or a
    message that already has its link (a rerun) breaks a unique index: the COPY
    is undone as a whole and the careful path runs instead, per 10,000 messages
    one ``INSERT … ON CONFLICT DO NOTHING RETURNING``: a message that already had
    a link keeps it (read back only then), a collided code is retried with a new
    one. Once committed, the new codes are put in the redirect's lookup cache: at
    once (``warm="now"``), or by a worker (``warm="task"``, the fan-out's choice,
    so 100,000 cache writes never slow the fan-out itself).
    """
    from campaigns.models import Campaign

    # The campaign's name (for utm_campaign) and its link expiry rule, in one query.
    rule = LinkExpiry.objects.filter(campaign_id=OuterRef("pk"))
    row = (
        Campaign.objects.filter(pk=campaign_id)
        .annotate(rule_at=Subquery(rule.values("expires_at")[:1]), rule_days=Subquery(rule.values("ttl_days")[:1]))
        .values_list("name", "rule_at", "rule_days")
        .first()
    )
    campaign_name, rule_at, rule_days = row or ("", None, None)
    now = timezone.now()
    expires_at = rule_at if rule_at is not None else now + dt.timedelta(days=rule_days) if rule_days else None
    cached_value = cache_value(
        target=redirect_target(target_url, campaign_id=campaign_id, campaign_name=campaign_name),
        expires_at=expires_at,
        tenant_id=tenant.pk,
    )
    result: dict[int, str] = {}
    created: list[str] = []
    unique_ids = list(dict.fromkeys(message_ids))
    if unique_ids:
        tried = dict(zip(unique_ids, codes_generate(len(unique_ids)), strict=True))
        if _links_copy(
            tenant_id=tenant.pk,
            campaign_id=campaign_id,
            target_url=target_url,
            codes=tried,
            now=now,
            expires_at=expires_at,
        ):
            result, created, unique_ids = tried, list(tried.values()), []
    for start in range(0, len(unique_ids), BULK_CHUNK):
        pending = unique_ids[start : start + BULK_CHUNK]
        for _attempt in range(MAX_ATTEMPTS):
            tried = dict(zip(pending, codes_generate(len(pending)), strict=True))
            inserted = _links_insert(
                tenant=tenant,
                campaign_id=campaign_id,
                target_url=target_url,
                codes=tried,
                now=now,
                expires_at=expires_at,
            )
            for mid, code in inserted:
                result[mid] = code
                created.append(code)
            missing = [mid for mid in pending if mid not in result]
            if missing:
                # Messages that already had a link (a rerun) keep it; a collided code is retried.
                result.update(ShortLink.objects.filter(message_id__in=missing).values_list("message_id", "code"))
            pending = [mid for mid in pending if mid not in result]
            if not pending:
                break
        if pending:
            raise RuntimeError(f"Could not create short links for {len(pending)} messages")
    if created and warm == "task":
        task_enqueue("links.tasks.short_links_warm", kwargs={"campaign_id": campaign_id, "codes": created})
    elif created:
        ttl = cache_ttl(expires_at)
        entries = [(code, cached_value, ttl) for code in created]
        transaction.on_commit(lambda: links_cache_warm(entries))
    return result


def short_links_cache_warm(*, campaign_id: int, codes: Sequence[str]) -> int:
    """Put a campaign's codes in the redirect's lookup cache (they share one target). Returns how many."""
    from campaigns.models import Campaign

    link = ShortLink.objects.filter(campaign_id=campaign_id, code__in=list(codes[:1])).first()
    if link is None:
        return 0
    name = Campaign.objects.filter(pk=campaign_id).values_list("name", flat=True).first() or ""
    # A chunk's links were made in one call: one target, one tenant, one expiry.
    value = cache_value(
        target=redirect_target(link.target_url, campaign_id=campaign_id, campaign_name=name),
        expires_at=link.expires_at,
        tenant_id=link.tenant_id,
    )
    ttl = cache_ttl(link.expires_at)
    links_cache_warm([(code, value, ttl) for code in codes])
    return len(codes)


def _links_insert(
    *,
    tenant: Tenant,
    campaign_id: int,
    target_url: str,
    codes: dict[int, str],
    now: dt.datetime,
    expires_at: dt.datetime | None,
):
    """Insert ``{message_id: code}`` skipping conflicts; returns the ``(message_id, code)`` pairs inserted.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING``: one round trip.
    """
    return pg_values(
        f"INSERT INTO {ShortLink._meta.db_table} "  # noqa: S608 - constant identifiers, bound values
        "(tenant_id, code, target_url, campaign_id, message_id, created_at, human_clicks, bot_hits, expires_at) "
        "VALUES {values} ON CONFLICT DO NOTHING RETURNING message_id, code",
        [(tenant.pk, code, target_url, campaign_id, mid, now, 0, 0, expires_at) for mid, code in codes.items()],
        fetch=True,
    )


def _links_copy(
    *,
    tenant_id: int,
    campaign_id: int,
    target_url: str,
    codes: dict[int, str],
    now: dt.datetime,
    expires_at: dt.datetime | None,
) -> bool:
    """``{message_id: code}`` in one ``COPY`` within a savepoint. True if every row went in; False (and
    nothing written) if one broke a unique index: a taken code, or a message that already has a link."""
    head = f"{tenant_id}\t"
    middle = f"\t{copy_escape(target_url)}\t{campaign_id}\t"
    tail = f"\t{now.isoformat()}\t0\t0\t{copy_value(expires_at)}\n"
    buf = io.StringIO("".join([head + code + middle + str(mid) + tail for mid, code in codes.items()]))
    sql = (
        f"COPY {ShortLink._meta.db_table} "
        "(tenant_id, code, target_url, campaign_id, message_id, created_at, human_clicks, bot_hits, expires_at) "
        "FROM STDIN"
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
            cursor.cursor.copy_expert(sql, buf)
    except IntegrityError:
        logger.info("links: the bulk COPY hit a taken code or an existing link; taking the careful path")
        return False
    return True


def short_link_create(
    *, tenant: Tenant, target_url: str, campaign_id: int | None = None, expires_at: dt.datetime | None = None
) -> ShortLink:
    """One link outside a campaign fan-out (a test, a one-off), with a fresh code.

    Raises ``ValueError`` for a target that is not http(s): the redirect would never follow it.
    """
    if not is_web_url(target_url):
        raise ValueError("A short link's target must start with http:// or https://.")
    for _attempt in range(MAX_ATTEMPTS):
        code = code_generate()
        if not ShortLink.objects.filter(code=code).exists():
            return ShortLink.objects.create(
                tenant=tenant, code=code, target_url=target_url, campaign_id=campaign_id, expires_at=expires_at
            )
    raise RuntimeError("Could not find a free short code")


def short_link_changed(*, link: ShortLink) -> None:
    """Call after a link's target or expiry changed: the redirect stops serving the old one."""
    transaction.on_commit(lambda: link_cache_forget(link.code))


# --- clicks -------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _valid_ip(ip: str) -> str | None:
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


def _event_time(ts) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(ts), tz=dt.UTC)


CLICK_COLUMNS = (
    "event_id",
    "tenant_id",
    "link_id",
    "campaign_id",
    "message_id",
    "contact_id",
    "clicked_at",
    "method",
    "user_agent",
    "device_type",
    "os_family",
    "os_version",
    "browser_family",
    "browser_version",
    "device_brand",
    "device_model",
    "ip_address",
    "country",
    "is_bot",
    "bot_reason",
    "is_unique",
)


def _clicks_insert(rows: list[dict]) -> None:
    """Insert click rows: one ``INSERT … VALUES`` (no model instances on the hot loop)."""
    pg_values(
        f"INSERT INTO {Click._meta.db_table} ({', '.join(CLICK_COLUMNS)}) VALUES {{values}}",  # noqa: S608
        [tuple(str(row[c]) if c == "event_id" else row[c] for c in CLICK_COLUMNS) for row in rows],
    )


def _link_counters_save(links: list[ShortLink]) -> None:
    """Store the new counters of locked links: one ``UPDATE … FROM (VALUES …)``."""
    pg_values(
        f"UPDATE {ShortLink._meta.db_table} AS l SET human_clicks = v.h, bot_hits = v.b, "  # noqa: S608
        "first_clicked_at = v.f::timestamptz, last_clicked_at = v.la::timestamptz "
        "FROM (VALUES {values}) AS v(id, h, b, f, la) WHERE l.id = v.id",
        [(x.id, x.human_clicks, x.bot_hits, x.first_clicked_at, x.last_clicked_at) for x in links],
    )


def clicks_record(*, events: Sequence[dict]) -> int:
    """Write raw click events (as queued by ``links.capture.click_event``); returns how many were new.

    Idempotent: an event already written (same ``e``) is skipped, so a batch
    replayed after a crash is written once. Link rows are locked in id order, so
    concurrent writers serialise per link and the first human click of a
    recipient is marked unique exactly once. Counters of links and campaigns, and
    the analytics buckets and breakdowns, move in the same transaction as the
    clicks they count.
    """
    parsed: dict[uuid.UUID, dict] = {}
    for event in events:
        try:
            parsed[uuid.UUID(hex=str(event["e"]))] = event
        except (KeyError, ValueError, TypeError):
            logger.warning("links: dropped a malformed click event")
    if not parsed:
        return 0
    codes = {str(e.get("c", "")) for e in parsed.values()}
    links = {
        row["code"]: row
        for row in ShortLink.objects.filter(code__in=codes).values(
            "id", "code", "tenant_id", "campaign_id", "message_id", "message__contact_id", "message__variant"
        )
    }
    orphans = [eid for eid, e in parsed.items() if e.get("c") not in links]
    if orphans:
        logger.warning("links: dropped %d clicks on codes that no longer exist", len(orphans))
        for eid in orphans:
            del parsed[eid]
    if not parsed:
        return 0

    link_ids = sorted({links[e["c"]]["id"] for e in parsed.values()})
    with transaction.atomic():
        locked = {
            link.id: link
            for link in ShortLink.objects.select_for_update()
            .filter(id__in=link_ids)
            .order_by("id")
            .only("id", "human_clicks", "bot_hits", "first_clicked_at", "last_clicked_at")
        }
        # Narrowed to the batch's times and tenants, so the check probes the one or two leaves (month × tenant) the
        # batch's clicks live in, not every partition's dedup index (an event's time and tenant come with it).
        when_of = {eid: _event_time(e.get("ts", 0)) for eid, e in parsed.items()}
        done = set(
            Click.objects.filter(
                event_id__in=list(parsed),
                clicked_at__gte=min(when_of.values()),
                clicked_at__lte=max(when_of.values()),
                tenant_id__in={links[e["c"]]["tenant_id"] for e in parsed.values()},
            ).values_list("event_id", flat=True)
        )
        fresh = sorted(
            ((eid, e) for eid, e in parsed.items() if eid not in done), key=lambda item: float(item[1].get("ts", 0))
        )
        if not fresh:
            return 0
        clicks: list[dict] = []
        per_campaign: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tenant, clicks, unique, bots
        # The fraud guard: past a network's allowance in its window, a click is a bot hit, not a human click.
        surges = ClickSurges((links[e["c"]]["tenant_id"], str(e.get("ip", ""))) for _eid, e in fresh)
        touched: dict[int, ShortLink] = {}
        for eid, event in fresh:
            row = links[event["c"]]
            link = locked.get(row["id"])
            if link is None:  # deleted meanwhile
                continue
            when = when_of[eid]
            method = "HEAD" if event.get("m") == "HEAD" else "GET"
            ua = str(event.get("ua", ""))[:512]
            info = user_agent_info(ua, method)
            if not info.is_bot and surges.is_surge(row["tenant_id"], str(event.get("ip", ""))):
                info = dataclasses.replace(info, is_bot=True, bot_reason=CLICK_SURGE_REASON)
            is_unique = False
            if info.is_bot:
                link.bot_hits += 1
            else:
                is_unique = link.human_clicks == 0
                link.human_clicks += 1
                if link.first_clicked_at is None or when < link.first_clicked_at:
                    link.first_clicked_at = when
                if link.last_clicked_at is None or when > link.last_clicked_at:
                    link.last_clicked_at = when
            touched[link.id] = link
            if row["campaign_id"]:
                counts = per_campaign[row["campaign_id"]]
                counts[0] = row["tenant_id"]
                counts[1 if not info.is_bot else 3] += 1
                counts[2] += int(is_unique)
            ip = _valid_ip(str(event.get("ip", "")))
            clicks.append(
                dict(
                    event_id=eid,
                    tenant_id=row["tenant_id"],
                    link_id=row["id"],
                    campaign_id=row["campaign_id"],
                    message_id=row["message_id"],
                    contact_id=row["message__contact_id"],
                    clicked_at=when,
                    method=method,
                    user_agent=ua,
                    device_type=info.device_type,
                    os_family=info.os_family,
                    os_version=info.os_version,
                    browser_family=info.browser_family,
                    browser_version=info.browser_version,
                    device_brand=info.device_brand,
                    device_model=info.device_model,
                    ip_address=ip,
                    country=country_for(ip),
                    is_bot=info.is_bot,
                    bot_reason=info.bot_reason,
                    is_unique=is_unique,
                )
            )
        _clicks_insert(clicks)
        _link_counters_save(list(touched.values()))
        click_aggregates_add(
            clicks=clicks, variant_of_message={row["message_id"]: row["message__variant"] for row in links.values()}
        )
        clicks_events_emit(clicks=clicks, code_of_link={row["id"]: code for code, row in links.items()})
        if per_campaign:
            CampaignClickCount.objects.bulk_create(
                [CampaignClickCount(campaign_id=cid, tenant_id=c[0]) for cid, c in per_campaign.items()],
                ignore_conflicts=True,
            )
            for cid, (_tenant, human, unique, bots) in sorted(per_campaign.items()):
                CampaignClickCount.objects.filter(campaign_id=cid).update(
                    clicks=F("clicks") + human, unique_clicks=F("unique_clicks") + unique, bot_hits=F("bot_hits") + bots
                )
    return len(clicks)


# --- branded domains ------------------------------------------------------------------------------------------------


def link_domain_host_check(*, tenant: Tenant, host: str, domain_id: int | None = None) -> str:
    """``host`` cleaned (``links.domains.host_clean``), or ValidationError naming ``host``: not a domain, one this
    tenant already added, or one another tenant has verified."""
    try:
        clean = host_clean(host)
    except ValidationError as exc:
        raise ValidationError({"host": exc.messages}) from exc
    others = LinkDomain.objects.filter(host=clean).exclude(pk=domain_id)
    if others.filter(tenant=tenant).exists():
        raise ValidationError({"host": ["You already added this domain."]})
    if others.exclude(tenant=tenant).filter(verified_at__isnull=False).exists():
        raise ValidationError({"host": ["This domain is in use by another account."]})
    return clean


def link_domain_create(*, tenant: Tenant, host: str, method: str = DomainMethod.DNS, active: bool = True) -> LinkDomain:
    """Add a domain (unverified, with a fresh token). ``active``: new links use it once verified (the tenant's
    other domains stop being the one in use)."""
    clean = link_domain_host_check(tenant=tenant, host=host)
    if method not in DomainMethod.values:
        raise ValidationError({"method": [f"Choose one of: {', '.join(DomainMethod.values)}."]})
    with transaction.atomic():
        if active:
            LinkDomain.objects.filter(tenant=tenant, active=True).update(active=False)
        try:
            with transaction.atomic():
                domain = LinkDomain.objects.create(tenant=tenant, host=clean, method=method, active=active)
        except IntegrityError as exc:  # the same host added twice at once
            raise ValidationError({"host": ["You already added this domain."]}) from exc
    domains_forget()
    return domain


def link_domain_update(*, domain: LinkDomain, method: str | None = None, active: bool | None = None) -> LinkDomain:
    """Change how a domain is verified, or whether new links use it (the host itself never changes: add another)."""
    with transaction.atomic():
        if method is not None:
            if method not in DomainMethod.values:
                raise ValidationError({"method": [f"Choose one of: {', '.join(DomainMethod.values)}."]})
            domain.method = method
        if active is not None:
            if active:
                LinkDomain.objects.filter(tenant_id=domain.tenant_id, active=True).exclude(pk=domain.pk).update(
                    active=False
                )
            domain.active = active
        domain.save(update_fields=["method", "active"])
    domains_forget()
    return domain


def link_domain_verify(*, domain: LinkDomain, fetch: Fetch | None = None, lookup: Lookup | None = None) -> LinkDomain:
    """Check the domain's token by its method (the network call outside any transaction), then record the result.

    Success verifies it (unless another tenant verified the same host first); a failure is kept in ``last_error``
    and leaves an already verified domain verified (a DNS hiccup must not break links already sent).
    """
    if domain.method == DomainMethod.HTTP:
        error = check_http(domain.host, domain.token, fetch=fetch)
    else:
        error = check_dns(domain.host, domain.token, lookup=lookup)
    now = timezone.now()
    with transaction.atomic():
        locked = LinkDomain.objects.select_for_update().get(pk=domain.pk)
        locked.last_checked_at = now
        if not error and (
            LinkDomain.objects.filter(host=locked.host, verified_at__isnull=False).exclude(pk=locked.pk).exists()
        ):
            error = "This domain is in use by another account."
        locked.last_error = error[:500]
        if not error and locked.verified_at is None:
            locked.verified_at = now
        try:
            with transaction.atomic():
                locked.save(update_fields=["last_checked_at", "last_error", "verified_at"])
        except IntegrityError:  # another tenant verified the same host in the meantime
            locked.verified_at = None
            locked.last_error = "This domain is in use by another account."
            locked.save(update_fields=["last_checked_at", "last_error", "verified_at"])
    domains_forget()
    logger.info("links: domain %s of tenant %s checked: %s", locked.pk, locked.tenant_id, "ok" if not error else "no")
    return locked


def link_domain_delete(*, domain: LinkDomain) -> None:
    """Remove a domain: its links stop answering on it at once (they still work on the shared domain)."""
    domain.delete()
    domains_forget()


# --- link expiry ----------------------------------------------------------------------------------------------------

#: Ten years: longer is "never" (and past what a date can hold).
MAX_TTL_DAYS = 3650


def link_expiry_set(
    *, campaign, expires_at: dt.datetime | None = None, ttl_days: int | None = None
) -> LinkExpiry | None:
    """Set (or with neither value, remove) when a campaign's links stop redirecting; links already made follow.

    ``expires_at``: one moment for all; ``ttl_days``: that many days after each link was made. The links' cached
    lookups are dropped after commit (a task, by campaign) so the redirect reads the new expiry.
    """
    if expires_at is not None and ttl_days is not None:
        raise ValidationError({"ttl_days": ["Give an expiry time or a number of days, not both."]})
    if ttl_days is not None and not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise ValidationError({"ttl_days": [f"Between 1 and {MAX_TTL_DAYS} days."]})
    with transaction.atomic():
        links = ShortLink.objects.filter(campaign_id=campaign.pk)
        if expires_at is None and ttl_days is None:
            LinkExpiry.objects.filter(campaign_id=campaign.pk).delete()
            rule = None
            links.update(expires_at=None)
        else:
            rule, _ = LinkExpiry.objects.update_or_create(
                campaign_id=campaign.pk,
                defaults={"tenant_id": campaign.tenant_id, "expires_at": expires_at, "ttl_days": ttl_days},
            )
            if expires_at is not None:
                links.update(expires_at=expires_at)
            else:
                links.update(expires_at=F("created_at") + dt.timedelta(days=ttl_days))
        task_enqueue("links.tasks.short_links_forget", kwargs={"campaign_id": campaign.pk})
    return rule


def short_links_cache_forget(*, campaign_id: int) -> int:
    """Drop a campaign's codes from the redirect's lookup cache (after their expiry changed). Returns how many."""
    codes = list(ShortLink.objects.filter(campaign_id=campaign_id).values_list("code", flat=True))
    links_cache_forget(codes)
    return len(codes)
