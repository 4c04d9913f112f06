from __future__ import annotations

import factory

from contacts.models import Contact, ContactImport, Tag
from tenants.tests.factories import TenantFactory


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"tag{n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    tenant = factory.SubFactory(TenantFactory)
    phone_number = factory.Sequence(lambda n: f"+1415555{n % 10000:04d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    # Consent granted, so a marketing campaign texts them (tests of consent gating set it otherwise).
    consent_status = "granted"


class ContactImportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactImport

    tenant = factory.SubFactory(TenantFactory)
    file_name = factory.Sequence(lambda n: f"upload-{n}.csv")
