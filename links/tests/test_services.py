from __future__ import annotations

from campaigns.tests.factories import MessageFactory
from links.models import ShortLink
from links.services import short_links_create_for_messages, short_url


def test_bulk_links_one_per_message_and_rerun_safe(tenant_a):
    messages = MessageFactory.create_batch(5, campaign__tenant=tenant_a, tenant=tenant_a)
    ids = [m.pk for m in messages]
    campaign_id = messages[0].campaign_id
    codes = short_links_create_for_messages(
        tenant=tenant_a, campaign_id=campaign_id, target_url="https://x.example/", message_ids=ids
    )
    assert set(codes) == set(ids)
    assert len(set(codes.values())) == 5 and all(len(c) == 8 and c.isalnum() for c in codes.values())
    again = short_links_create_for_messages(
        tenant=tenant_a, campaign_id=campaign_id, target_url="https://x.example/", message_ids=ids
    )
    assert again == codes
    assert ShortLink.objects.count() == 5
    assert short_url("abcdefgh") == "http://127.0.0.1:8000/l/abcdefgh"
