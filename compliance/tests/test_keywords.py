from __future__ import annotations

import pytest

from compliance.keywords import Intent, normalize, parse

OPT_OUT_WORDS = ["STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"]
OPT_OUT_PHRASES = ["stop texting me", "please stop", "remove me", "unsubscribe me", "take me off your list"]


@pytest.mark.parametrize("word", OPT_OUT_WORDS)
@pytest.mark.parametrize("dress", ["{}", "{} ", "  {}!", "{}.", "'{}'", "{}?!"])
def test_opt_out_keywords_any_case_and_punctuation(word, dress):
    for variant in (word, word.lower(), word.title()):
        assert parse(dress.format(variant)).intent == Intent.OPT_OUT, dress.format(variant)


@pytest.mark.parametrize("phrase", OPT_OUT_PHRASES)
def test_revocation_phrases_opt_out(phrase):
    assert parse(phrase).intent == Intent.OPT_OUT
    assert parse(phrase.upper() + "!").intent == Intent.OPT_OUT
    assert parse("  " + phrase.capitalize() + ".  ").intent == Intent.OPT_OUT


def test_opt_out_dashes_and_politeness():
    assert parse("opt-out").intent == Intent.OPT_OUT
    assert parse("Stop please").intent == Intent.OPT_OUT
    assert parse("STOP, thanks").intent == Intent.OPT_OUT


@pytest.mark.parametrize(
    "body",
    ["Can you stop by the store tomorrow?", "I want to stop getting these on weekends", "don't stop the deals lol"],
)
def test_stop_inside_a_sentence_is_flagged_not_acted_on(body):
    parsed = parse(body)
    assert parsed.intent == Intent.REPLY
    assert parsed.needs_review is True
    assert "stop" in parsed.review_reason


@pytest.mark.parametrize("word", ["START", "UNSTOP", "YES", "start", " Yes! "])
def test_opt_in_keywords(word):
    assert parse(word).intent == Intent.OPT_IN


@pytest.mark.parametrize("word", ["HELP", "INFO", "help?", " Info. "])
def test_help_keywords(word):
    assert parse(word).intent == Intent.HELP


def test_join_keyword_is_the_tenants():
    assert parse("join", join_keyword="JOIN").intent == Intent.JOIN
    assert parse("VIPCLUB!", join_keyword="vipclub").intent == Intent.JOIN
    assert parse("join", join_keyword="").intent == Intent.REPLY


def test_opt_out_type_wins_over_the_body():
    assert parse("anything", opt_out_type="STOP").intent == Intent.OPT_OUT
    assert parse("anything", opt_out_type="START").intent == Intent.OPT_IN
    assert parse("anything", opt_out_type="HELP").intent == Intent.HELP


@pytest.mark.parametrize("body", ["Thanks!", "the end", "what time do you open?", "", "stopwatch for sale?"])
def test_plain_replies(body):
    parsed = parse(body)
    assert parsed.intent == Intent.REPLY
    assert parsed.needs_review is False


def test_normalize():
    assert normalize("  Stop_ALL!! ") == "stop all"
    assert normalize("Opt-Out.") == "opt out"
