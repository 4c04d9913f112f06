from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.models import Campaign


def test_demo_campaign_is_created_and_started(settings, db, django_capture_on_commit_callbacks):
    settings.SMS_GATEWAY = "simulator"
    call_command("seed_demo", stdout=None)
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("send_demo_campaign")
    campaign = Campaign.objects.get(tenant__slug="demo")
    assert campaign.status == "sending" and "{{link}}" in campaign.body
    assert len(callbacks) == 1  # the fan-out


def test_demo_needs_a_tenant(db):
    with pytest.raises(CommandError):
        call_command("send_demo_campaign", tenant="nobody")
