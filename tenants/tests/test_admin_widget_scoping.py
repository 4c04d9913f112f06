"""Every admin widget that names another row is scoped by tenant (issue #15, item 3).

The test walks ``admin.site._registry``: for each registered model and each of its
relation fields (foreign key, one-to-one, many-to-many), Alice (tenant A's admin)
asks for the add page with Bob's ids in the querystring, posts them back, opens
her own row's change page with them, opens the changelist with each relation
filter set to Bob's id, and asks the autocomplete endpoint for the field. No page
may name a row of Bob's: not its ``str`` (a recipient's phone number, a campaign's
name…) nor a link to it. Django's raw-id widget used to look labels up in the
whole table: ``/admin/links/shortlink/add/?message=<B's id>&campaign=<B's id>``
showed B's recipient's number and B's campaign name.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape
from django.utils.module_loading import import_string

from tenants.admin_scoping import TenantRelatedFieldListFilter, TenantScopedAdmin, TenantScopedInline
from tenants.models import Tenant, User
from tenants.tests.test_admin_isolation import FACTORIES


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


LABELS = [model._meta.label_lower for model, _ in _registered()]


def _admin_for(label):
    for model, model_admin in _registered():
        if model._meta.label_lower == label:
            return model, model_admin
    raise LookupError(label)


def _relations(model):
    """The relation fields a form, a filter or the autocomplete endpoint can name."""
    return [f for f in model._meta.get_fields() if f.is_relation and f.concrete and f.related_model is not None]


def _rows_of(model, tenant):
    if model is Tenant:
        return list(Tenant.objects.filter(pk=tenant.pk))
    if any(f.name == "tenant" for f in model._meta.fields):
        return list(model._default_manager.filter(tenant=tenant))
    return []


def _change_url(obj) -> str | None:
    try:
        return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


@pytest.fixture
def world(tenant_a, tenant_b, alice, bob):
    """One row of every tenant-owned admin model for each tenant; Bob's named so a leak is recognisable."""
    from campaigns.tests.factories import CampaignFactory, MessageFactory
    from compliance.tests.factories import InboundMessageFactory
    from contacts.tests.factories import ContactFactory, TagFactory
    from integrations.tests.factories import EventDeliveryFactory, EventSubscriptionFactory
    from links.tests.factories import ShortLinkFactory

    campaign = CampaignFactory(tenant=tenant_b, name="Bobs secret spring campaign")
    contact = ContactFactory(tenant=tenant_b, first_name="Roberta", last_name="Secretface")
    contact.tags.add(TagFactory(tenant=tenant_b, name="bobs-secret-tag"))
    message = MessageFactory(campaign=campaign, contact=contact)
    ShortLinkFactory(tenant=tenant_b, campaign=campaign, message=message)
    InboundMessageFactory(tenant=tenant_b, contact=contact, campaign=campaign, message=message, body="bobs reply")
    EventDeliveryFactory(
        tenant=tenant_b, subscription=EventSubscriptionFactory(tenant=tenant_b, url="https://bobs-secret.example/in")
    )
    for path in FACTORIES.values():
        factory = import_string(path)
        factory(tenant=tenant_a)
        factory(tenant=tenant_b)

    targets = {f.related_model for model, _ in _registered() for f in _relations(model)}
    theirs: dict = {}  # model -> Bob's rows
    markers: set[str] = set()
    for target in targets:
        rows = _rows_of(target, tenant_b)
        theirs[target] = rows
        own = [str(obj) for obj in _rows_of(target, tenant_a)]
        for obj in rows:
            text = str(obj)
            # A label that is not Bob's alone (a substring of one of Alice's) proves nothing.
            if len(text) >= 6 and not any(text in mine for mine in own):
                markers.update({text, escape(text)})
            url = _change_url(obj)
            if url:
                markers.add(f'"{url}"')
    assert theirs[Tenant] and theirs[User] and len(markers) > 20  # the fixture did build Bob's world
    client = Client()
    client.force_login(alice)
    return {"client": client, "theirs": theirs, "markers": markers, "tenant_a": tenant_a}


def _leaks(html: str, markers: set[str]) -> list[str]:
    return sorted(m for m in markers if m in html)


def _bobs_ids(world, model) -> dict[str, list[str]]:
    """For each relation field of ``model``: Bob's ids for it (querystring and form values)."""
    out = {}
    for field in _relations(model):
        rows = world["theirs"].get(field.related_model) or []
        if not rows or field.name == "tenant":
            continue
        key = "pk" if field.many_to_many else field.remote_field.get_related_field().attname
        out[field.name] = [str(getattr(rows[0], key))]
    return out


def _query(ids: dict[str, list[str]]) -> str:
    return "&".join(f"{name}={values[0]}" for name, values in ids.items())


def _add_page_names_no_row_of_another_tenant(label, world) -> bool:
    model, _ = _admin_for(label)
    ids = _bobs_ids(world, model)
    if not ids:
        return False
    client, markers = world["client"], world["markers"]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    before = model._default_manager.count()

    page = client.get(f"{url}?{_query(ids)}")
    assert page.status_code in (200, 302, 403), page.status_code
    assert _leaks(page.content.decode(), markers) == [], f"{label} add page (initial from the querystring)"

    posted = client.post(url, ids)
    assert posted.status_code in (200, 302, 403), posted.status_code
    assert _leaks(posted.content.decode(), markers) == [], f"{label} add page (a posted form shown again)"
    assert model._default_manager.count() == before, f"{label}: a row was added pointing at another tenant's"
    return True


def _change_page_names_no_row_of_another_tenant(label, world) -> bool:
    model, _ = _admin_for(label)
    ids = _bobs_ids(world, model)
    mine = _rows_of(model, world["tenant_a"])
    if not ids or not mine:
        return False
    client, markers = world["client"], world["markers"]
    obj = mine[0]
    url = _change_url(obj)

    page = client.get(f"{url}?{_query(ids)}")
    assert page.status_code in (200, 302, 403)
    assert _leaks(page.content.decode(), markers) == [], f"{label} change page"

    posted = client.post(url, ids)
    assert posted.status_code in (200, 302, 403)
    assert _leaks(posted.content.decode(), markers) == [], f"{label} change page (a posted form shown again)"
    obj.refresh_from_db()
    for field in _relations(model):
        if field.many_to_many:
            pointed = {str(pk) for pk in getattr(obj, field.name).values_list("pk", flat=True)}
        else:
            pointed = {str(getattr(obj, field.attname))}
        assert not pointed & set(ids.get(field.name, [])), f"{label}.{field.name} now points at another tenant's row"
    return True


def _changelist_and_its_filters_name_no_row_of_another_tenant(label, world) -> bool:
    model, model_admin = _admin_for(label)
    client, markers = world["client"], world["markers"]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    page = client.get(url)
    assert page.status_code in (200, 302, 403)
    assert _leaks(page.content.decode(), markers) == [], f"{label} changelist"
    for name, values in _bobs_ids(world, model).items():
        field = model._meta.get_field(name)
        lookup = f"{name}__{field.remote_field.get_related_field().name if not field.many_to_many else 'pk'}__exact"
        filtered = client.get(f"{url}?{lookup}={values[0]}")
        assert filtered.status_code in (200, 302, 400, 403)
        assert _leaks(filtered.content.decode(), markers) == [], f"{label} changelist filtered on {name}"
    return True


def _autocomplete_offers_no_row_of_another_tenant(label, world) -> bool:
    model, _ = _admin_for(label)
    client, markers = world["client"], world["markers"]
    asked = 0
    for field in _relations(model):
        rows = world["theirs"].get(field.related_model) or []
        params = {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field.name}
        for term in ("", *{str(obj)[:4] for obj in rows}):
            resp = client.get(reverse("admin:autocomplete"), {**params, "term": term})
            assert resp.status_code in (200, 403, 404), resp.status_code
            if resp.status_code != 200:
                continue
            asked += 1
            found = {str(r["id"]) for r in resp.json()["results"]}
            assert not found & {str(obj.pk) for obj in rows}, f"{label}.{field.name}: autocomplete offers Bob's rows"
            assert _leaks(resp.content.decode(), markers) == []
    if label == "links.shortlink":
        assert asked, "the autocomplete endpoint answered nothing: the walk would prove nothing"
    return True


def _each_label(check, world) -> tuple[list[str], int]:
    """``check`` for every registered admin, each in a rolled-back transaction (one world for them all: building
    it per label took minutes). Returns the failures, each naming its admin, and how many admins were checked."""
    failures, checked = [], 0
    for label in LABELS:
        try:
            with transaction.atomic():
                checked += bool(check(label, world))
                transaction.set_rollback(True)
        except AssertionError as exc:
            failures.append(f"{label}: {exc}")
    return failures, checked


def test_add_pages_name_no_row_of_another_tenant(world):
    failures, checked = _each_label(_add_page_names_no_row_of_another_tenant, world)
    assert failures == [] and checked >= 5, (failures, checked)


def test_change_pages_name_no_row_of_another_tenant(world):
    failures, checked = _each_label(_change_page_names_no_row_of_another_tenant, world)
    assert failures == [] and checked >= 5, (failures, checked)


def test_changelists_and_their_filters_name_no_row_of_another_tenant(world):
    failures, checked = _each_label(_changelist_and_its_filters_name_no_row_of_another_tenant, world)
    assert failures == [] and checked == len(LABELS), (failures, checked)


def test_autocomplete_offers_no_row_of_another_tenant(world):
    failures, checked = _each_label(_autocomplete_offers_no_row_of_another_tenant, world)
    assert failures == [] and checked == len(LABELS), (failures, checked)


def test_every_inline_and_relation_filter_is_scoped(alice):
    from django.contrib.admin import RelatedOnlyFieldListFilter, SimpleListFilter
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = alice
    for model, model_admin in _registered():
        if not isinstance(model_admin, TenantScopedAdmin):
            continue
        for inline in model_admin.inlines:
            assert issubclass(inline, TenantScopedInline), f"{model._meta.label}: {inline.__name__}"
        for spec in model_admin.get_list_filter(request):
            if isinstance(spec, type) and issubclass(spec, SimpleListFilter):
                continue
            path, kind = (spec, None) if isinstance(spec, str) else spec
            field = model._meta.get_field(path.split("__")[0])
            if field.is_relation:
                assert kind is not None and issubclass(
                    kind, TenantRelatedFieldListFilter | RelatedOnlyFieldListFilter
                ), f"{model._meta.label}: the filter on {path} lists the whole related table"
