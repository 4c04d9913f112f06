"""A realistic demo for the analytics pages (``manage.py seed_dashboard_demo``), written through the real writers.

Every number the dashboard shows comes from the same places as in production: messages move through
``campaigns.transitions.message_move`` (the status counters), clicks through ``links.services.clicks_record``
(the click counters and buckets), opt-outs through ``compliance.inbound.inbound_receive``. Only time is
staged, so the charts have a campaign's shape instead of one spike at "now": click events carry their (past)
timestamps, messages their sent/delivered times, the campaign rows their start and end, and the minute of
each status arrival the counters just recorded (``_backdate``) is moved back to when it would have happened.
A demo device, never done outside this module.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, Max, Value, When
from django.utils import timezone
from iptocc import country_code

from compliance.inbound import inbound_receive
from compliance.models import InboundMessage
from contacts.models import Contact
from links.capture import click_event
from links.services import clicks_record, short_links_create_for_messages
from tenants.models import Tenant

from .counters import counts_add
from .models import Campaign, CampaignStatus, Message, MessageStatusCount
from .models import MessageStatus as S
from .transitions import message_move

# (user agent, weight) of people; bots apart.
PEOPLE = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1", 40),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36", 16),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
        "Chrome/117.0 Mobile Safari/537.36",
        14,
    ),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1", 6),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Safari/605.1.15",
        8,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36", 10),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 6),
]
BOTS = [
    ("WhatsApp/2.23.20.0", 40),
    ("facebookexternalhit/1.1", 25),
    ("Slackbot-LinkExpanding 1.0", 15),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 10),
    ("TelegramBot (like TwitterBot)", 10),
]
# An address per country (truncated to /24 on capture, as real clicks are); 203.0.113.x has no country.
COUNTRIES = [
    ("8.8.8.1", 62),
    ("24.48.0.1", 9),
    ("81.2.69.1", 8),
    ("5.9.0.1", 5),
    ("62.210.0.1", 4),
    ("1.1.1.1", 4),
    ("95.16.0.1", 3),
    ("177.0.0.1", 3),
    ("203.0.113.1", 2),
]
UNDELIVERED_CODES = [(30003, 5), (30005, 3), (30006, 2), (30007, 2)]
FAILED_CODES = [(21211, 3), (21614, 2), (30004, 1)]


@dataclass
class DemoCampaign:
    name: str
    days_ago: float
    recipients: int
    variants: list[dict] | None
    click_rates: tuple[float, ...]  # per variant (or one)
    undelivered: float = 0.04
    failed: float = 0.02
    suppressed: float = 0.015
    opt_out: float = 0.012
    status: str = CampaignStatus.SENT
    body: str = "Hi {{first_name|there}}, {{link}}"


DEMO_CAMPAIGNS = [
    DemoCampaign("Spring collection launch", 24, 420, None, (0.14,), undelivered=0.05, opt_out=0.01),
    DemoCampaign("Loyalty points reminder", 17, 300, None, (0.09,), undelivered=0.03, opt_out=0.02),
    DemoCampaign("Weekend flash sale", 9, 520, None, (0.19,), undelivered=0.06, failed=0.03, opt_out=0.015),
    DemoCampaign("New store opening: Austin", 4, 260, None, (0.11,), undelivered=0.03, opt_out=0.008),
    DemoCampaign(
        "Black Friday early access",
        0.13,
        1400,
        [
            {"body": "Black Friday starts now: 30% off everything until Sunday. Shop first: {{link}}", "percent": 50},
            {
                "body": "{{first_name|Hi}}, your code FRIDAY30 takes 30% off before anyone else. Early access: "
                "{{link}}",
                "percent": 50,
            },
        ],
        (0.16, 0.23),
        body="Black Friday starts now: 30% off everything until Sunday. Shop first: {{link}}",
    ),
]


def _address(rng: random.Random, ip: str) -> str:
    """Another /24 of the same country as ``ip``: people come from many networks, not one. (All the demo's
    clicks land in one stretch of minutes; from a single network the fraud guard would rightly call that a
    surge, guard/abuse.py.)"""
    a, b, _, d = ip.split(".")
    for _ in range(8):
        other = f"{a}.{b}.{rng.randrange(256)}.{d}"
        if country_code(other) == country_code(ip):
            return other
    return ip


def _pick(rng: random.Random, weighted: list[tuple]) -> object:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted], k=1)[0]


def _contacts(tenant: Tenant, *, start: int, count: int) -> list[Contact]:
    first_names = ["Ada", "Grace", "Alan", "Maya", "Leo", "Noor", "Sam", "Iris", "Omar", "Zoe", "Ravi", "Lena"]
    rows = [
        Contact(
            tenant=tenant,
            phone_number=f"+1415{7000000 + start + i:07d}",
            first_name=first_names[(start + i) % len(first_names)],
            consent_status="granted",
        )
        for i in range(count)
    ]
    Contact.objects.bulk_create(rows, ignore_conflicts=True)
    numbers = [c.phone_number for c in rows]
    return list(Contact.objects.filter(tenant=tenant, phone_number__in=numbers).order_by("phone_number"))


def _seed_one(tenant: Tenant, spec: DemoCampaign, *, start: int, rng: random.Random, now: dt.datetime) -> Campaign:
    started = now - dt.timedelta(days=spec.days_ago)
    networks = random.Random(start)
    send_minutes = max(6, spec.recipients // 35)  # the sender's pace: about 35 messages a minute
    campaign = Campaign.objects.create(
        tenant=tenant,
        name=spec.name,
        body=spec.body,
        link_url="https://shop.example.com/sale",
        variants=spec.variants or [],
        status=spec.status,
    )
    contacts = _contacts(tenant, start=start, count=spec.recipients)
    n_variants = len(spec.variants or []) or 1
    messages = Message.objects.bulk_create(
        [
            Message(
                tenant=tenant,
                campaign=campaign,
                contact=c,
                to=c.phone_number,
                body=(spec.variants[i % n_variants]["body"] if spec.variants else spec.body),
                variant=(i % n_variants) if spec.variants else None,
            )
            for i, c in enumerate(contacts)
        ]
    )
    counts_add(campaign_id=campaign.pk, deltas={S.PENDING: len(messages)})
    codes = short_links_create_for_messages(
        tenant=tenant,
        campaign_id=campaign.pk,
        target_url=campaign.link_url,
        message_ids=[m.pk for m in messages],
    )
    events: list[dict] = []
    delivered: list[tuple[Message, dt.datetime]] = []
    last_row = MessageStatusCount.objects.aggregate(m=Max("id"))["m"] or 0
    for i, message in enumerate(messages):
        roll = rng.random()
        sent_at = started + dt.timedelta(minutes=send_minutes * i / len(messages), seconds=rng.uniform(0, 20))
        delivered_at = sent_at + dt.timedelta(seconds=rng.uniform(2, 40))
        outcome = _move(message, roll=roll, spec=spec, rng=rng, sent_at=sent_at, delivered_at=delivered_at)
        last_row = _backdate(campaign.pk, after_id=last_row, sent_at=sent_at, delivered_at=delivered_at)
        if outcome != S.DELIVERED:
            continue
        delivered.append((message, delivered_at))
        code = codes[message.pk]
        if rng.random() < 0.09:  # a link preview fetched it when it arrived
            when = delivered_at + dt.timedelta(seconds=rng.uniform(1, 30))
            method = rng.choice(["GET", "HEAD"])
            events.append(_event(code, _pick(rng, BOTS), _pick(rng, COUNTRIES), when, method=method))
        rate = spec.click_rates[message.variant or 0]
        if rng.random() < rate:
            # The networks from their own generator: the main one's draws (who clicks, when) stay as they were.
            agent, ip = _pick(rng, PEOPLE), _address(networks, _pick(rng, COUNTRIES))
            when = delivered_at + dt.timedelta(minutes=min(rng.expovariate(1 / 18), 170))
            events.append(_event(code, agent, ip, when))
            while rng.random() < 0.3:  # came back
                when += dt.timedelta(minutes=rng.uniform(1, 40))
                events.append(_event(code, agent, ip, when))
    events.sort(key=lambda e: e["ts"])
    for chunk in range(0, len(events), 500):
        clicks_record(events=events[chunk : chunk + 500])
    for message, delivered_at in rng.sample(delivered, k=round(len(delivered) * spec.opt_out)):
        sid = f"SM{uuid.uuid4().hex}"
        inbound_receive(
            tenant=tenant, params={"From": message.to, "To": tenant.sender, "Body": "STOP", "MessageSid": sid}
        )
        # The reply came in the hours after the text (backdated like the moves), not at seeding time.
        InboundMessage.objects.filter(tenant=tenant, sid=sid).update(
            received_at=delivered_at + dt.timedelta(minutes=min(rng.expovariate(1 / 40), 240))
        )
    finished = started + dt.timedelta(minutes=send_minutes + 1)
    Campaign.objects.filter(pk=campaign.pk).update(
        created_at=started - dt.timedelta(hours=2),
        send_at=started,
        started_at=started,
        finished_at=finished if spec.status == CampaignStatus.SENT else None,
        fanned_out_at=started,
    )
    campaign.refresh_from_db()
    return campaign


def _move(message: Message, *, roll: float, spec: DemoCampaign, rng: random.Random, sent_at, delivered_at) -> str:
    """Move one message along its (random) path through the real transitions; returns where it ended."""
    if roll < spec.suppressed:
        message_move(message_id=message.pk, to=S.SUPPRESSED)
        return S.SUPPRESSED
    message_move(message_id=message.pk, to=S.SENDING)
    if roll < spec.suppressed + spec.failed:
        message_move(message_id=message.pk, to=S.FAILED, error_code=_pick(rng, FAILED_CODES), sent_at=sent_at)
        return S.FAILED
    message_move(message_id=message.pk, to=S.QUEUED, sid=f"SM{uuid.uuid4().hex}", sent_at=sent_at)
    message_move(message_id=message.pk, to=S.SENT)
    if roll < spec.suppressed + spec.failed + spec.undelivered:
        message_move(message_id=message.pk, to=S.UNDELIVERED, error_code=_pick(rng, UNDELIVERED_CODES))
        return S.UNDELIVERED
    if roll > 0.995:  # no report yet
        return S.SENT
    message_move(message_id=message.pk, to=S.DELIVERED, delivered_at=delivered_at)
    return S.DELIVERED


def _backdate(campaign_id: int, *, after_id: int, sent_at: dt.datetime, delivered_at: dt.datetime) -> int:
    """Stage time: the arrivals just counted (``minute`` set) happened when the message went out, not now."""
    rows = MessageStatusCount.objects.filter(campaign_id=campaign_id, id__gt=after_id)
    last = rows.aggregate(m=Max("id"))["m"]
    if last is None:
        return after_id
    minute = sent_at.replace(second=0, microsecond=0)
    rows.filter(minute__isnull=False).update(
        minute=Case(
            When(status__in=[S.DELIVERED, S.READ], then=Value(delivered_at.replace(second=0, microsecond=0))),
            default=Value(minute),
        )
    )
    return last


def _event(code: str, agent: str, ip: str, when: dt.datetime, method: str = "GET") -> dict:
    event = click_event(code=code, user_agent=agent, ip=ip, method=method)
    event["ts"] = min(when.timestamp(), event["ts"] - 60)  # never in the future
    return event


def demo_analytics_seed(*, tenant: Tenant, scale: float = 1.0, seed: int = 8) -> list[Campaign]:
    """Create the demo campaigns for ``tenant`` (oldest first); returns them, the A/B one last."""
    rng = random.Random(seed)
    now = timezone.now()
    made, start = [], 0
    for spec in DEMO_CAMPAIGNS:
        sized = DemoCampaign(**{**spec.__dict__, "recipients": max(20, int(spec.recipients * scale))})
        with transaction.atomic():
            made.append(_seed_one(tenant, sized, start=start, rng=rng, now=now))
        start += sized.recipients
    return made
