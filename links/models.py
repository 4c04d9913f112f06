"""Short links: one per recipient of a campaign with a link."""

from __future__ import annotations

from django.db import models

from tenants.models import TenantOwned


class ShortLink(TenantOwned):
    """``{SHORT_LINK_BASE_URL}/{code}`` → ``target_url``. The code identifies a person: random, never sequential."""

    code = models.CharField(max_length=16, unique=True)
    target_url = models.URLField(max_length=2000)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message = models.OneToOneField(
        "campaigns.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="short_link"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.code
