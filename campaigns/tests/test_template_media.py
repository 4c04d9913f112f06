"""Message templates and the media library (docs/authoring.md#templates): a file deleted after the template was
saved is left out of the campaigns made from it, deleting it is not refused, and a change to the template must
drop it."""

from __future__ import annotations

from campaigns.tests.factories import MessageTemplateFactory
from media.tests.factories import MediaFileFactory


def test_media_deleted_since_the_template_was_saved(api_alice, tenant_a):
    kept, gone = MediaFileFactory(tenant=tenant_a), MediaFileFactory(tenant=tenant_a)
    template = MessageTemplateFactory(tenant=tenant_a, body="Look", media=[gone.pk, kept.pk])
    # A template never holds a file: deleting it is not refused.
    assert api_alice.delete(f"/api/v1/media/{gone.pk}/").status_code == 204
    resp = api_alice.post("/api/v1/campaigns/", {"name": "C", "template": template.pk}, format="json")
    assert resp.status_code == 201, resp.json()
    assert resp.json()["media"] == [kept.pk]
    # Every file gone (the draft that held one deleted first): a campaign without media.
    assert api_alice.delete(f"/api/v1/campaigns/{resp.json()['id']}/").status_code == 204
    assert api_alice.delete(f"/api/v1/media/{kept.pk}/").status_code == 204
    resp = api_alice.post("/api/v1/campaigns/", {"name": "D", "template": template.pk}, format="json")
    assert resp.status_code == 201 and resp.json()["media"] == [] and resp.json()["body"] == "Look"
    # A change re-checks the whole template: the deleted files must go in the same change.
    url = f"/api/v1/templates/{template.pk}/"
    bad = api_alice.patch(url, {"body": "Look again"}, format="json")
    assert bad.status_code == 400 and "media" in bad.json()
    assert api_alice.patch(url, {"body": "Look again", "media": []}, format="json").status_code == 200
