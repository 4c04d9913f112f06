"""Send a demo campaign to the demo tenant's contacts (``make run``: the simulator gateway).

    python manage.py send_demo_campaign [--tenant demo] [--respect-quiet-hours]

With the simulator, deliveries, failures and clicks come back within seconds:
watch Campaigns → the campaign, and Messages, in the admin.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign
from campaigns.sending import campaign_send
from contacts.selectors import contacts_for_audience
from tenants.models import Tenant

DEMO_BODY = "Hi {{first_name|there}}, spring beans are 20% off today at Demo Coffee Co.: {{link}}"
DEMO_LINK = "https://example.com/spring-sale?ref=sms"


class Command(BaseCommand):
    help = "Create and send a demo campaign to a tenant's contacts (for the simulator gateway)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="demo", help="tenant slug (default: demo)")
        parser.add_argument(
            "--respect-quiet-hours",
            action="store_true",
            help="keep the tenant's quiet hours (by default the simulator demo opens them so it sends now)",
        )

    def handle(self, *args, tenant: str, respect_quiet_hours: bool, **opts):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}: run `python manage.py seed_demo` first.")
        if settings.SMS_GATEWAY != "simulator" and not respect_quiet_hours:
            raise CommandError("The demo sends through the simulator only (SMS_GATEWAY=simulator).")
        if not respect_quiet_hours:
            found.quiet_hours_start, found.quiet_hours_end = dt.time(0, 0), dt.time(23, 59, 59)
            found.legal_quiet_hours = False  # a simulated demo texts nobody
            found.save(update_fields=["quiet_hours_start", "quiet_hours_end", "legal_quiet_hours"])
            self.stdout.write("  Quiet hours opened for the demo tenant (simulator only).")
        recipients = contacts_for_audience(tenant_id=found.pk, audience={}).count()
        if not recipients:
            raise CommandError(f"Tenant {tenant!r} has no contacts.")
        campaign = Campaign.objects.create(
            tenant=found,
            name=f"Demo spring sale {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S}",
            body=DEMO_BODY,
            link_url=DEMO_LINK,
        )
        campaign_send(campaign=campaign)
        self.stdout.write(f"  Campaign #{campaign.pk} {campaign.name!r}: sending to {recipients} contacts.")
        self.stdout.write(
            f"  Watch it at {settings.PUBLIC_BASE_URL}/admin/campaigns/campaign/{campaign.pk}/change/ "
            "(numbers ending 13/66 fail or go undelivered, 98/99 are refused, even endings click)."
        )
