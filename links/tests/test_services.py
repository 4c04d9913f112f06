from __future__ import annotations

import pytest

from campaigns.tests.factories import MessageFactory
from links.models import ShortLink
from links.services import short_link_create, short_links_create_for_messages, short_url


def test_bulk_links_one_per_message_and_rerun_safe(tenant_a):
    messages = MessageFactory.create_batch(5, campaign__tenant=tenant_a, tenant=tenant_a)
    ids = [m.pk for m in messages]
    campaign_id = messages[0].campaign_id
    codes = short_links_create_for_messages(
        tenant=tenant_a, campaign_id=campaign_id, target_url="https://x.example/", message_ids=ids
    )
    assert set(codes) == set(ids)
    assert len(set(codes.values())) == 5 and all(len(c) == 8 and c.isalnum() for c in codes.values())
    again = short_links_create_for_messages(
        tenant=tenant_a, campaign_id=campaign_id, target_url="https://x.example/", message_ids=ids
    )
    assert again == codes
    assert ShortLink.objects.count() == 5
    assert short_url("abcdefgh") == "http://127.0.0.1:8000/l/abcdefgh"


def test_tens_of_thousands_of_links_in_a_few_round_trips(tenant_a, django_assert_max_num_queries):
    from campaigns.models import Message
    from campaigns.tests.factories import CampaignFactory

    campaign = CampaignFactory(tenant=tenant_a)
    Message.objects.bulk_create(
        [Message(tenant=tenant_a, campaign=campaign, to=f"+1415{i:07d}", body="x") for i in range(20_000)],
        batch_size=5000,
    )
    ids = list(Message.objects.filter(campaign=campaign).values_list("id", flat=True))
    # The campaign's name + one COPY in a savepoint (SAVEPOINT, RELEASE; the COPY itself is not counted).
    with django_assert_max_num_queries(3):
        codes = short_links_create_for_messages(
            tenant=tenant_a, campaign_id=campaign.pk, target_url="https://x.example/", message_ids=ids
        )
    assert len(codes) == 20_000 and len(set(codes.values())) == 20_000
    assert ShortLink.objects.filter(campaign=campaign, tenant=tenant_a).count() == 20_000


def test_code_collision_is_retried_for_the_rows_it_hit(tenant_a, monkeypatch):
    from links import services
    from links.tests.factories import ShortLinkFactory

    taken = ShortLinkFactory(tenant=tenant_a, code="Taken123").code
    messages = MessageFactory.create_batch(3, campaign__tenant=tenant_a, tenant=tenant_a)
    ids = [m.pk for m in messages]
    real = services.codes_generate
    # The bulk COPY draws a taken code (undone as a whole), then the careful path draws it again
    # for the first message only: that one row is retried with a fresh code.
    draws = iter([[taken, "Fresh001", "Fresh002"], [taken, "Fresh003", "Fresh004"]])
    monkeypatch.setattr(services, "codes_generate", lambda n: (next(draws, None) or real(n))[:n])
    codes = short_links_create_for_messages(
        tenant=tenant_a, campaign_id=messages[0].campaign_id, target_url="https://x.example/", message_ids=ids
    )
    assert next(draws, None) is None  # both scripted draws were used
    assert set(codes) == set(ids)
    # The COPY's draw was undone whole: the careful path drew again.
    kept, undone = ("Fresh003", "Fresh004"), ["Fresh001", "Fresh002"]
    assert (codes[ids[1]], codes[ids[2]]) == kept
    assert codes[ids[0]] not in {taken, "Fresh001", "Fresh002", "Fresh003", "Fresh004"}
    assert ShortLink.objects.get(code=taken).message_id is None
    assert not ShortLink.objects.filter(code__in=undone).exists()
    assert dict(ShortLink.objects.filter(message_id__in=ids).values_list("message_id", "code")) == codes


def test_codes_are_random_not_sequential():
    from links.services import code_generate

    codes = {code_generate() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 8 and c.isalnum() and c.isascii() for c in codes)
    first_chars = {c[0] for c in codes}
    assert len(first_chars) > 50  # spread over the whole base62 alphabet


def test_new_links_are_put_in_the_redirect_cache_on_commit(links_redis, tenant_a, django_capture_on_commit_callbacks):
    from links.capture import link_key

    messages = MessageFactory.create_batch(2, campaign__tenant=tenant_a, campaign__name="Fall Deals", tenant=tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        codes = short_links_create_for_messages(
            tenant=tenant_a,
            campaign_id=messages[0].campaign_id,
            target_url="https://x.example/a?b=1",
            message_ids=[m.pk for m in messages],
        )
    for code in codes.values():
        value = links_redis.get(link_key(code))
        assert value == f"0|{tenant_a.pk}|https://x.example/a?b=1&utm_source=sms&utm_medium=sms&utm_campaign=fall-deals"
        assert 0 < links_redis.ttl(link_key(code)) <= 3 * 24 * 3600


def test_message_click_counts_for_many_messages(tenant_a):
    from links.selectors import message_click_counts

    messages = MessageFactory.create_batch(2, campaign__tenant=tenant_a, tenant=tenant_a)
    short_links_create_for_messages(
        tenant=tenant_a,
        campaign_id=messages[0].campaign_id,
        target_url="https://x.example/",
        message_ids=[messages[0].pk],
    )
    ShortLink.objects.filter(message=messages[0]).update(human_clicks=7)
    assert message_click_counts([messages[0].pk, messages[1].pk]) == {messages[0].pk: 7, messages[1].pk: 0}


def test_codes_are_uniform_base62_and_distinct():
    from collections import Counter

    from links.services import ALPHABET, codes_generate

    codes = codes_generate(20_000)
    assert len(set(codes)) == 20_000 and all(len(c) == 8 and set(c) <= set(ALPHABET) for c in codes)
    counts = Counter("".join(codes))
    assert set(counts) == set(ALPHABET)
    expected = 20_000 * 8 / 62
    assert all(abs(n - expected) < expected * 0.15 for n in counts.values())  # no letter favoured


def test_fanout_links_are_warmed_by_a_task(tenant_a, links_redis, django_capture_on_commit_callbacks, sent_tasks):
    from links import tasks
    from links.capture import link_key
    from links.services import short_links_create_for_messages

    messages = MessageFactory.create_batch(3, campaign__tenant=tenant_a, tenant=tenant_a)
    campaign_id = messages[0].campaign_id
    with django_capture_on_commit_callbacks(execute=True):
        codes = short_links_create_for_messages(
            tenant=tenant_a,
            campaign_id=campaign_id,
            target_url="https://x.example/",
            message_ids=[m.pk for m in messages],
            warm="task",
        )
    assert [name for name, _, _ in sent_tasks] == ["links.tasks.short_links_warm"]
    queued = [kwargs for _, _, kwargs in sent_tasks]
    assert [sorted(q["codes"]) for q in queued] == [sorted(codes.values())]
    assert not any(links_redis.exists(link_key(c)) for c in codes.values())  # not warmed in the caller
    assert tasks.short_links_warm(**queued[0]) == 3  # what the worker runs
    assert all(links_redis.exists(link_key(c)) for c in codes.values())


def test_a_one_off_link_must_point_at_a_web_address(tenant_a):
    for target in ("ftp://files.example/x", "javascript:alert(1)", "files.example/x"):
        with pytest.raises(ValueError, match="http"):
            short_link_create(tenant=tenant_a, target_url=target)
    assert not ShortLink.objects.exists()
    assert short_link_create(tenant=tenant_a, target_url="Https://x.example/").pk
