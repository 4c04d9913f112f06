from __future__ import annotations

import factory

from growth.models import Keyword, SignupForm
from tenants.tests.factories import TenantFactory


class KeywordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Keyword

    tenant = factory.SubFactory(TenantFactory)
    word = factory.Sequence(lambda n: f"PROMO{n}")
    auto_reply = "{brand}: welcome to the club!"
    tags = factory.LazyFunction(lambda: ["club"])


class SignupFormFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SignupForm

    tenant = factory.SubFactory(TenantFactory)
    slug = factory.Sequence(lambda n: f"form-{n}")
    title = "Join the VIP club"
    tags = factory.LazyFunction(lambda: ["web"])
