from __future__ import annotations

import factory

from links.models import ShortLink
from links.services import code_generate
from tenants.tests.factories import TenantFactory


class ShortLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShortLink

    tenant = factory.SubFactory(TenantFactory)
    code = factory.LazyFunction(code_generate)
    target_url = "https://shop.example.com/sale"
