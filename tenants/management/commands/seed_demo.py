"""Create the demo tenant, its admin login and some contacts (idempotent), for ``make run``.

An admin login that already exists keeps its password: someone may have changed it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from contacts.models import Contact, Tag
from tenants.models import Role, Tenant, User
from tenants.services import tenant_create, user_create

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
        password_set = True
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
        elif not User.objects.filter(email=DEMO_EMAIL).exists():
            user_create(tenant=tenant, email=DEMO_EMAIL, password=DEMO_PASSWORD, role=Role.ADMIN)
        else:
            password_set = False
        for phone, first, last, tags in DEMO_CONTACTS:
            contact, _ = Contact.objects.get_or_create(
                tenant=tenant,
                phone_number=phone,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "consent_status": "granted",
                    "consent_source": "demo",
                },
            )
            for name in tags:
                tag, _ = Tag.objects.get_or_create(tenant=tenant, name=name)
                contact.tags.add(tag)
        self.stdout.write("")
        self.stdout.write(f"  Admin:    {settings.PUBLIC_BASE_URL}/admin/")
        self.stdout.write(f"  Login:    {DEMO_EMAIL}")
        if password_set:
            self.stdout.write(f"  Password: {DEMO_PASSWORD}")
        else:
            self.stdout.write(f"  Password: kept (the login exists; {DEMO_PASSWORD} unless it was changed)")
        self.stdout.write("")
