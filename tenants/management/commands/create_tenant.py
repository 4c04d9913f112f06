"""``create_tenant``: a tenant, its admin user and API token, as one JSON line."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant with its admin user and API token; prints one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--twilio-account-sid", default="")
        parser.add_argument("--twilio-auth-token", default="")
        parser.add_argument("--twilio-from", default="", help="Sender number (+1…) or Messaging Service SID (MG…)")
        parser.add_argument("--sending-rate", type=float, default=None, help="Segments per second")

    def handle(self, *args, **opts):
        try:
            tenant, _user, token = tenant_create(
                slug=opts["slug"],
                name=opts["name"],
                admin_email=opts["admin_email"],
                admin_password=opts["admin_password"],
                twilio_account_sid=opts["twilio_account_sid"],
                twilio_auth_token=opts["twilio_auth_token"],
                sender=opts["twilio_from"],
                sending_rate=opts["sending_rate"],
            )
        except ValidationError as exc:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise CommandError(f"Invalid tenant: {details}") from exc
        except IntegrityError as exc:
            raise CommandError("A tenant with that slug or a user with that email already exists") from exc
        self.stdout.write(json.dumps({"tenant": tenant.slug, "api_token": token}))
