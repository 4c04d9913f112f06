from __future__ import annotations

from tenants.api import TenantScopedViewSet

from .models import Campaign
from .serializers import CampaignSerializer


class CampaignViewSet(TenantScopedViewSet):
    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer
