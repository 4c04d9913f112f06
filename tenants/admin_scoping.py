"""The admin's tenant boundary, in one place.

Every admin of a tenant-owned model inherits ``TenantScopedAdmin`` (its inlines
``TenantScopedInline``): a tenant user sees, edits and picks only their own
tenant's rows; superusers see everything. "Picks" covers every widget that names
another row: select and autocomplete choices, raw-id labels, initial values from
the querystring, related-field list filters, inline forms. Viewers read, they never
write: an admin action is a write unless it declares ``permissions=["view"]``.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models

from .models import Role, Tenant, TenantOwned


def request_tenant(request) -> Tenant | None:
    user = request.user
    return None if user.is_superuser else user.tenant


def form_tenant(request) -> Tenant | None:
    """The tenant a posted admin form is for: the user's own, or for a superuser the form's ``tenant`` field
    (None when it names none). The live previews behind the campaign and segment forms answer with it."""
    tenant = request_tenant(request)
    if tenant is not None:
        return tenant
    tenant_id = request.POST.get("tenant", "")
    return Tenant.objects.filter(pk=tenant_id).first() if tenant_id.isdigit() else None


def scope_queryset(qs: models.QuerySet, request) -> models.QuerySet:
    """Limit ``qs`` to the request's tenant when its model is tenant-owned."""
    if request.user.is_superuser:
        return qs
    model = qs.model
    if model is Tenant:
        return qs.filter(pk=request.user.tenant_id)
    if issubclass(model, TenantOwned) or any(f.name == "tenant" for f in model._meta.fields):
        return qs.filter(tenant_id=request.user.tenant_id)
    return qs


def may_write(user) -> bool:
    """The roles that change things (in the admin as in the API): admins and marketers; viewers only read."""
    return user.is_superuser or (
        user.is_active and user.tenant_id is not None and user.role in (Role.ADMIN, Role.MARKETER)
    )


def action_is_read_only(func) -> bool:
    """An action that only reads says so: ``@admin.action(permissions=["view"])``. Any other is a write."""
    return tuple(getattr(func, "allowed_permissions", ())) == ("view",)


class TenantRawIdWidget(ForeignKeyRawIdWidget):
    """The raw-id input whose label (the row's ``str`` and link) is looked up in the tenant's rows only.

    Django's looks the value up in the whole table: any id typed in the querystring
    or a posted form came back with another tenant's phone number or campaign name.
    """

    def __init__(self, rel, admin_site, *, queryset: models.QuerySet, attrs=None, using=None):
        super().__init__(rel, admin_site, attrs=attrs, using=using)
        self.queryset = queryset

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            self.queryset.using(self.db).get(**{key: value})
        except (ValueError, TypeError, ValidationError, self.queryset.model.DoesNotExist):
            return "", ""
        return super().label_and_url_for_value(value)


class TenantRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-field list filter offering only the tenant's rows (Django's offers the whole table)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        related = field.related_model
        qs = related._default_manager.all()
        limit = getattr(field, "get_limit_choices_to", None)
        if limit is not None:
            qs = qs.complex_filter(limit())
        qs = scope_queryset(qs, request)
        if ordering:
            qs = qs.order_by(*ordering)
        remote = getattr(field, "remote_field", None)
        attname = remote.get_related_field().attname if getattr(field, "concrete", False) and remote else "pk"
        return [(getattr(obj, attname), str(obj)) for obj in qs]


class _ScopedChoices:
    """Foreign-key and many-to-many choices from the tenant's rows, for model admins and inlines alike."""

    def get_field_queryset(self, db, db_field, request):
        qs = super().get_field_queryset(db, db_field, request)
        if qs is None:
            qs = db_field.remote_field.model._default_manager.using(db).all()
        return scope_queryset(qs, request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        db = kwargs.get("using")
        if "queryset" not in kwargs:
            kwargs["queryset"] = self.get_field_queryset(db, db_field, request)
        if (
            "widget" not in kwargs
            and db_field.name in self.raw_id_fields
            and db_field.name not in self.get_autocomplete_fields(request)
        ):
            kwargs["widget"] = TenantRawIdWidget(
                db_field.remote_field, self.admin_site, queryset=kwargs["queryset"], using=db
            )
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = scope_queryset(field.queryset, request)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = scope_queryset(field.queryset, request)
        return field


class TenantScopedInline(_ScopedChoices):
    """Mix into every inline of a tenant-scoped admin: its rows and its choices are the tenant's."""

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request)


class TenantReadOnlyInline(TenantScopedInline):
    """A record shown inside its parent's page (a message's checks, a delivery's attempts): seen by whoever may see
    the parent (whose admin is scoped), never added, changed or deleted here."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return self.admin_site._registry[self.parent_model].has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TenantScopedAdmin(_ScopedChoices, admin.ModelAdmin):
    """ModelAdmin for tenant-owned models: scoped rows, choices and permissions."""

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request)

    def get_changeform_initial_data(self, request):
        """Initial values from the querystring (``?campaign=<id>``), less any row that is not the tenant's."""
        initial = super().get_changeform_initial_data(request)
        if request.user.is_superuser:
            return initial
        for name, value in list(initial.items()):
            try:
                field = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if not (field.is_relation and field.concrete and field.related_model is not None):
                continue
            values = {str(v) for v in (value if isinstance(value, list | tuple) else [value]) if str(v)}
            key = "pk" if field.many_to_many else field.remote_field.get_related_field().name
            rows = scope_queryset(field.related_model._default_manager.all(), request)
            try:
                found = rows.filter(**{f"{key}__in": values}).count()
            except (ValueError, TypeError, ValidationError):
                found = -1
            if found != len(values):
                del initial[name]
        return initial

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser:
            exclude.append("tenant")
        return exclude

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if request.user.is_superuser:
            if "tenant" not in filters:
                filters.insert(0, "tenant")
            return filters
        return [self._scoped_filter(spec) for spec in filters]

    def _scoped_filter(self, spec):
        """A filter on a relation, as Django builds it by default, lists the whole related table: not here."""
        if isinstance(spec, str):
            path, kind = spec, None
        elif isinstance(spec, list | tuple) and len(spec) == 2 and isinstance(spec[0], str):
            path, kind = spec
        else:
            return spec  # a SimpleListFilter: it builds its own choices (from the scoped queryset)
        if kind not in (None, admin.RelatedFieldListFilter):
            return spec  # RelatedOnlyFieldListFilter (choices from the scoped rows) or a custom class
        try:
            field = get_fields_from_path(self.model, path)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return spec
        if field.is_relation and field.related_model is not None:
            return (path, TenantRelatedFieldListFilter)
        return spec

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.tenant_id = request.user.tenant_id
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for inst in instances:
            if not request.user.is_superuser and hasattr(inst, "tenant_id"):
                inst.tenant_id = request.user.tenant_id
            inst.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()

    # Permissions by role, not by Django permission rows: tenant users are staff
    # with no model permissions of their own.
    def _tenant_user(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.tenant_id is not None

    def has_module_permission(self, request):
        return request.user.is_superuser or self._tenant_user(request)

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        if not self._tenant_user(request):
            return False
        return obj is None or getattr(obj, "tenant_id", request.user.tenant_id) == request.user.tenant_id

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj) and (
            request.user.is_superuser or request.user.role in (Role.ADMIN, Role.MARKETER)
        )

    def has_add_permission(self, request):
        return self.has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    # Actions by role: a viewer runs only the actions that declare themselves reads.
    def get_actions(self, request):
        actions = super().get_actions(request)
        if may_write(request.user):
            return actions
        return {name: spec for name, spec in actions.items() if action_is_read_only(spec[0])}

    def response_action(self, request, queryset):
        # Mixins may add actions after ``get_actions`` above: the chosen one is checked again here.
        if not may_write(request.user):
            actions = self.get_actions(request)
            for name in request.POST.getlist("action"):
                func = actions.get(name, (None,))[0]
                if func is not None and not action_is_read_only(func):
                    raise PermissionDenied
        return super().response_action(request, queryset)
