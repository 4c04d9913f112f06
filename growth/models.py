"""List growth: a tenant's keywords (VIP, a promo word) and its hosted sign-up forms.

A keyword is answered through the inbound webhook (``compliance.inbound`` asks ``growth.handler`` through
``compliance.keyword_hooks``): its auto-reply, its tags on the contact, and, when the sender has not granted
consent yet, the tenant's JOIN prompt so a YES subscribes them. A sign-up form is a public page
(``/f/<tenant>/<form>/``) whose submission writes the consent request with the disclosure shown, and texts the
confirmation (double opt-in) through the sending pipeline.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models

from tenants.models import TenantOwned

DEFAULT_DISCLOSURE = (
    "By checking this box I agree to receive recurring automated marketing text messages from {brand} at the "
    "number provided. Consent is not a condition of purchase. Msg frequency varies. Msg&data rates may apply. "
    "Reply HELP for help, STOP to cancel."
)
DEFAULT_SUCCESS = "Thanks! Check your phone: reply YES to the text we just sent to confirm your subscription."
DEFAULT_SUCCESS_SINGLE = "Thanks, you are subscribed."


def _tags_field(help_text: str):
    return ArrayField(models.CharField(max_length=64), default=list, blank=True, help_text=help_text)


class Keyword(TenantOwned):
    """A word people text to the tenant's number. Never one of STOP/START/HELP's words or the JOIN keyword."""

    word = models.CharField(
        max_length=30, help_text="One word, letters and digits (matched in any case, punctuation ignored), e.g. VIP."
    )
    auto_reply = models.TextField(
        max_length=1000,
        help_text="The answer texted back. {brand} is the tenant name. Keep it short: one SMS is 160 characters.",
    )
    tags = _tags_field("Tags added to the contact, separated by commas (e.g. vip, spring-promo).")
    ask_consent = models.BooleanField(
        "ask for consent",
        default=True,
        help_text="Someone who has not granted consent also gets the tenant's JOIN prompt (reply YES to confirm) "
        "after the auto-reply, and is subscribed by their YES (double opt-in). Off: the keyword only answers and tags.",
    )
    sms_number = models.CharField(
        "number for the QR code",
        max_length=16,
        blank=True,
        validators=[RegexValidator(r"^(\+[1-9]\d{1,14}|[0-9]{5,6})$", "An E.164 number (+1…) or a short code.")],
        help_text="The number people text the keyword to, for its QR code (E.164, or a short code). Empty: the "
        "tenant's sender number.",
    )
    active = models.BooleanField(default=True, help_text="Inactive: the word is a plain reply again.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["word"]
        constraints = [models.UniqueConstraint(fields=["tenant", "word"], name="growth_keyword_unique_per_tenant")]

    def __str__(self) -> str:
        return self.word


class SignupForm(TenantOwned):
    """A hosted sign-up page. The disclosure is shown next to the consent checkbox and stored verbatim, with its
    version (bumped whenever the text changes), in the consent ledger of every submission."""

    slug = models.SlugField(max_length=64, help_text="Part of the public address: /f/<tenant>/<slug>/.")
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True, help_text="A line or two above the fields.")
    ask_first_name = models.BooleanField("ask first name", default=True)
    ask_last_name = models.BooleanField("ask last name", default=False)
    ask_email = models.BooleanField("ask email", default=False)
    custom_fields = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        help_text="More questions, by name, separated by commas (e.g. city, birthday): kept in the contact's "
        "custom fields under that name.",
    )
    tags = _tags_field("Tags added to whoever signs up, separated by commas.")
    disclosure_text = models.TextField(
        default=DEFAULT_DISCLOSURE,
        help_text="Shown next to the consent checkbox and stored verbatim with each sign-up. {brand} is the "
        "tenant name. Changing it starts a new version.",
    )
    disclosure_version = models.PositiveIntegerField(default=1, editable=False)
    success_text = models.TextField(default=DEFAULT_SUCCESS, help_text="Shown after a sign-up.")
    double_opt_in = models.BooleanField(
        default=True,
        help_text="Text a confirmation (the tenant's JOIN prompt: reply YES) and subscribe on the YES. Off: the "
        "checkbox alone subscribes (a number on the opt-out list still has to reply YES).",
    )
    active = models.BooleanField(default=True, help_text="Inactive: the page answers 404.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="growth_form_slug_unique_per_tenant")]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        if self.pk is not None:
            before = SignupForm.objects.filter(pk=self.pk).values_list("disclosure_text", flat=True).first()
            if before is not None and before != self.disclosure_text:
                self.disclosure_version += 1
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "disclosure_version"}
        super().save(*args, **kwargs)
