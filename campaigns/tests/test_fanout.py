from __future__ import annotations

import hypothesis
import pytest
from hypothesis import strategies as st

from campaigns.counters import campaign_status_counts
from campaigns.models import CampaignStatus, Message, MessageStatus
from campaigns.segments import count_segments
from campaigns.sending.fanout import messages_materialise, segments_of
from campaigns.tests.factories import CampaignFactory, MessageFactory
from compliance.tests.factories import SuppressionFactory
from contacts.tests.factories import ContactFactory, TagFactory
from links.models import ShortLink
from links.services import short_url


def _sending_campaign(tenant, **kw):
    return CampaignFactory(tenant=tenant, status=CampaignStatus.SENDING, **kw)


def test_one_message_per_recipient_with_its_own_link(tenant_a, tenant_b):
    contacts = [ContactFactory(tenant=tenant_a, first_name=f"N{i}") for i in range(7)]
    ContactFactory(tenant=tenant_b)  # another tenant's contact is never in the audience
    campaign = _sending_campaign(tenant_a, body="Hi {{first_name}}: {{link}}")
    pending = []
    result = messages_materialise(campaign_id=campaign.pk, on_pending=lambda c, ids: pending.extend(ids), chunk_size=3)
    assert (result.created, result.pending, result.suppressed) == (7, 7, 0)
    messages = list(Message.objects.filter(campaign=campaign).select_related("short_link", "contact"))
    assert sorted(pending) == sorted(m.pk for m in messages)
    assert {m.contact_id for m in messages} == {c.pk for c in contacts}
    codes = {m.short_link.code for m in messages}
    assert len(codes) == 7
    for m in messages:
        assert m.tenant_id == tenant_a.pk and m.status == MessageStatus.PENDING
        assert m.body.startswith(f"Hi {m.contact.first_name}: {short_url(m.short_link.code)}")
        assert m.body.endswith("\nReply STOP to opt out")  # first contact
        assert m.segments == count_segments(m.body).segments
        assert m.short_link.target_url == campaign.link_url and m.short_link.tenant_id == tenant_a.pk
    assert campaign_status_counts(campaign.pk)["pending"] == 7
    campaign.refresh_from_db()
    assert campaign.fanned_out_at is not None


def test_rerun_never_doubles(tenant_a):
    for _ in range(5):
        ContactFactory(tenant=tenant_a)
    campaign = _sending_campaign(tenant_a)
    messages_materialise(campaign_id=campaign.pk)
    # a crash before fanned_out_at was written: the task runs again
    type(campaign).objects.filter(pk=campaign.pk).update(fanned_out_at=None)
    again = messages_materialise(campaign_id=campaign.pk)
    assert (again.created, again.skipped_existing) == (0, 5)
    assert Message.objects.filter(campaign=campaign).count() == 5
    assert ShortLink.objects.filter(campaign=campaign).count() == 5
    assert campaign_status_counts(campaign.pk)["pending"] == 5


def test_suppressed_recipients_are_recorded_not_linked(tenant_a, tenant_b):
    keep = ContactFactory(tenant=tenant_a)
    gone = ContactFactory(tenant=tenant_a)
    SuppressionFactory(tenant=tenant_a, phone_number=gone.phone_number)
    SuppressionFactory(tenant=tenant_b, phone_number=keep.phone_number)  # another tenant's opt-out
    campaign = _sending_campaign(tenant_a)
    pending = []
    messages_materialise(campaign_id=campaign.pk, on_pending=lambda c, ids: pending.extend(ids))
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("contact_id", "status"))
    assert statuses == {keep.pk: "pending", gone.pk: "suppressed"}
    assert len(pending) == 1
    assert ShortLink.objects.filter(message__contact=gone).count() == 0
    counts = campaign_status_counts(campaign.pk)
    assert (counts["pending"], counts["suppressed"]) == (1, 1)


def test_audience_by_tag_and_footer_only_on_first_contact(tenant_a):
    vip = TagFactory(tenant=tenant_a, name="vip")
    old, new, other = (ContactFactory(tenant=tenant_a) for _ in range(3))
    old.tags.add(vip)
    new.tags.add(vip)
    earlier = MessageFactory(campaign__tenant=tenant_a, contact=old, status="delivered")
    Message.objects.filter(pk=earlier.pk).update(sent_at=earlier.created_at)
    campaign = _sending_campaign(tenant_a, audience={"tags": ["vip"]}, body="Sale {{link}}")
    messages_materialise(campaign_id=campaign.pk)
    bodies = dict(Message.objects.filter(campaign=campaign).values_list("contact_id", "body"))
    assert set(bodies) == {old.pk, new.pk}
    assert "STOP" not in bodies[old.pk]
    assert bodies[new.pk].endswith("Reply STOP to opt out")


def test_body_with_its_own_stop_line_gets_no_footer(tenant_a):
    ContactFactory(tenant=tenant_a)
    campaign = _sending_campaign(tenant_a, body="Hi! Text STOP to quit.", link_url="")
    messages_materialise(campaign_id=campaign.pk)
    assert Message.objects.get(campaign=campaign).body == "Hi! Text STOP to quit."
    assert ShortLink.objects.count() == 0


def test_paused_campaign_stops_the_fanout(tenant_a):
    ContactFactory(tenant=tenant_a)
    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.PAUSED)
    assert messages_materialise(campaign_id=campaign.pk).created == 0
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "text",
    ["", "a" * 160, "a" * 161, "a" * 306, "a" * 307, "curly {x}", "café", "smart ’quote", "emoji 😀" * 30, "tab\there"],
)
def test_fast_segment_count_agrees(text):
    assert segments_of(text) == count_segments(text).segments


def test_opt_out_line_detection():
    from campaigns.rendering import has_opt_out_line

    assert has_opt_out_line("Reply STOP to opt out")
    assert has_opt_out_line("text stop to end")
    assert not has_opt_out_line("Unstoppable deals")


def test_ab_variants_split_per_recipient_and_stay_put_on_rerun(tenant_a):
    for i in range(40):
        ContactFactory(tenant=tenant_a, first_name=f"N{i}")
    campaign = _sending_campaign(
        tenant_a,
        body="A {{first_name}} {{link}}",
        variants=[
            {"body": "A {{first_name}} {{link}}", "percent": 50},
            {"body": "B {{first_name}} {{link}}", "percent": 50},
        ],
    )
    messages_materialise(campaign_id=campaign.pk, chunk_size=7)
    messages = list(Message.objects.filter(campaign=campaign).select_related("short_link"))
    by_variant = {v: [m for m in messages if m.variant == v] for v in (0, 1)}
    assert len(by_variant[0]) + len(by_variant[1]) == 40
    assert 8 <= len(by_variant[0]) <= 32  # a 50/50 split of 40, not all on one side
    for v, letter in ((0, "A"), (1, "B")):
        for m in by_variant[v]:
            assert m.body.startswith(f"{letter} ") and short_url(m.short_link.code) in m.body
    before = {m.contact_id: m.variant for m in messages}
    Message.objects.filter(campaign=campaign).delete()
    campaign.fanned_out_at = None
    campaign.save(update_fields=["fanned_out_at"])
    messages_materialise(campaign_id=campaign.pk, chunk_size=7)
    assert dict(Message.objects.filter(campaign=campaign).values_list("contact_id", "variant")) == before


def test_fanout_counts_each_variants_recipients_at_once(tenant_a):
    """Before any message is sent, the A/B figures already know each variant's recipients
    (suppressed ones included): the fan-out counts per variant."""
    from analytics.selectors import campaign_variants
    from compliance.models import SuppressionSource
    from compliance.services import suppression_add

    contacts = [ContactFactory(tenant=tenant_a, first_name=f"N{i}") for i in range(30)]
    # On the list, its contact's consent untouched (a revoked contact is left out of the audience altogether).
    suppression_add(
        tenant=tenant_a, phone_number=contacts[0].phone_number, source=SuppressionSource.IMPORT, record_consent=False
    )
    campaign = _sending_campaign(
        tenant_a,
        body="A {{first_name}}",
        variants=[{"body": "A {{first_name}}", "percent": 50}, {"body": "B {{first_name}}", "percent": 50}],
    )
    messages_materialise(campaign_id=campaign.pk, chunk_size=7)
    result = campaign_variants(campaign=campaign)
    recount = {v: Message.objects.filter(campaign=campaign, variant=v).count() for v in (0, 1)}
    assert {row["variant"]: row["recipients"] for row in result["variants"]} == recount
    assert sum(recount.values()) == 30
    assert "unassigned" not in result


def test_frequency_cap_records_capped_recipients(tenant_a):
    from django.utils import timezone

    from compliance.selectors import compliance_settings_get

    cfg = compliance_settings_get(tenant=tenant_a)
    cfg.frequency_cap = 2
    cfg.save()
    busy, fresh = ContactFactory(tenant=tenant_a), ContactFactory(tenant=tenant_a)
    for _ in range(2):  # two texts in the last 24 hours: at the cap
        MessageFactory(
            tenant=tenant_a, campaign__tenant=tenant_a, contact=busy, status="delivered", sent_at=timezone.now()
        )
    campaign = _sending_campaign(tenant_a, body="Hello")
    result = messages_materialise(campaign_id=campaign.pk)
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("contact_id", "status"))
    assert statuses == {busy.pk: MessageStatus.CAPPED, fresh.pk: MessageStatus.PENDING}
    assert result.pending == 1
    counts = campaign_status_counts(campaign.pk)
    assert (counts["capped"], counts["pending"]) == (1, 1)


_TEXT = st.text(alphabet=st.sampled_from(list("ab {}|_\t\nSTOPé😀")), max_size=12)
_FIELD = st.sampled_from(["first_name", "last_name", "link", "other", " first_name ", "first name"])


@hypothesis.given(
    pieces=st.lists(st.one_of(_TEXT, st.builds(lambda f, fb: "{{" + f + fb + "}}", _FIELD, _TEXT)), max_size=6),
    first=_TEXT,
    last=_TEXT,
    link=st.sampled_from(["", "http://127.0.0.1:8000/l/abcdEFGH"]),
)
def test_compiled_template_renders_like_render(pieces, first, last, link):
    """The fan-out compiles each template once; the text it renders is ``render``'s, byte for byte."""
    from campaigns.rendering import render
    from campaigns.sending.fanout import _compile

    template = "".join(pieces)
    fmt, slots = _compile(template)
    values = (first, last, link, "")
    assert fmt.format(*[values[i] or fallback for i, fallback in slots]) == render(
        template, first_name=first, last_name=last, link=link
    )


def test_a_chunk_that_collides_with_a_concurrent_rerun_is_tried_again(tenant_a, monkeypatch):
    """Another run wrote one of the chunk's messages after this one looked: the unique (campaign, contact)
    constraint refuses the chunk, and it is tried again without doubling anything."""
    from campaigns.sending import fanout

    contacts = [ContactFactory(tenant=tenant_a) for _ in range(3)]
    campaign = _sending_campaign(tenant_a, body="Hi {{link}}")
    real = fanout.suppressed_among
    calls = []

    def racing(**kw):
        if not calls:  # the other run's message lands between the "already there?" check and the insert
            MessageFactory(tenant=tenant_a, campaign=campaign, contact=contacts[1], body="theirs")
        calls.append(1)
        return real(**kw)

    monkeypatch.setattr(fanout, "suppressed_among", racing)
    result = messages_materialise(campaign_id=campaign.pk)
    assert len(calls) == 2  # refused once, tried again
    assert result.created == 3
    assert sorted(Message.objects.filter(campaign=campaign).values_list("contact_id", flat=True)) == sorted(
        c.pk for c in contacts
    )
    assert ShortLink.objects.filter(campaign=campaign).count() == 3
    assert campaign_status_counts(campaign.pk)["pending"] == 3
