from __future__ import annotations

import factory
from rest_framework.authtoken.models import Token

from tenants.models import Role, Tenant, User


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    twilio_account_sid = factory.Sequence(lambda n: f"AC{n:032x}")
    twilio_auth_token = factory.Sequence(lambda n: f"auth-token-{n:04d}-secret")
    sender = "+14155550000"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    tenant = factory.SubFactory(TenantFactory)
    role = Role.ADMIN
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-123456")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def token_for(user: User) -> str:
    return Token.objects.get_or_create(user=user)[0].key
