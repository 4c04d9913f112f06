"""The public sign-up form: its fields follow the ``SignupForm`` row; errors are per field."""

from __future__ import annotations

from django import forms
from django.utils.text import slugify

from compliance.inbound import render_template
from compliance.phone import phone_normalize
from guard.selectors import allowed_countries, screen_for

from .models import SignupForm

#: The honeypot: a field people never see (CSS hides it, with a label telling screen readers to leave it empty).
HONEYPOT = "website"


def custom_field_key(name: str) -> str:
    return "custom_" + slugify(name).replace("-", "_")


class PublicSignupForm(forms.Form):
    phone_number = forms.CharField(
        label="Mobile number", max_length=32, widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"})
    )
    consent = forms.BooleanField(required=True, error_messages={"required": "Tick the box to agree to receive texts."})
    website = forms.CharField(
        label="Leave this field empty",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def __init__(self, *args, signup_form: SignupForm, **kwargs):
        super().__init__(*args, **kwargs)
        self.signup_form = signup_form
        self.tenant = signup_form.tenant
        self.fields["consent"].label = render_template(signup_form.disclosure_text, tenant=self.tenant)
        asked = []
        if signup_form.ask_first_name:
            asked.append(("first_name", forms.CharField(label="First name", max_length=100, required=False)))
        if signup_form.ask_last_name:
            asked.append(("last_name", forms.CharField(label="Last name", max_length=100, required=False)))
        if signup_form.ask_email:
            asked.append(("email", forms.EmailField(label="Email", required=False)))
        self.custom_names: dict[str, str] = {}
        for name in signup_form.custom_fields:
            key = custom_field_key(name)
            if key in self.custom_names or key == "custom_":
                continue
            self.custom_names[key] = name
            asked.append((key, forms.CharField(label=name, max_length=200, required=False)))
        # The order on the page: the asked fields, the number, the consent box (the honeypot last, hidden).
        fields = dict(asked)
        for name in ("phone_number", "consent", HONEYPOT):
            fields[name] = self.fields[name]
        self.fields = fields
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "sf-input")

    @property
    def is_bot(self) -> bool:
        """The honeypot was filled in: a bot (refused silently: the page thanks it and nothing is written)."""
        return bool((self.data.get(HONEYPOT) or "").strip())

    def clean_phone_number(self) -> str:
        raw = self.cleaned_data["phone_number"]
        number = phone_normalize(raw, default_country=self.tenant.default_country)
        if number is None:
            raise forms.ValidationError("Enter a valid mobile number, e.g. +1 415 555 0100.")
        # The fraud guard's country rules and high-risk ranges: this tenant never texts such a number.
        if screen_for(tenant=self.tenant).verdict(number) is not None:
            countries = ", ".join(allowed_countries(tenant=self.tenant))
            raise forms.ValidationError(
                f"We can only text mobile numbers in {countries}. This number cannot sign up here."
            )
        return number

    def custom_values(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(key, "") for key, name in self.custom_names.items()}
