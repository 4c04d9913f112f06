from __future__ import annotations

import factory

from tenants.models import ApiKey, ApiKeyScope, Role, Tenant, User
from tenants.services import api_key_create


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


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A key of a user of ``tenant`` (its secret is lost: use ``token_for`` for a key to call the API with)."""

    class Meta:
        model = ApiKey

    tenant = factory.SubFactory(TenantFactory)
    user = factory.LazyAttribute(lambda o: UserFactory(tenant=o.tenant, role=Role.MARKETER))
    name = factory.Sequence(lambda n: f"key-{n}")
    scope = ApiKeyScope.FULL

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return api_key_create(user=kwargs["user"], name=kwargs["name"], scope=kwargs["scope"])[0]


def token_for(user: User, *, scope: str = ApiKeyScope.FULL, name: str = "test") -> str:
    """A new API key of ``user``'s: its secret, for ``Authorization: Token <secret>``."""
    return api_key_create(user=user, name=name, scope=scope)[1]
