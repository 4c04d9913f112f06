"""Who may do what, as data, checked through the real doors (issue #15, item 5).

``ADMIN_ACTIONS`` names every action of every registered ``ModelAdmin`` and
``API_VERBS`` every method of every API route, each with the roles of tenant A
that may run it on tenant A's rows. Two more roles never may: another tenant's
admin (Bob) and an anonymous visitor. ``MATRIX`` is the expansion,
``{(role, door, action): allowed}``.

The walk fails on an action or a verb that is not in the matrix (a new one must
be decided here, not by default), and every cell is tried over HTTP, each in a
savepoint rolled back after it:

- tenant A's roles: allowed means the request got past the permission checks (the
  admin ran the action; the API answered neither 401, 403, 404 nor 405); refused
  means a 403 (or, in the admin, the action was not offered) and nothing of A changed;
- Bob: a detail route of A's row is a 404, and no request shows or changes
  anything of A's; anonymous: the login page (admin) or a 401 (API).
"""

from __future__ import annotations

import functools

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from tenants.models import Role, Tenant, User
from tenants.tests.factories import ApiKeyFactory, UserFactory, token_for
from tenants.tests.test_admin_isolation import FACTORIES

ROLES = ("admin", "marketer", "viewer", "other", "anonymous")
ALL = frozenset({"admin", "marketer", "viewer"})  # every role of the tenant reads
WRITERS = frozenset({"admin", "marketer"})
ADMINS = frozenset({"admin"})
NOBODY = frozenset()  # superusers only (or nobody at all)

# "<app.model>:<action>" -> the roles of the row's tenant that may run it.
ADMIN_ACTIONS = {
    "auth.group:delete_selected": NOBODY,
    "campaigns.campaign:delete_selected": WRITERS,
    "campaigns.countryprice:delete_selected": WRITERS,  # a country without a row costs the default
    "campaigns.messagetemplate:delete_selected": WRITERS,  # campaigns made from one keep their copy
    "campaigns.campaign:send_now": WRITERS,
    "campaigns.campaign:schedule": WRITERS,
    "campaigns.campaign:pause": WRITERS,
    "campaigns.campaign:resume": WRITERS,
    "campaigns.campaign:cancel": WRITERS,
    "campaigns.message:delete_selected": NOBODY,
    "campaigns.message:check_again": WRITERS,
    "compliance.auditlog:delete_selected": NOBODY,
    "compliance.compliancesettings:delete_selected": WRITERS,
    "compliance.consentevent:delete_selected": NOBODY,
    "compliance.consentevent:export_csv": ALL,
    "compliance.inboundmessage:delete_selected": WRITERS,
    "compliance.inboundmessage:mark_reviewed": WRITERS,
    "compliance.suppression:delete_selected": WRITERS,
    "contacts.contact:delete_selected": WRITERS,
    "contacts.contactimport:delete_selected": NOBODY,  # an import is a record
    "contacts.tag:delete_selected": WRITERS,
    "growth.keyword:delete_selected": WRITERS,
    "growth.signupform:delete_selected": WRITERS,
    "integrations.conversion:delete_selected": NOBODY,
    "integrations.event:delete_selected": NOBODY,
    "integrations.eventdelivery:delete_selected": NOBODY,
    "integrations.eventdelivery:replay": WRITERS,
    "integrations.eventsubscription:delete_selected": WRITERS,
    "integrations.eventsubscription:enable_endpoints": WRITERS,
    "integrations.eventsubscription:rotate_secrets": WRITERS,
    "links.click:delete_selected": NOBODY,
    "links.shortlink:delete_selected": WRITERS,
    "links.linkdomain:delete_selected": WRITERS,
    "links.linkdomain:verify_selected": WRITERS,
    "links.linkexpiry:delete_selected": WRITERS,
    "media.mediafile:delete_selected": WRITERS,
    "guard.guardevent:delete_selected": NOBODY,  # a record of what the guard did
    "guard.guardsettings:delete_selected": NOBODY,  # changed, never removed
    "journeys.journey:delete_selected": NOBODY,  # archived, never deleted (its runs and messages are records)
    "journeys.journeyrun:delete_selected": NOBODY,  # a record of what the journey did
    "inbox.conversation:delete_selected": NOBODY,  # kept from the texts; marked done, never deleted
    "inbox.inboxsettings:delete_selected": NOBODY,  # changed, never removed
    "segments.segment:delete_selected": WRITERS,  # refused while a campaign not yet sent uses it
    "crm.crmconnection:delete_selected": WRITERS,
    "crm.inboundevent:delete_selected": NOBODY,  # a record of what a webhook did
    "crm.resthook:delete_selected": NOBODY,  # the platform unsubscribes (or remove its endpoint)
    "tenants.apikey:delete_selected": NOBODY,  # revoked, never deleted
    "tenants.apikey:revoke": WRITERS,  # an admin any of the tenant's keys, a marketer their own (the row is theirs)
    "tenants.apikey:rotate": WRITERS,
    "tenants.tenant:delete_selected": NOBODY,
    "tenants.user:delete_selected": ADMINS,
    "tenants.user:signin_unlock": ADMINS,
    "tenants.user:two_factor_reset": ADMINS,
    "tracking.deliveryfailure:delete_selected": NOBODY,
    "tracking.statusevent:delete_selected": NOBODY,
}

# "<route name> <METHOD>" -> the roles of tenant A that may call it on A's rows.
API_VERBS = {
    "keyword-list GET": ALL,
    "keyword-list POST": WRITERS,
    "keyword-detail GET": ALL,
    "keyword-detail PUT": WRITERS,
    "keyword-detail PATCH": WRITERS,
    "keyword-detail DELETE": WRITERS,
    "link-domain-list GET": ALL,
    "link-domain-list POST": WRITERS,
    "link-domain-detail GET": ALL,
    "link-domain-detail PUT": WRITERS,
    "link-domain-detail PATCH": WRITERS,
    "link-domain-detail DELETE": WRITERS,
    "link-domain-verify POST": WRITERS,
    "campaign-link-expiry GET": ALL,
    "campaign-link-expiry PUT": WRITERS,
    "campaign-link-expiry DELETE": WRITERS,
    "campaign-list GET": ALL,
    "campaign-list POST": WRITERS,
    "campaign-detail GET": ALL,
    "campaign-detail PUT": WRITERS,
    "campaign-detail PATCH": WRITERS,
    "campaign-detail DELETE": WRITERS,
    "campaign-preview GET": ALL,
    "campaign-preview-draft POST": WRITERS,
    "campaign-send POST": WRITERS,
    "campaign-pause POST": WRITERS,
    "campaign-resume POST": WRITERS,
    "campaign-cancel POST": WRITERS,
    "campaign-test-send POST": WRITERS,
    "campaign-stats GET": ALL,
    "campaign-messages GET": ALL,
    "campaign-stats-timeseries GET": ALL,
    "campaign-stats-breakdown GET": ALL,
    "campaign-stats-variants GET": ALL,
    "campaign-export-messages GET": ALL,
    "campaign-export-clicks GET": ALL,
    "stats-overview GET": ALL,
    "privacy-export GET": ADMINS,
    "privacy-export POST": ADMINS,
    "privacy-erase POST": ADMINS,
    "contact-list GET": ALL,
    "contact-list POST": WRITERS,
    "contact-import-csv POST": WRITERS,
    "contact-detail GET": ALL,
    "contact-detail PUT": WRITERS,
    "contact-detail PATCH": WRITERS,
    "contact-detail DELETE": WRITERS,
    "contact-import-list GET": ALL,
    "contact-import-detail GET": ALL,
    "opt-out-list GET": ALL,
    "opt-out-list POST": WRITERS,
    "opt-out-detail GET": ALL,
    "consent-event-list GET": ALL,
    "consent-event-list POST": WRITERS,
    "consent-event-export GET": ALL,
    "consent-event-detail GET": ALL,
    "webhook-list GET": ALL,
    "webhook-list POST": WRITERS,
    "webhook-detail GET": ALL,
    "webhook-detail PUT": WRITERS,
    "webhook-detail PATCH": WRITERS,
    "webhook-detail DELETE": WRITERS,
    "webhook-rotate-secret POST": WRITERS,
    "webhook-delivery-list GET": ALL,
    "webhook-delivery-detail GET": ALL,
    "webhook-delivery-replay POST": WRITERS,
    "conversion-list GET": ALL,
    "conversion-list POST": WRITERS,
    "conversion-detail GET": ALL,
    "media-list GET": ALL,
    "media-list POST": WRITERS,
    "media-detail GET": ALL,
    "media-detail DELETE": WRITERS,
    "conversation-list GET": ALL,
    "conversation-detail GET": ALL,
    "conversation-messages GET": ALL,
    "conversation-reply POST": WRITERS,
    "conversation-assign POST": WRITERS,
    "conversation-done POST": WRITERS,
    "conversation-read POST": WRITERS,
    "segment-list GET": ALL,
    "segment-list POST": WRITERS,
    "segment-detail GET": ALL,
    "segment-detail PUT": WRITERS,
    "segment-detail PATCH": WRITERS,
    "segment-detail DELETE": WRITERS,
    "segment-count GET": ALL,
    "template-list GET": ALL,
    "template-list POST": WRITERS,
    "template-detail GET": ALL,
    "template-detail PUT": WRITERS,
    "template-detail PATCH": WRITERS,
    "template-detail DELETE": WRITERS,
    "journey-list GET": ALL,
    "journey-list POST": WRITERS,
    "journey-detail GET": ALL,
    "journey-detail PUT": WRITERS,
    "journey-detail PATCH": WRITERS,
    "journey-detail DELETE": WRITERS,
    "journey-activate POST": WRITERS,
    "journey-pause POST": WRITERS,
    "journey-resume POST": WRITERS,
    "journey-archive POST": WRITERS,
    "journey-figures GET": ALL,
    "journey-run-list GET": ALL,
    "journey-run-detail GET": ALL,
    "event POST": WRITERS,
    "contact-by-phone PUT": WRITERS,
    "contact-upsert POST": WRITERS,
    "contact-merge-rules GET": ALL,
    "contact-merge-rules PUT": WRITERS,
    "contact-merge-rules PATCH": WRITERS,
    "crm-connection-list GET": ALL,
    "crm-connection-list POST": WRITERS,
    "crm-connection-detail GET": ALL,
    "crm-connection-detail PUT": WRITERS,
    "crm-connection-detail PATCH": WRITERS,
    "crm-connection-detail DELETE": WRITERS,
    "hook-list GET": ALL,
    "hook-list POST": WRITERS,
    "hook-detail GET": ALL,
    "hook-detail DELETE": WRITERS,
    "hook-samples GET": ALL,
    "hook-poll GET": ALL,
    # API keys: viewers manage none; the row is the marketer's (an admin manages every key of the tenant).
    "api-key-list GET": WRITERS,
    "api-key-list POST": WRITERS,
    "api-key-detail GET": WRITERS,
    "api-key-detail DELETE": WRITERS,
    "api-key-rotate POST": WRITERS,
}

MATRIX: dict[tuple[str, str, str], bool] = {
    (role, door, action): role in allowed
    for door, table in (("admin", ADMIN_ACTIONS), ("api", API_VERBS))
    for action, allowed in table.items()
    for role in ROLES
}

# A route's ``pk`` names a row of its view's model, except these.
PK_MODEL = {"campaign-link-expiry": "campaigns.campaign", "campaign-messages": "campaigns.campaign"}
# Other path parameters a route takes (not a row of tenant A's: the outsider is not expected to get a 404).
ROUTE_KWARGS = {
    "contact-by-phone": {"phone": "+14155550199"},
    "hook-samples": {"event": "link.clicked"},
    "hook-poll": {"event": "link.clicked"},
}


# --- what exists ------------------------------------------------------------------------------


def admin_actions() -> set[str]:
    found = set()
    for model, model_admin in admin.site._registry.items():
        for _func, name, _description in model_admin._get_base_actions():
            found.add(f"{model._meta.label_lower}:{name}")
    # And those a mixin adds in get_actions (the campaign's sending actions), as a superuser sees them.
    request = RequestFactory().get("/")
    request.user = User(email="root@example.com", is_superuser=True, is_staff=True, is_active=True)
    for model, model_admin in admin.site._registry.items():
        found.update(f"{model._meta.label_lower}:{name}" for name in model_admin.get_actions(request))
    return found


def api_routes() -> dict[str, tuple]:
    """``{"<name> <METHOD>": (url pattern, view class)}`` for every route of /api/v1/."""
    from smscampaigns import api_urls

    routes = {}
    for pattern in api_urls.urlpatterns:
        callback = pattern.callback
        mapping = getattr(callback, "actions", None)
        if mapping:
            methods = [m for m in mapping if m not in ("head", "options")]
        else:
            methods = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(callback.cls, m)]
        for method in methods:
            routes.setdefault(f"{pattern.name} {method.upper()}", (pattern, callback.cls))
    return routes


def test_every_admin_action_is_in_the_matrix():
    assert sorted(admin_actions() - set(ADMIN_ACTIONS)) == [], "decide who may run these: add them to ADMIN_ACTIONS"
    assert sorted(set(ADMIN_ACTIONS) - admin_actions()) == [], "these are gone: remove them from ADMIN_ACTIONS"


def test_every_api_verb_is_in_the_matrix():
    routes = set(api_routes())
    assert sorted(routes - set(API_VERBS)) == [], "decide who may call these: add them to API_VERBS"
    assert sorted(set(API_VERBS) - routes) == [], "these are gone: remove them from API_VERBS"


def test_the_matrix_is_whole():
    assert len(MATRIX) == len(ROLES) * (len(ADMIN_ACTIONS) + len(API_VERBS))
    assert not any(allowed for (role, _, _), allowed in MATRIX.items() if role in ("other", "anonymous"))


# --- the people and tenant A's rows ----------------------------------------------------------


@pytest.fixture
def people(tenant_a, alice, bob):
    return {
        "admin": alice,
        "marketer": UserFactory(email="mark@acme.example", tenant=tenant_a, role=Role.MARKETER),
        "viewer": UserFactory(email="vera@acme.example", tenant=tenant_a, role=Role.VIEWER),
        "other": bob,
        "anonymous": None,
    }


@pytest.fixture
def rows(tenant_a, tenant_b, people, sent_tasks):
    """One row of every admin model for tenant A (Bob has his own), in states an action would change."""
    from campaigns.models import MessageStatus

    made = {}
    for label, path in FACTORIES.items():
        factory = import_string(path)
        factory(tenant=tenant_b)
        made[label] = factory(tenant=tenant_a)
    made["tenants.user"] = UserFactory(email="spare@acme.example", tenant=tenant_a, role=Role.VIEWER)
    made["tenants.tenant"] = tenant_a
    made["auth.group"] = Group.objects.create(name="acme-group")
    made["tenants.apikey"] = ApiKeyFactory(tenant=tenant_a, user=people["marketer"])
    made["compliance.inboundmessage"].needs_review = True
    made["compliance.inboundmessage"].save()
    subscription = made["integrations.eventsubscription"]
    subscription.active, subscription.disabled_reason = False, "failing for a day"
    subscription.save()
    message = made["campaigns.message"]
    message.status, message.unresolved_reason = MessageStatus.UNKNOWN, "gave up"
    message.save()
    made["campaigns.campaign"].name = "Alices spring campaign"
    made["campaigns.campaign"].save()
    return made


def _tenant_models():
    return [m for m in apps.get_models() if any(f.name == "tenant" for f in m._meta.fields)]


@functools.cache
def _snapshot_sql() -> str:
    """One statement over every tenant-owned table: a digest of tenant A's rows per table (every column but a key's
    ``last_used_at``, rows in pk order), and of the tenant's own row. One round trip per snapshot, where a query per
    model (``.values()``) made the walk the suite's slowest test."""
    parts = []
    for model in _tenant_models():  # names from the models' own metadata, never input
        meta = model._meta
        columns = ", ".join(f't."{f.column}"' for f in meta.concrete_fields if f.name != "last_used_at")
        digest = f"md5(coalesce(string_agg(ROW({columns})::text, '|' ORDER BY t.\"{meta.pk.column}\"), ''))"
        tenant_column = meta.get_field("tenant").column
        where = f't."{tenant_column}" = %(tenant)s'
        parts.append(f"SELECT '{meta.label}', {digest} FROM \"{meta.db_table}\" t WHERE {where}")  # noqa: S608
    parts.append(f"SELECT 'tenant', md5(t::text) FROM \"{Tenant._meta.db_table}\" t WHERE t.id = %(tenant)s")  # noqa: S608
    return " UNION ALL ".join(parts)


def _snapshot(tenant) -> dict:
    """Everything of tenant A's, to tell whether a request changed any of it (a key's ``last_used_at`` is the
    request's own trace, not a change)."""
    with connection.cursor() as cursor:
        cursor.execute(_snapshot_sql(), {"tenant": tenant.pk})
        return dict(cursor.fetchall())


def _markers(rows) -> set[str]:
    """Strings only tenant A's rows carry: seen in an answer to Bob, they are a leak."""
    return {
        rows["contacts.contact"].phone_number,
        rows["campaigns.campaign"].name,
        rows["integrations.eventsubscription"].url,
        rows["compliance.suppression"].phone_number,
        rows["compliance.consentevent"].phone_number,
        rows["integrations.conversion"].order_id,
        rows["compliance.inboundmessage"].from_number,
    }


def _in_savepoint(request):
    with transaction.atomic():
        response = request()
        transaction.set_rollback(True)
    return response


# --- the admin door ---------------------------------------------------------------------------


def _admin_client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _action_ran(response) -> bool:
    """Whether the changelist ran the posted action (it answers the same way whoever asks)."""
    if response.status_code == 302:
        # The action ran and redirected back, or the form refused a name it does not offer.
        return not any(str(m) == "No action selected." for m in get_messages(response.wsgi_request))
    if response.status_code == 200:
        # The changelist itself (no actions for this user: the post is ignored), or the action's own answer.
        return "cl" not in (getattr(response, "context_data", None) or {})
    return False  # 403, or the login page


def _admin_action(key, people, rows, tenant_a) -> None:
    label, name = key.split(":")
    model = apps.get_model(label)
    obj = rows[label]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    clients = {role: _admin_client(user) for role, user in people.items()}
    offered = {role: client.get(url) for role, client in clients.items()}
    before = _snapshot(tenant_a)
    markers = _markers(rows)
    for role in ROLES:
        client, outcome = clients[role], {}

        def run(client=client, outcome=outcome, watch=role == "other" or not MATRIX[(role, "admin", key)]):
            response = client.post(url, {"action": name, "_selected_action": [str(obj.pk)]})
            outcome["changed"] = watch and _snapshot(tenant_a) != before
            return response

        response = _in_savepoint(run)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        expected = MATRIX[(role, "admin", key)]
        where = f"{role} × admin × {key}"

        if role == "anonymous":
            assert response.status_code == 302 and "/login/" in response["Location"], where
            continue
        if role == "other":
            # Bob's own changelist: A's row is not his to select; the action touches nothing of A's.
            assert not outcome["changed"], f"{where}: changed tenant A's rows"
            assert not any(m in body.decode(errors="replace") for m in markers), f"{where}: showed A's rows"
            continue
        ran = _action_ran(response)
        assert ran == expected, f"{where}: {'ran' if ran else 'refused'} (HTTP {response.status_code})"
        page = offered[role]
        listed = page.status_code == 200 and f'value="{name}"' in page.content.decode()
        assert listed == expected, f"{where}: {'offered' if listed else 'not offered'} on the changelist"
        if not expected:
            assert not outcome["changed"], f"{where}: refused, yet tenant A's rows changed"


# --- the API door -----------------------------------------------------------------------------


def _api_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def _api_verb(key, people, rows, tenant_a) -> None:
    name, method = key.split(" ")
    pattern, view = api_routes()[key]
    kwargs = {}
    if "pk" in pattern.pattern.regex.groupindex:
        label = PK_MODEL.get(name) or view.queryset.model._meta.label_lower
        kwargs["pk"] = rows[label].pk
    url = reverse(name, kwargs={**kwargs, **ROUTE_KWARGS.get(name, {})})
    clients = {role: _api_client(user) for role, user in people.items()}
    before = _snapshot(tenant_a)
    markers = _markers(rows)
    for role in ROLES:
        client, outcome = clients[role], {}

        def call(client=client, outcome=outcome, watch=role == "other" or not MATRIX[(role, "api", key)]):
            if method == "GET":
                response = client.get(url)
            else:
                response = getattr(client, method.lower())(url, {}, format="json")
            outcome["changed"] = watch and _snapshot(tenant_a) != before
            return response

        response = _in_savepoint(call)
        status = response.status_code
        body = (b"".join(response.streaming_content) if response.streaming else response.content).decode(
            errors="replace"
        )
        expected = MATRIX[(role, "api", key)]
        where = f"{role} × api × {key}"
        assert status < 500, f"{where}: HTTP {status}"

        if role == "anonymous":
            assert status == 401, f"{where}: HTTP {status}"
            continue
        if role == "other":
            if kwargs:
                assert status == 404, f"{where}: HTTP {status} on tenant A's row"
            assert not outcome["changed"], f"{where}: changed tenant A's rows"
            assert not any(m in body for m in markers), f"{where}: showed A's rows"
            continue
        allowed = status not in (401, 403, 404, 405)
        assert allowed == expected, f"{where}: {'allowed' if allowed else 'refused'} (HTTP {status})"
        if not expected:
            assert status == 403, f"{where}: HTTP {status}"
            assert not outcome["changed"], f"{where}: refused, yet tenant A's rows changed"


def _each(check, keys, people, rows, tenant_a) -> list[str]:
    """Every cell of the matrix for ``keys``, with one set of rows (each cell runs in a rolled-back savepoint;
    building the rows per key took minutes). Returns the failures, each naming its cell."""
    failures = []
    for key in sorted(keys):
        try:
            check(key, people, rows, tenant_a)
        except AssertionError as exc:
            failures.append(f"{key}: {exc}")
    return failures


def test_every_admin_action_holds_its_cells(people, rows, tenant_a):
    assert _each(_admin_action, ADMIN_ACTIONS, people, rows, tenant_a) == []


def test_every_api_verb_holds_its_cells(people, rows, tenant_a):
    assert _each(_api_verb, API_VERBS, people, rows, tenant_a) == []


def test_the_snapshot_sees_any_change_of_tenant_a_and_nothing_else(rows, tenant_a, tenant_b):
    """The walk's "nothing of A changed" is only as good as the snapshot: one field of one row of A's changes it, a
    key's ``last_used_at`` and another tenant's rows do not."""
    from django.utils import timezone

    before = _snapshot(tenant_a)
    assert "campaigns.Campaign" in before and "tenant" in before
    rows["tenants.apikey"].last_used_at = timezone.now()
    rows["tenants.apikey"].save(update_fields=["last_used_at"])
    type(rows["campaigns.campaign"]).objects.filter(tenant=tenant_b).update(name="Bob's renamed")
    assert _snapshot(tenant_a) == before
    type(rows["contacts.contact"]).objects.filter(pk=rows["contacts.contact"].pk).update(first_name="Changed")
    assert _snapshot(tenant_a) != before
