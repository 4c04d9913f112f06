"""Reads of list growth: a tenant's keyword for an inbound text, a public form, the QR codes' targets."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.urls import reverse

from compliance.keywords import normalize
from tenants.models import Tenant

from .models import Keyword, SignupForm


def keyword_word(text: str) -> str:
    """How a keyword is stored and matched: normalized (case, punctuation), upper case, no spaces."""
    return normalize(text).replace(" ", "").upper()


def keyword_for_text(*, tenant: Tenant, text: str) -> Keyword | None:
    """The tenant's active keyword a whole (normalized) message is, or ``None``: one indexed query, only for a
    message short enough to be a keyword."""
    if not text or len(text) > 40:
        return None
    word = keyword_word(text)
    if not word or " " in normalize(text):
        return None
    return Keyword.objects.filter(tenant=tenant, word=word, active=True).first()


def signup_form_public_get(*, tenant_slug: str, form_slug: str) -> SignupForm | None:
    """The active form at ``/f/<tenant_slug>/<form_slug>/`` with its tenant, or ``None``."""
    return (
        SignupForm.objects.select_related("tenant")
        .filter(tenant__slug=tenant_slug, slug=form_slug, active=True)
        .first()
    )


def signup_form_path(form: SignupForm) -> str:
    return reverse("growth-signup", kwargs={"tenant_slug": form.tenant.slug, "form_slug": form.slug})


def signup_form_url(form: SignupForm) -> str:
    """The form's public address on ``PUBLIC_BASE_URL`` (what the QR code, the snippet and the ledger name)."""
    return settings.PUBLIC_BASE_URL + signup_form_path(form)


def embed_snippet(form: SignupForm) -> str:
    """The HTML a tenant pastes into its own site to show the form."""
    return (
        f'<iframe src="{signup_form_url(form)}" title="{_attr(form.title)}" width="100%" height="640" '
        'style="border:0;max-width:480px" loading="lazy"></iframe>'
    )


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def keyword_number(keyword: Keyword) -> str:
    """The number a keyword is texted to: the keyword's own, else the tenant's sender when that is a number or a
    short code ('' when the tenant sends through a Messaging Service only)."""
    number = keyword.sms_number or keyword.tenant.sender or ""
    return "" if number.startswith("MG") else number


def keyword_sms_link(keyword: Keyword) -> str:
    """``sms:<number>?&body=<KEYWORD>``: the form both iOS and Android open with the body filled in."""
    return f"sms:{keyword_number(keyword)}?&body={quote(keyword.word)}"
