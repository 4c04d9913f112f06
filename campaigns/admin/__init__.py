from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_POST

from campaigns.abtest import MAX_WAIT_HOURS
from campaigns.authoring import (
    CampaignError,
    campaign_check,
    campaign_media_ids,
    campaign_media_set,
    campaign_preview,
)
from campaigns.models import (
    AbMetric,
    Campaign,
    CampaignKind,
    CampaignPurpose,
    CampaignStatus,
    Message,
    MessageCheck,
    MessageStatus,
    MessageTemplate,
    MmsFallback,
)
from campaigns.sending import resolution
from contacts.models import Tag
from media.models import MediaFile
from media.widgets import MediaPicker, thumbnail
from segments.models import Segment
from tenants.admin_scoping import TenantReadOnlyInline, TenantScopedAdmin, form_tenant, request_tenant
from tenants.models import Tenant

from . import prices, templates  # noqa: F401 - registers the country prices' and message templates' admins
from .dashboard import CampaignDashboardAdminMixin
from .send_confirm import CampaignSendConfirmAdminMixin
from .sending import SENDING_READONLY_FIELDS, CampaignSendingAdminMixin

AUDIENCE_FIELDS = (
    "segment",
    "audience_tags",
    "exclude_tags",
    "field_name",
    "field_value",
    "created_since",
    "clicked_campaign",
    "not_clicked_campaign",
)


class CampaignForm(forms.ModelForm):
    """The authoring form: body, link, A/B variants and an audience builder that writes ``audience``."""

    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        required=False,  # an MMS may have no text: campaign_check says when one is needed
        strip=False,
        help_text="Merge fields: {{first_name}}, {{last_name}}, {{link}}; a fallback: {{first_name|there}}.",
    )
    purpose = forms.ChoiceField(
        choices=CampaignPurpose.choices,
        initial=CampaignPurpose.MARKETING,
        required=False,
        help_text="Marketing goes to contacts who granted consent; transactional (orders, appointments, account "
        "notices) also to those whose consent is unknown, as the compliance settings say. Revoked: never.",
    )
    # A/B test as rows (no JSON): the body above is variant A's; B, C and D each a body and a percent.
    variant_a_percent = forms.IntegerField(
        required=False, min_value=1, max_value=99, label="A: percent", help_text="Empty: the variants split evenly."
    )
    variant_b_body = forms.CharField(
        required=False,
        strip=False,
        label="Variant B",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Optional A/B test: a second body (the one above is A). Percents add up to 100.",
    )
    variant_b_percent = forms.IntegerField(required=False, min_value=1, max_value=99, label="B: percent")
    variant_c_body = forms.CharField(
        required=False, strip=False, label="Variant C", widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )
    variant_c_percent = forms.IntegerField(required=False, min_value=1, max_value=99, label="C: percent")
    variant_d_body = forms.CharField(
        required=False, strip=False, label="Variant D", widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )
    variant_d_percent = forms.IntegerField(required=False, min_value=1, max_value=99, label="D: percent")
    ab_wait_hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_WAIT_HOURS,
        initial=4,
        label="pick the winner after (hours)",
        help_text="Hours after the start to compare the variants (4 when empty)",
    )
    media = forms.ModelMultipleChoiceField(
        queryset=MediaFile.objects.none(),
        required=False,
        widget=MediaPicker,
        help_text="Sent with every message as an MMS (up to 10 files, 5 MB in all), in the library's order; the "
        'body may then be empty. A/B variants may name their own: "media": [ids] in a variant.',
    )
    mms_fallback = forms.ChoiceField(
        choices=MmsFallback.choices,
        initial=MmsFallback.SKIP,
        required=False,
        widget=forms.RadioSelect,
        label="Recipients who cannot take MMS",
        help_text="Numbers outside the US and Canada, and landlines Twilio reported.",
    )
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.none(),
        required=False,
        label="Start from a template",
        help_text="A saved message (Campaigns → Message templates): its body, link and media fill those left empty "
        "here when you save.",
    )
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.none(),
        required=False,
        label="Segment",
        help_text="A saved segment (Segments in the menu), counted when the campaign sends; the fields below, if "
        "any, narrow it further.",
    )
    audience_tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.none(), required=False, label="Any of these tags", help_text="None = every contact."
    )
    exclude_tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.none(), required=False, label="Except contacts tagged"
    )
    field_name = forms.CharField(required=False, label="Custom field", help_text="e.g. city")
    field_value = forms.CharField(required=False, label="equals")
    created_since = forms.DateField(required=False, label="Added since", widget=forms.DateInput(attrs={"type": "date"}))
    clicked_campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.none(), required=False, label="Clicked the link of"
    )
    not_clicked_campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.none(), required=False, label="Got but did not click"
    )

    request_tenant: Tenant | None = None

    class Meta:
        model = Campaign
        fields = [
            "tenant",
            "name",
            "purpose",
            "body",
            "link_url",
            "mms_fallback",
            "send_at",
            "local_send_time",
            "ab_test_percent",
            "ab_wait_hours",
            "ab_metric",
        ]

    def clean_purpose(self) -> str:
        return self.cleaned_data.get("purpose") or CampaignPurpose.MARKETING

    def clean_ab_wait_hours(self) -> int:
        return self.cleaned_data.get("ab_wait_hours") or 4

    def clean_ab_metric(self) -> str:
        return self.cleaned_data.get("ab_metric") or AbMetric.CLICKS

    def clean_mms_fallback(self) -> str:
        return self.cleaned_data.get("mms_fallback") or MmsFallback.SKIP

    def media_ids(self) -> list[int]:
        return [m.pk for m in self.cleaned_data.get("media") or []]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self._initial_audience(self.instance.audience or {})
            self._initial_variants(self.instance.variants or [])
            self.initial["media"] = campaign_media_ids(campaign=self.instance)

    def _initial_audience(self, audience: dict) -> None:
        tags = Tag.objects.filter(tenant_id=self.instance.tenant_id)
        self.initial["segment"] = audience.get("segment")
        self.initial["audience_tags"] = list(tags.filter(name__in=audience.get("tags") or []))
        self.initial["exclude_tags"] = list(tags.filter(name__in=audience.get("exclude_tags") or []))
        for rule in audience.get("rules") or []:
            kind = rule.get("type")
            if kind == "field_equals":
                self.initial.setdefault("field_name", rule.get("field"))
                self.initial.setdefault("field_value", rule.get("value"))
            elif kind == "created_since":
                self.initial.setdefault("created_since", str(rule.get("value"))[:10])
            elif kind in ("clicked", "not_clicked"):
                self.initial.setdefault(f"{kind}_campaign", rule.get("campaign"))

    def audience(self) -> dict:
        data = self.cleaned_data
        audience: dict = {}
        if data.get("segment"):
            audience["segment"] = data["segment"].pk
        if data.get("audience_tags"):
            audience["tags"] = [t.name for t in data["audience_tags"]]
        rules = []
        if data.get("field_name"):
            rules.append({"type": "field_equals", "field": data["field_name"], "value": data.get("field_value", "")})
        if data.get("created_since"):
            rules.append({"type": "created_since", "value": data["created_since"].isoformat()})
        for kind in ("clicked", "not_clicked"):
            if data.get(f"{kind}_campaign"):
                rules.append({"type": kind, "campaign": data[f"{kind}_campaign"].pk})
        if rules:
            audience["rules"] = rules
        if data.get("exclude_tags"):
            audience["exclude_tags"] = [t.name for t in data["exclude_tags"]]
        return audience

    def _initial_variants(self, variants: list[dict]) -> None:
        for index, variant in enumerate(variants[:4]):
            letter = "abcd"[index]
            if index:
                self.initial[f"variant_{letter}_body"] = variant.get("body", "")
            self.initial[f"variant_{letter}_percent"] = variant.get("percent")

    def variants(self) -> list[dict]:
        """The variant rows as ``variants`` (empty: no A/B test). Blank percents split what the others leave; a
        variant's own media, set through the API, is kept."""
        data = self.cleaned_data
        bodies = [data.get(f"variant_{x}_body") or "" for x in "bcd"]
        if not any(b.strip() for b in bodies):
            return []
        rows = [(data.get("body") or "", data.get("variant_a_percent"))]
        rows += [(b, data.get(f"variant_{x}_percent")) for x, b in zip("bcd", bodies, strict=True) if b.strip()]
        given = sum(p for _b, p in rows if p)
        blanks = [i for i, (_b, p) in enumerate(rows) if not p]
        share, extra = divmod(max(0, 100 - given), len(blanks)) if blanks else (0, 0)
        kept = self.instance.variants or []
        out = []
        for i, (body, percent) in enumerate(rows):
            if not percent:
                percent = share + (1 if blanks.index(i) < extra else 0)
            variant = {"body": body, "percent": percent}
            if i < len(kept) and "media" in kept[i]:
                variant["media"] = kept[i]["media"]
            out.append(variant)
        return out

    def tenant_for_checks(self) -> Tenant | None:
        return self.request_tenant or self.cleaned_data.get("tenant") or getattr(self.instance, "tenant", None)

    def clean(self):
        data = super().clean()
        tenant = self.tenant_for_checks()
        if tenant is None:
            return data
        template = data.get("template")
        if template is not None and template.tenant_id == tenant.pk:  # fills what the form leaves empty
            if not (data.get("body") or "").strip() and not self.variants():
                data["body"] = template.body
            data["link_url"] = data.get("link_url") or template.link_url
            if not data.get("media") and template.media:
                files = {m.pk: m for m in MediaFile.objects.filter(tenant=tenant, pk__in=template.media)}
                data["media"] = [files[i] for i in template.media if i in files]
        given = {
            "body": data.get("body") or "",
            "link_url": data.get("link_url") or "",
            "variants": self.variants(),
            "audience": self.audience(),
            "media": self.media_ids(),
            "mms_fallback": data.get("mms_fallback") or MmsFallback.SKIP,
            "ab_test_percent": data.get("ab_test_percent"),
            "ab_wait_hours": data.get("ab_wait_hours"),
            "ab_metric": data.get("ab_metric"),
        }
        data["variants"] = given["variants"]  # the calculator previews the rows even when a check fails
        try:
            checked = campaign_check(tenant=tenant, data=given)
        except CampaignError as exc:
            for name, messages in exc.errors.items():
                name = "variant_b_body" if name == "variants" else name
                self.add_error(name if name in self.fields else None, messages)
            return data
        data.update(body=checked["body"], variants=checked["variants"])
        self.instance.variants = checked["variants"]
        self.instance.audience = checked["audience"]
        return data


@admin.register(Campaign)
class CampaignAdmin(
    CampaignDashboardAdminMixin, CampaignSendConfirmAdminMixin, CampaignSendingAdminMixin, TenantScopedAdmin
):
    form = CampaignForm
    list_display = ("name", "status", "sending_progress", "dashboard_link", "send_at", "created_at")

    def get_queryset(self, request):
        # Journey steps and direct sends ride on carrier campaigns (CampaignKind): theirs are the journeys' pages.
        return super().get_queryset(request).filter(kind=CampaignKind.CAMPAIGN)

    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("status", "started_at", "finished_at", "paused_reason", "created_by", "created_at")
    change_form_template = "admin/campaigns/campaign/change_form.html"
    change_list_template = "admin/campaigns/campaign/change_list.html"

    class Media:
        js = ("campaigns/campaign_preview.js",)
        css = {"all": ("campaigns/campaign_preview.css", "media/media_admin.css")}

    def _editable(self, request, obj) -> bool:
        return obj is None or self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        status_fields = list(self.readonly_fields)
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            status_fields = [*SENDING_READONLY_FIELDS, *status_fields]
        status = (
            "Status",
            {"fields": status_fields, "classes": () if status_fields[0] in SENDING_READONLY_FIELDS else ("collapse",)},
        )
        if not self._editable(request, obj):
            shown = [
                "name",
                "purpose",
                "body",
                "link_url",
                "variants",
                "media_summary",
                "mms_fallback",
                "local_send_time",
            ]
            if obj is not None and obj.ab_test_percent is not None:
                shown += ["ab_test_percent", "ab_wait_hours", "ab_metric", "ab_winner", "ab_decision"]
            return ((None, {"fields": [*shown, "audience_summary"]}), status)
        main = ["name", "purpose", "body", "media", "mms_fallback", "link_url", "send_at", "local_send_time"]
        if obj is None:
            main.insert(1, "template")
        if request.user.is_superuser:
            main.insert(0, "tenant")
        ab = (
            "A/B test",
            {
                "fields": [
                    "variant_a_percent",
                    ("variant_b_body", "variant_b_percent"),
                    ("variant_c_body", "variant_c_percent"),
                    ("variant_d_body", "variant_d_percent"),
                    ("ab_test_percent", "ab_wait_hours", "ab_metric"),
                ],
                "description": "Optional. Give B (and C, D) a body to test against the body above (A). To pick "
                "the winner by itself: test on a share of the audience, then after the hours set the variant with "
                "the best rate goes to everyone else.",
            },
        )
        return ((None, {"fields": main}), ab, ("Audience", {"fields": list(AUDIENCE_FIELDS)}), status)

    def has_change_permission(self, request, obj=None):
        # Scheduled, sending or sent: what goes out is a record, not a draft.
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="media")
    def media_summary(self, obj: Campaign):
        files = MediaFile.objects.filter(campaign_uses__campaign=obj, campaign_uses__variant=0).order_by(
            "campaign_uses__position"
        )
        return format_html_join(" ", "{}", ((thumbnail(m),) for m in files)) or "None (SMS)"

    @admin.display(description="audience")
    def audience_summary(self, obj: Campaign) -> str:
        return json.dumps(obj.audience or {}, ensure_ascii=False) if obj.audience else "Every contact"

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not self._editable(request, obj):
            return form
        tenant = request_tenant(request)
        tags = Tag.objects.all() if tenant is None else Tag.objects.filter(tenant=tenant)
        campaigns = Campaign.objects.exclude(status=CampaignStatus.DRAFT)
        campaigns = campaigns if tenant is None else campaigns.filter(tenant=tenant)
        if obj is not None:
            tags = tags.filter(tenant_id=obj.tenant_id)
            campaigns = campaigns.filter(tenant_id=obj.tenant_id).exclude(pk=obj.pk)

        class Scoped(form):
            request_tenant = tenant

        # Fresh fields per request: the declared ones are shared by every form class.
        for name in ("audience_tags", "exclude_tags"):
            old = Scoped.base_fields[name]
            Scoped.base_fields[name] = forms.ModelMultipleChoiceField(
                queryset=tags, required=False, label=old.label, help_text=old.help_text
            )
        saved = MessageTemplate.objects.all() if tenant is None else MessageTemplate.objects.filter(tenant=tenant)
        old = Scoped.base_fields["template"]
        Scoped.base_fields["template"] = forms.ModelChoiceField(
            queryset=saved, required=False, label=old.label, help_text=old.help_text
        )
        segments = Segment.objects.all() if tenant is None else Segment.objects.filter(tenant=tenant)
        if obj is not None:
            segments = segments.filter(tenant_id=obj.tenant_id)
        old = Scoped.base_fields["segment"]
        Scoped.base_fields["segment"] = forms.ModelChoiceField(
            queryset=segments, required=False, label=old.label, help_text=old.help_text
        )
        for name in ("clicked_campaign", "not_clicked_campaign"):
            old = Scoped.base_fields[name]
            Scoped.base_fields[name] = forms.ModelChoiceField(queryset=campaigns, required=False, label=old.label)
        library = MediaFile.objects.all() if tenant is None else MediaFile.objects.filter(tenant=tenant)
        if obj is not None:
            library = library.filter(tenant_id=obj.tenant_id)
        old = Scoped.base_fields["media"]
        Scoped.base_fields["media"] = forms.ModelMultipleChoiceField(
            queryset=library, required=False, widget=MediaPicker, label=old.label, help_text=old.help_text
        )
        return Scoped

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if "media" in form.cleaned_data:
            campaign_media_set(campaign=form.instance, media=form.media_ids())

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != CampaignStatus.DRAFT and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self):
        urls = [
            path(
                "preview/",
                self.admin_site.admin_view(require_POST(self.preview_view)),
                name="campaigns_campaign_preview",
            )
        ]
        return urls + super().get_urls()

    def preview_view(self, request):
        """The live calculator behind the form: JSON for the posted form's body, link, variants and audience."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        tenant = form_tenant(request)
        if tenant is None:  # a superuser who has not picked one yet
            return JsonResponse({"errors": {"tenant": ["Pick the tenant first."]}}, status=400)
        form = self.get_form(request)(data=request.POST)
        form.request_tenant = tenant
        form.is_valid()
        errors = {name: [str(m) for m in msgs] for name, msgs in form.errors.items() if name != "name"}
        if not (request.POST.get("body") or request.POST.get("variant_b_body") or request.POST.getlist("media")):
            errors.pop("body", None)  # a blank form: nothing typed is no error yet (saving it says so)
        data = getattr(form, "cleaned_data", {})
        variants = data.get("variants") if "variants" not in errors else []
        # An audience the checks refused (errors under __all__) is previewed as everyone, with the error.
        audience = {} if "__all__" in errors else form.audience()
        raw_body = request.POST.get("body", "")
        if isinstance(variants, list) and variants and "variants" not in errors:
            raw_body = variants[0].get("body", raw_body)
        else:
            variants = []
        sample = request.POST.get("sample_contact", "")
        purpose = request.POST.get("purpose", "")
        media = form.media_ids() if "media" not in errors else []
        fallback = data.get("mms_fallback") or MmsFallback.SKIP
        preview = campaign_preview(
            tenant=tenant,
            body=raw_body,
            link_url=request.POST.get("link_url", ""),
            audience=audience,
            variants=variants or None,
            sample_contact_id=int(sample) if sample.isdigit() else None,
            purpose=purpose if purpose in CampaignPurpose.values else CampaignPurpose.MARKETING,
            media=media,
            mms_fallback=fallback,
        )
        return JsonResponse({"errors": errors, **json.loads(json.dumps(preview.as_dict()))})


class MessageCheckInline(TenantReadOnlyInline, admin.TabularInline):
    """The questions asked to Twilio about a message whose outcome was unknown, and their answers: a record."""

    model = MessageCheck
    fields = ("asked", "method", "outcome", "sid", "status", "action", "note")
    readonly_fields = fields
    classes = ("message-checks",)  # campaigns/message_checks.css: one line per question
    verbose_name = "check with Twilio"
    verbose_name_plural = "Checks with Twilio"

    @admin.display(description="Asked at", ordering="asked_at")
    def asked(self, obj: MessageCheck) -> str:
        # To the second: the questions of a grace period or a backoff are seconds apart.
        return timezone.localtime(obj.asked_at).strftime("%Y-%m-%d %H:%M:%S %Z")


class OutcomeFilter(admin.SimpleListFilter):
    """Unknown outcomes: the resolver's (transient) apart from those it gave up on (a person must look)."""

    title = "Outcome"
    parameter_name = "outcome"
    CHECKING, NEEDS_PERSON = "checking", "needs_person"

    def lookups(self, request, model_admin):
        return ((self.CHECKING, "Being checked with Twilio"), (self.NEEDS_PERSON, "Needs a person"))

    def queryset(self, request, queryset):
        if self.value() == self.CHECKING:
            return queryset.filter(status=MessageStatus.UNKNOWN, unresolved_reason="")
        if self.value() == self.NEEDS_PERSON:
            return queryset.filter(status=MessageStatus.UNKNOWN).exclude(unresolved_reason="")
        return queryset


@admin.register(Message)
class MessageAdmin(TenantScopedAdmin):
    list_display = ("to", "campaign", "status", "error_code", "sid", "sent_at")
    list_filter = (OutcomeFilter, "status", "channel", "error_code")
    search_fields = ("to", "sid")
    list_select_related = ("campaign",)
    raw_id_fields = ("contact",)
    inlines = [MessageCheckInline]
    actions = ["check_again"]
    change_form_template = "admin/campaigns/message/change_form.html"

    class Media:
        css = {"all": ("campaigns/message_checks.css",)}

    fieldsets = (
        (
            None,
            {
                "fields": (
                    "campaign",
                    "contact",
                    "to",
                    "body",
                    "variant",
                    "segments",
                    "status",
                    "channel",
                    "sid",
                    "error_code",
                    "error_message",
                )
            },
        ),
        (
            "Times",
            {"fields": ("created_at", "claimed_at", "sent_at", "hold_until", "delivered_at", "read_at", "updated_at")},
        ),
        ("Outcome unknown: checked with Twilio", {"fields": ("next_check", "checks", "resends", "unresolved_reason")}),
    )
    readonly_fields = (
        "created_at",
        "claimed_at",
        "sent_at",
        "hold_until",
        "delivered_at",
        "read_at",
        "channel",  # what Twilio's callbacks reported, counted with them: never typed in
        "updated_at",
        "next_check",
        "checks",
        "resends",
        "unresolved_reason",
    )

    def get_fieldsets(self, request, obj=None):
        if not request.user.is_superuser:
            return self.fieldsets
        first, *rest = self.fieldsets
        return ((None, {"fields": ("tenant", *first[1]["fields"])}), *rest)

    def get_list_display(self, request):
        # Filtered on unknown outcomes: what the resolver is at, and why a person must look.
        if request.GET.get(OutcomeFilter.parameter_name) or request.GET.get("status__exact") == MessageStatus.UNKNOWN:
            return (*self.list_display, "checks", "next_check", "unresolved_reason")
        return self.list_display

    @admin.display(description="Next check with Twilio", ordering="check_after")
    def next_check(self, obj: Message):
        if obj.status != MessageStatus.UNKNOWN:
            return "—"
        if obj.unresolved_reason:
            return "None: needs a person"
        return obj.check_after or "—"

    def has_add_permission(self, request):
        return False  # messages are made by sending a campaign

    def has_change_permission(self, request, obj=None):
        return False  # read-only: the status machine moves them

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_check_again_permission(self, request, obj=None):
        """A write (it puts messages back in the resolver's hands): admins and marketers, never viewers."""
        return self.has_view_permission(request, obj) and request.user.can_edit

    # --- check again -------------------------------------------------------------------------

    @admin.action(description="Check again with Twilio", permissions=["check_again"])
    def check_again(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        done = resolution.unknown_check_again(message_ids=selected, user=request.user)
        self.message_user(request, f"{done} of {len(selected)} selected: checked with Twilio again at the next run.")
        if done < len(selected):
            self.message_user(
                request,
                f"{len(selected) - done} left as they were: only messages whose outcome is unknown are checked.",
                messages.WARNING,
            )

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/check-again/",
                self.admin_site.admin_view(require_POST(self.check_again_view)),
                name="campaigns_message_check_again",
            )
        ]
        return urls + super().get_urls()

    def check_again_view(self, request, object_id: str):
        """The change page's one-click "Check again with Twilio" (POST): another tenant's message is a 404."""
        message = self.get_object(request, unquote(object_id))
        if message is None:
            raise Http404("No such message.")
        if not self.has_check_again_permission(request, message):
            raise PermissionDenied
        if resolution.unknown_check_again(message_ids=[message.pk], user=request.user):
            self.message_user(request, "Checked with Twilio again at the next run.", messages.SUCCESS)
        else:
            self.message_user(request, "Not checked again: its outcome is no longer unknown.", messages.WARNING)
        return redirect(reverse(f"{self.admin_site.name}:campaigns_message_change", args=[message.pk]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            # The button is for what the resolver gave up on; the action takes any unknown outcome.
            needs_person = obj.status == MessageStatus.UNKNOWN and bool(obj.unresolved_reason)
            context["needs_person"] = needs_person
            context["may_check_again"] = needs_person and self.has_check_again_permission(request, obj)
            context["check_again_url"] = reverse(f"{self.admin_site.name}:campaigns_message_check_again", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
