"""Pausing: a campaign stops handing messages to the gateway; a tenant's sending stops (bad credentials).

Below the control module so the dispatch (a tenant paused meanwhile) and the
outcomes (Twilio refused the credentials, 20003) can pause without calling up.
"""

from __future__ import annotations

from campaigns.models import Campaign, CampaignStatus
from tenants.models import Tenant

__all__ = ["campaign_pause", "tenant_sending_pause"]


def campaign_pause(*, campaign: Campaign, reason: str = "", user=None) -> bool:
    """Stop handing messages to the gateway; pending ones wait for ``campaign_resume``."""
    won = Campaign.objects.filter(pk=campaign.pk, status__in=[CampaignStatus.SENDING, CampaignStatus.SCHEDULED]).update(
        status=CampaignStatus.PAUSED, paused_reason=(reason or "Paused")[:300]
    )
    campaign.refresh_from_db(fields=["status", "paused_reason"])
    return bool(won)


def tenant_sending_pause(*, tenant: Tenant, reason: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(sending_paused_reason=reason[:300])
    tenant.sending_paused_reason = reason[:300]
