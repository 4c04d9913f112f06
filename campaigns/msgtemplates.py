"""Message templates: saved bodies (with a link and media) a campaign starts from.

A template is checked like a campaign's message (merge fields known to the tenant, ``{{link}}`` needs a link,
the media the tenant's and within the MMS limits: ``campaigns.authoring.campaign_check``). A campaign created
with ``template`` copies its body, link and media where the campaign does not give its own; the campaign keeps
its copy whatever happens to the template later.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from campaigns.authoring import CampaignError, campaign_check
from campaigns.models import MessageTemplate
from media.models import MediaFile
from tenants.models import Tenant


def template_check(
    *, tenant: Tenant, name: str, body: str, link_url: str, media, exclude_pk: int | None = None
) -> dict:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["A template needs a name."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    elif MessageTemplate.objects.filter(tenant=tenant, name=name).exclude(pk=exclude_pk).exists():
        errors["name"] = [f"You have a template named {name!r} already."]
    data = {"body": body or "", "link_url": link_url or "", "media": list(media or [])}
    try:
        data = campaign_check(tenant=tenant, data=data)
    except CampaignError as exc:
        errors.update(exc.errors)
    if errors:
        raise CampaignError(errors)
    return {"name": name, **data}


def template_create(*, tenant: Tenant, name: str, body: str = "", link_url: str = "", media=None, user=None):
    data = template_check(tenant=tenant, name=name, body=body, link_url=link_url, media=media)
    try:
        with transaction.atomic():
            return MessageTemplate.objects.create(
                tenant=tenant, created_by=user if getattr(user, "pk", None) else None, **data
            )
    except IntegrityError:
        raise CampaignError({"name": [f"You have a template named {data['name']!r} already."]}) from None


def template_update(*, template: MessageTemplate, **fields) -> MessageTemplate:
    merged = {"name": template.name, "body": template.body, "link_url": template.link_url, "media": template.media}
    merged.update(fields)
    data = template_check(tenant=template.tenant, exclude_pk=template.pk, **merged)
    for key, value in data.items():
        setattr(template, key, value)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise CampaignError({"name": [f"You have a template named {data['name']!r} already."]}) from None
    return template


def template_get(*, tenant: Tenant, template_id) -> MessageTemplate | None:
    if not isinstance(template_id, int) or isinstance(template_id, bool):
        return None
    return MessageTemplate.objects.filter(tenant=tenant, pk=template_id).first()


def template_fill(*, tenant: Tenant, template_id, fields: dict) -> dict:
    """A new campaign's ``fields`` with the template's body, link and media where they give none. Raises
    ``CampaignError`` naming ``template`` for an id that is not one of the tenant's templates."""
    template = template_get(tenant=tenant, template_id=template_id)
    if template is None:
        raise CampaignError({"template": ["Give the id of one of your message templates."]})
    out = dict(fields)
    if not out.get("body") and not out.get("variants"):
        out["body"] = template.body
    if not out.get("link_url"):
        out["link_url"] = template.link_url
    if not out.get("media"):
        # Files deleted since the template was saved are left out (the rest keep their order).
        alive = set(MediaFile.objects.filter(tenant=tenant, pk__in=template.media).values_list("pk", flat=True))
        out["media"] = [m for m in template.media if m in alive]
    return out
