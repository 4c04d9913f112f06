from __future__ import annotations

from tenants.api import TenantScopedViewSet

from .models import Contact
from .serializers import ContactSerializer


class ContactViewSet(TenantScopedViewSet):
    queryset = Contact.objects.prefetch_related("tags")
    serializer_class = ContactSerializer
