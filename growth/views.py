"""The hosted sign-up page ``/f/<tenant>/<form>/``: public (no login), rendered on the server, no script.

Thin: the throttle and the form decide, ``services.signup_submit`` writes. It may be framed by any site (the
embeddable snippet): ``frame-ancestors *`` and no ``X-Frame-Options`` on this page only; CSRF is not checked here
(a third-party frame gets no first-party cookie, and there is no session to protect: every sign-up is a request
the person confirms by text), the honeypot and the throttles are the guard.
"""

from __future__ import annotations

import logging

from csp.decorators import csp_replace
from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from common.addresses import client_address

from . import throttle
from .forms import PublicSignupForm
from .selectors import signup_form_path, signup_form_public_get
from .services import signup_submit

logger = logging.getLogger(__name__)

TEMPLATE = "growth/signup_form.html"


def _too_many(request, form, wait: int):
    response = render(request, "growth/signup_throttled.html", {"signup_form": form, "wait": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


@csrf_exempt
@xframe_options_exempt
@csp_replace({"frame-ancestors": ["*"]})
@require_http_methods(["GET", "HEAD", "POST"])
def signup_page(request, tenant_slug: str, form_slug: str):
    signup_form = signup_form_public_get(tenant_slug=tenant_slug, form_slug=form_slug)
    if signup_form is None:
        raise Http404("No such form")
    tenant = signup_form.tenant
    if request.method != "POST":
        form = PublicSignupForm(signup_form=signup_form)
        return render(request, TEMPLATE, {"signup_form": signup_form, "form": form})

    address = client_address(request)
    wait = throttle.address_wait(tenant_id=tenant.pk, address=address)
    if wait:
        logger.warning("Sign-up form %s: too many posts from one address", signup_form.pk)
        return _too_many(request, signup_form, wait)
    form = PublicSignupForm(request.POST, signup_form=signup_form)
    if form.is_bot:
        logger.info("Sign-up form %s: honeypot filled, ignored", signup_form.pk)
        return render(request, "growth/signup_done.html", {"signup_form": signup_form})
    if not form.is_valid():
        return render(request, TEMPLATE, {"signup_form": signup_form, "form": form})  # Django's way: 200, errors
    number = form.cleaned_data["phone_number"]
    wait = throttle.number_wait(tenant_id=tenant.pk, phone_number=number)
    if wait:
        logger.warning("Sign-up form %s: too many sign-ups of one number", signup_form.pk)
        return _too_many(request, signup_form, wait)
    signup_submit(
        form=signup_form,
        phone_number=number,
        first_name=form.cleaned_data.get("first_name", ""),
        last_name=form.cleaned_data.get("last_name", ""),
        email=form.cleaned_data.get("email", ""),
        custom=form.custom_values(),
        page_url=settings.PUBLIC_BASE_URL + signup_form_path(signup_form),
        ip_address=address,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    return render(request, "growth/signup_done.html", {"signup_form": signup_form})
