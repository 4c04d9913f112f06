"""Create the demo tenant, its admin login and some contacts (idempotent), for ``make run``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from contacts.models import Contact, Tag
from tenants.models import Tenant, User
from tenants.services import tenant_create

DEMO_EMAIL = "admin@demo.example"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a local demo login, printed on purpose

DEMO_CONTACTS = [
    ("+14155550101", "Ada", "Lovelace", ["vip"]),
    ("+14155550102", "Grace", "Hopper", ["vip"]),
    ("+14155550103", "Alan", "Turing", []),
    ("+14155550104", "Katherine", "Johnson", ["vip"]),
    ("+14155550113", "Edsger", "Dijkstra", []),  # the simulator reports undelivered
    ("+14155550166", "Barbara", "Liskov", []),  # the simulator reports failed
    ("+12125550105", "Margaret", "Hamilton", ["nyc"]),
    ("+12125550106", "Donald", "Knuth", ["nyc"]),
]


class Command(BaseCommand):
    help = "Create a demo tenant with an admin login and demo contacts."

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug="demo").first()
        if tenant is None:
            tenant, _user, _token = tenant_create(
                slug="demo",
                name="Demo Coffee Co.",
                admin_email=DEMO_EMAIL,
                admin_password=DEMO_PASSWORD,
                twilio_account_sid="AC" + "0" * 32,
                twilio_auth_token="demo-auth-token",  # noqa: S106 - the demo account is fake
                sender="+14155550000",
            )
        else:
            user = User.objects.get(email=DEMO_EMAIL)
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        for phone, first, last, tags in DEMO_CONTACTS:
            contact, _ = Contact.objects.get_or_create(
                tenant=tenant, phone_number=phone, defaults={"first_name": first, "last_name": last}
            )
            for name in tags:
                tag, _ = Tag.objects.get_or_create(tenant=tenant, name=name)
                contact.tags.add(tag)
        self.stdout.write("")
        self.stdout.write("  Admin:    http://127.0.0.1:8000/admin/")
        self.stdout.write(f"  Login:    {DEMO_EMAIL}")
        self.stdout.write(f"  Password: {DEMO_PASSWORD}")
        self.stdout.write("")
