"""The stack's database work, in a process of its own (``python -m faults.agent <command>``).

The harness runs inside pytest, whose Django is bound to the test database; the
stack has its own PostgreSQL, so everything that needs Django against it runs
here, with the stack's environment, and answers one JSON line on stdout.

    seed --contacts N --first-number K   a tenant (Twilio credentials of the fake, quiet hours always open,
         [--cancel-others]               a high sending rate), N contacts who consented, a draft campaign;
                                         first cancels every campaign still sending (an earlier case's)
    send --campaign ID                   campaigns.sending.campaign_send; never crashes (broker down)
    state --campaign ID                  campaign status, message counts by status, recipients
    stop-others --keep ID                cancel every other campaign still sending (a failed case's leftovers)
    journey-seed --contacts N ...        a tenant as ``seed`` does, an active journey (event ``signup`` → send
                                         "One" → wait → send "Two") and a ``signup`` event for every contact
    journey-state --journey ID           runs by status, the journey's messages by status
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys


def _setup() -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")
    django.setup()


def seed(*, contacts: int, first_number: int, rate: float, label: str) -> dict:
    import datetime as dt

    from django.utils import timezone

    from campaigns.models import Campaign
    from contacts.models import ConsentStatus, Contact
    from tenants.services import tenant_create

    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_hex(16)
    slug = f"faults-{label}-{secrets.token_hex(3)}"[:64]
    tenant, _user, _token = tenant_create(
        slug=slug,
        name=f"Faults {label}",
        admin_email=f"{slug}@faults.example",
        admin_password=secrets.token_urlsafe(12),
        twilio_account_sid=account_sid,
        twilio_auth_token=auth_token,
        sender="+14155550100",
        sending_rate=rate,
    )
    # Quiet hours that never close (campaigns.tests.conftest.always_open), so the hour of the run does not matter.
    tenant.quiet_hours_start = dt.time(0, 0)
    tenant.quiet_hours_end = dt.time(23, 59, 59, 999999)
    tenant.legal_quiet_hours = False
    tenant.save(update_fields=["quiet_hours_start", "quiet_hours_end", "legal_quiet_hours"])

    numbers = [f"+1415{2_000_000 + first_number + i:07d}" for i in range(contacts)]
    now = timezone.now()
    Contact.objects.bulk_create(
        Contact(
            tenant=tenant,
            phone_number=phone,
            first_name=f"First{i % 97}",
            last_name=f"Last{i % 61}",
            timezone="America/Los_Angeles",
            consent_status=ConsentStatus.GRANTED,  # marketing goes to those who said yes
            consent_source="faults seed",
            consent_at=now,
            consent_text="Yes to texts",
        )
        for i, phone in enumerate(numbers)
    )
    campaign = Campaign.objects.create(
        tenant=tenant,
        name=f"Faults {label}",
        body="Hi {{first_name}}, our spring sale starts today: {{link}}",
        link_url="https://shop.example/spring",
    )
    return {
        "tenant": tenant.pk,
        "account_sid": account_sid,
        "auth_token": auth_token,
        "campaign": campaign.pk,
        "recipients": numbers,
    }


JOURNEY_STEPS = [
    {"kind": "send", "body": "One: welcome {{first_name}}, here is {{code}}"},
    {"kind": "wait", "seconds": 3},
    {"kind": "send", "body": "Two: still there, {{first_name}}?"},
]


def journey_seed(*, contacts: int, first_number: int, rate: float, label: str) -> dict:
    """A tenant and contacts as ``seed`` makes them; an active journey on the event ``signup``; the events."""
    from campaigns.models import Campaign
    from contacts.models import Contact
    from journeys.models import Journey, TriggerEvent
    from journeys.services import journey_create, journey_set_status

    seeded = seed(contacts=contacts, first_number=first_number, rate=rate, label=label)
    Campaign.objects.filter(pk=seeded["campaign"]).delete()  # the journey's carriers are its only campaigns
    tenant_id = seeded["tenant"]
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    journey = journey_create(
        tenant=tenant, name=f"Faults {label}", trigger_kind="event", trigger_value="signup", steps=JOURNEY_STEPS
    )
    journey_set_status(journey=journey, status="active")
    TriggerEvent.objects.bulk_create(
        TriggerEvent(tenant=tenant, name="signup", contact=c, properties={"code": f"C{c.pk}"})
        for c in Contact.objects.filter(tenant=tenant)
    )
    assert Journey.objects.filter(pk=journey.pk, status="active").exists()
    return {**seeded, "campaign": None, "journey": journey.pk}


def journey_state(*, journey_id: int) -> dict:
    from django.db.models import Count

    from campaigns.models import Message
    from journeys.models import JourneyRun, JourneyStep

    carriers = JourneyStep.objects.filter(version__journey_id=journey_id, campaign__isnull=False).values("campaign_id")
    runs = dict(
        JourneyRun.objects.filter(journey_id=journey_id).values_list("status").annotate(n=Count("id")).order_by()
    )
    messages = dict(
        Message.objects.filter(campaign_id__in=carriers).values_list("status").annotate(n=Count("id")).order_by()
    )
    return {"runs": runs, "messages": messages}


def send(*, campaign_id: int) -> dict:
    from campaigns.models import Campaign
    from campaigns.sending import campaign_send

    campaign = Campaign.objects.get(pk=campaign_id)
    try:
        campaign_send(campaign=campaign)
    except Exception as exc:  # noqa: BLE001 - the outcome is the answer (e.g. the broker is down)
        status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
        return {"outcome": "error", "error": type(exc).__name__, "detail": str(exc)[:300], "status": status}
    return {"outcome": "ok", "status": campaign.status}


def state(*, campaign_id: int) -> dict:
    from django.db.models import Count

    from campaigns.models import Campaign, Message

    campaign = Campaign.objects.get(pk=campaign_id)
    counts = dict(
        Message.objects.filter(campaign_id=campaign_id).values_list("status").annotate(n=Count("id")).order_by()
    )
    return {
        "status": campaign.status,
        "fanned_out": campaign.fanned_out_at is not None,
        "counts": counts,
        "recipients": sum(counts.values()),
    }


def stop_others(*, keep: int | None) -> dict:
    from campaigns.models import Campaign, CampaignStatus
    from campaigns.sending import campaign_cancel

    canceled = []
    for campaign in Campaign.objects.filter(
        status__in=[CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED]
    ).exclude(pk=keep or 0):
        if campaign_cancel(campaign=campaign):
            canceled.append(campaign.pk)
    return {"canceled": canceled}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults.agent")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("seed")
    p.add_argument("--contacts", type=int, required=True)
    p.add_argument("--first-number", type=int, default=0)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--label", default="case")
    p.add_argument("--cancel-others", action="store_true", help="first cancel every campaign still sending")
    p = sub.add_parser("send")
    p.add_argument("--campaign", type=int, required=True)
    p = sub.add_parser("state")
    p.add_argument("--campaign", type=int, required=True)
    p = sub.add_parser("stop-others")
    p.add_argument("--keep", type=int, default=None)
    p = sub.add_parser("journey-seed")
    p.add_argument("--contacts", type=int, required=True)
    p.add_argument("--first-number", type=int, default=0)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--label", default="journey")
    p = sub.add_parser("journey-state")
    p.add_argument("--journey", type=int, required=True)
    args = parser.parse_args(argv)

    _setup()
    if args.cmd == "seed":
        canceled = stop_others(keep=None)["canceled"] if args.cancel_others else []
        seeded = seed(contacts=args.contacts, first_number=args.first_number, rate=args.rate, label=args.label)
        out = {"canceled": canceled, **seeded}
    elif args.cmd == "send":
        out = send(campaign_id=args.campaign)
    elif args.cmd == "state":
        out = state(campaign_id=args.campaign)
    elif args.cmd == "journey-seed":
        out = journey_seed(contacts=args.contacts, first_number=args.first_number, rate=args.rate, label=args.label)
    elif args.cmd == "journey-state":
        out = journey_state(journey_id=args.journey)
    else:
        out = stop_others(keep=args.keep)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
