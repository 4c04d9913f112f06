"""Every admin page: a tenant user sees, edits and picks only their tenant's rows.

``FACTORIES`` must name a factory for every tenant-owned model registered in the
admin; ``test_every_admin_model_is_covered`` fails when a new one is missing.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.module_loading import import_string

from tenants.admin_scoping import TenantScopedAdmin
from tenants.models import Role, Tenant
from tenants.tests.factories import UserFactory

FACTORIES = {
    "tenants.user": "tenants.tests.factories.UserFactory",
    "tenants.apikey": "tenants.tests.factories.ApiKeyFactory",
    "contacts.tag": "contacts.tests.factories.TagFactory",
    "contacts.contact": "contacts.tests.factories.ContactFactory",
    "campaigns.campaign": "campaigns.tests.factories.CampaignFactory",
    "campaigns.message": "campaigns.tests.factories.MessageFactory",
    "campaigns.countryprice": "campaigns.tests.factories.CountryPriceFactory",
    "campaigns.messagetemplate": "campaigns.tests.factories.MessageTemplateFactory",
    "compliance.suppression": "compliance.tests.factories.SuppressionFactory",
    "compliance.inboundmessage": "compliance.tests.factories.InboundMessageFactory",
    "compliance.consentevent": "compliance.tests.factories.ConsentEventFactory",
    "compliance.compliancesettings": "compliance.tests.factories.ComplianceSettingsFactory",
    "compliance.auditlog": "compliance.tests.factories.AuditLogFactory",
    "growth.keyword": "growth.tests.factories.KeywordFactory",
    "growth.signupform": "growth.tests.factories.SignupFormFactory",
    "links.shortlink": "links.tests.factories.ShortLinkFactory",
    "tracking.statusevent": "tracking.tests.factories.StatusEventFactory",
    "tracking.deliveryfailure": "tracking.tests.factories.DeliveryFailureFactory",
    "links.click": "links.tests.factories.ClickFactory",
    "links.linkdomain": "links.tests.factories.LinkDomainFactory",
    "links.linkexpiry": "links.tests.factories.LinkExpiryFactory",
    "contacts.contactimport": "contacts.tests.factories.ContactImportFactory",
    "integrations.eventsubscription": "integrations.tests.factories.EventSubscriptionFactory",
    "integrations.event": "integrations.tests.factories.EventFactory",
    "integrations.eventdelivery": "integrations.tests.factories.EventDeliveryFactory",
    "integrations.conversion": "integrations.tests.factories.ConversionFactory",
    "media.mediafile": "media.tests.factories.MediaFileFactory",
    "guard.guardsettings": "guard.tests.factories.GuardSettingsFactory",
    "guard.guardevent": "guard.tests.factories.GuardEventFactory",
    "journeys.journey": "journeys.tests.factories.JourneyFactory",
    "journeys.journeyrun": "journeys.tests.factories.JourneyRunFactory",
    "inbox.conversation": "inbox.tests.factories.ConversationFactory",
    "inbox.inboxsettings": "inbox.tests.factories.InboxSettingsFactory",
    "segments.segment": "segments.tests.factories.SegmentFactory",
    "crm.crmconnection": "crm.tests.factories.CrmConnectionFactory",
    "crm.inboundevent": "crm.tests.factories.InboundEventFactory",
    "crm.resthook": "crm.tests.factories.RestHookFactory",
}


def _scoped_models():
    return sorted(
        (m for m, ma in admin.site._registry.items() if isinstance(ma, TenantScopedAdmin)),
        key=lambda m: m._meta.label_lower,
    )


def test_every_admin_model_is_covered():
    missing = [m._meta.label_lower for m in _scoped_models() if m._meta.label_lower not in FACTORIES]
    assert missing == [], f"add factories for {missing} to FACTORIES"
    # Every tenant-owned model registered in the admin uses the scoped admin.
    for model, model_admin in admin.site._registry.items():
        if model is not Tenant and any(f.name == "tenant" for f in model._meta.fields):
            assert isinstance(model_admin, TenantScopedAdmin), model


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(model, name, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


@pytest.mark.parametrize("label", sorted(FACTORIES))
def test_changelist_and_change_view_are_scoped(label, tenant_a, tenant_b, alice, charlie):
    factory = import_string(FACTORIES[label])
    model = factory._meta.model
    mine = factory(tenant=tenant_a)
    theirs = factory(tenant=tenant_b)
    client = _login(alice)

    page = client.get(_url(model, "changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert _url(model, "change", mine.pk) in html
    assert _url(model, "change", theirs.pk) not in html

    assert client.get(_url(model, "change", mine.pk)).status_code == 200
    other = client.get(_url(model, "change", theirs.pk))
    assert other.status_code in (302, 404)  # the admin redirects "doesn't exist"
    assert str(theirs) not in other.content.decode()

    outsider = _login(charlie).get(_url(model, "changelist")).content.decode()
    assert _url(model, "change", mine.pk) not in outsider
    assert _url(model, "change", theirs.pk) not in outsider


@pytest.mark.parametrize("label", sorted(FACTORIES))
def test_foreign_key_choices_are_scoped(label, tenant_a, tenant_b, alice):
    factory = import_string(FACTORIES[label])
    model = factory._meta.model
    model_admin = admin.site._registry[model]
    factory(tenant=tenant_a)
    factory(tenant=tenant_b)
    request = RequestFactory().get("/")
    request.user = alice
    form_class = model_admin.get_form(request, None)
    for name, field in form_class.base_fields.items():
        qs = getattr(field, "queryset", None)
        if qs is None:
            continue
        if qs.model is Tenant:
            assert set(qs) <= {tenant_a}, name
        elif any(f.name == "tenant" for f in qs.model._meta.fields):
            assert all(obj.tenant_id == tenant_a.pk for obj in qs), f"{label}.{name} offers another tenant's rows"
    assert "tenant" not in form_class.base_fields


def test_tenant_admin_sees_only_own_tenant(tenant_a, tenant_b, alice):
    client = _login(alice)
    html = client.get(reverse("admin:tenants_tenant_changelist")).content.decode()
    assert _url(Tenant, "change", tenant_a.pk) in html
    assert _url(Tenant, "change", tenant_b.pk) not in html
    page = client.get(_url(Tenant, "change", tenant_a.pk)).content.decode()
    assert tenant_a.twilio_auth_token not in page  # never shown back in full


def test_superuser_sees_every_tenant(tenant_a, tenant_b, django_user_model):
    root = django_user_model.objects.create_superuser("root@example.com", "pw-123456")
    html = _login(root).get(reverse("admin:contacts_contact_changelist")).status_code
    assert html == 200
    tenants = _login(root).get(reverse("admin:tenants_tenant_changelist")).content.decode()
    assert _url(Tenant, "change", tenant_a.pk) in tenants and _url(Tenant, "change", tenant_b.pk) in tenants


def test_viewer_cannot_change(tenant_a):
    from campaigns.tests.factories import CampaignFactory

    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    campaign = CampaignFactory(tenant=tenant_a)
    client = _login(viewer)
    assert client.get(_url(campaign.__class__, "change", campaign.pk)).status_code == 200
    resp = client.post(_url(campaign.__class__, "change", campaign.pk), {"name": "hacked", "body": "x"})
    assert resp.status_code == 403
    assert client.get(_url(campaign.__class__, "add")).status_code == 403


def test_admin_action_only_touches_own_rows(tenant_a, tenant_b, alice):
    from contacts.models import Contact
    from contacts.tests.factories import ContactFactory

    mine = ContactFactory(tenant=tenant_a)
    theirs = ContactFactory(tenant=tenant_b)
    client = _login(alice)
    client.post(
        reverse("admin:contacts_contact_changelist"),
        {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk], "post": "yes"},
    )
    assert not Contact.objects.filter(pk=mine.pk).exists()
    assert Contact.objects.filter(pk=theirs.pk).exists()


def test_login_with_email(tenant_a):
    UserFactory(email="dana@acme.example", tenant=tenant_a)
    client = Client()
    resp = client.post(
        reverse("admin:login"), {"username": "dana@acme.example", "password": "pw-123456", "next": "/admin/"}
    )
    assert resp.status_code == 302 and resp["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
