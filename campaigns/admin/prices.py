"""Prices per country for the cost estimate: a table the tenant edits in place (``list_editable``), no JSON."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from campaigns.models import CountryPrice
from campaigns.pricing import default_mms_price, default_segment_price
from guard.geo import countries_parse
from tenants.admin_scoping import TenantScopedAdmin, request_tenant


class CountryPriceForm(forms.ModelForm):
    """Checks the ISO code, and that the tenant has no row for it yet (the tenant is not a field of the form,
    so Django's own unique check would not see it: a duplicate would be a database error)."""

    request_tenant = None

    class Meta:
        model = CountryPrice
        exclude: list[str] = []

    def clean_country(self) -> str:
        try:
            codes = countries_parse(self.cleaned_data.get("country", ""))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        if len(codes) != 1:
            raise forms.ValidationError("One two-letter ISO code, e.g. GB.")
        return codes[0]

    def clean(self):
        data = super().clean()
        tenant_id = self.request_tenant.pk if self.request_tenant else getattr(data.get("tenant"), "pk", None)
        country = data.get("country")
        if tenant_id and country:
            taken = CountryPrice.objects.filter(tenant_id=tenant_id, country=country).exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("country", f"{country} has its prices already: change that row.")
        return data


@admin.register(CountryPrice)
class CountryPriceAdmin(TenantScopedAdmin):
    form = CountryPriceForm
    list_display = ("country", "sms_price_per_segment", "mms_price_per_message")
    list_display_links = ("country",)
    list_editable = ("sms_price_per_segment", "mms_price_per_message")
    search_fields = ("country",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request_tenant = request_tenant(request)
        return form

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "title": (
                f"Prices per country for the cost estimate: a country without a row, or an empty price, costs "
                f"{default_segment_price()} per SMS segment and {default_mms_price()} per MMS (the US list prices)"
            ),
        }
        return super().changelist_view(request, extra_context)
