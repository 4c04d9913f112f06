"""The segment counter against a table of known cases, and properties that must hold for any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.segments import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    GSM_REPLACEMENTS,
    count_segments,
    gsm_replace,
    gsm_replacements,
)

BASIC = sorted(GSM7_BASIC - {"\x1b"})
EXTENDED = sorted(GSM7_EXTENDED)

KNOWN = [
    ("", "GSM-7", 0, 0),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("a" * 459, "GSM-7", 459, 3),
    ("a" * 460, "GSM-7", 460, 4),
    ("€", "GSM-7", 2, 1),
    ("€" * 80, "GSM-7", 160, 1),
    ("€" * 80 + "a", "GSM-7", 161, 2),
    # 152 septets then an escape pair: it may not straddle parts, so it starts part 2.
    ("a" * 152 + "€" + "a" * 7, "GSM-7", 161, 2),
    ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
    ("a" * 153 + "€" + "a" * 151, "GSM-7", 306, 2),
    ("é" * 160, "GSM-7", 160, 1),
    ("ł" * 70, "UCS-2", 70, 1),
    ("ł" * 71, "UCS-2", 71, 2),
    ("ł" * 134, "UCS-2", 134, 2),
    ("ł" * 135, "UCS-2", 135, 3),
    ("a" * 69 + "’", "UCS-2", 70, 1),
    ("a" * 70 + "’", "UCS-2", 71, 2),
    ("😀", "UCS-2", 2, 1),
    ("😀" * 35, "UCS-2", 70, 1),
    ("😀" * 35 + "a", "UCS-2", 71, 2),
    # 66 units then an emoji (a surrogate pair) may not be split: it starts part 2.
    ("a" * 66 + "😀" + "a" * 3, "UCS-2", 71, 2),
    ("a" * 66 + "😀" + "a" * 66, "UCS-2", 134, 3),
]


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), KNOWN)
def test_known_cases(text, encoding, units, segments):
    info = count_segments(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_non_gsm_lists_the_culprits_once_in_order():
    assert count_segments("It’s “great” ’").non_gsm == ("’", "“", "”")
    assert count_segments("plain").non_gsm == ()


def _gsm_segments(units: list[int]) -> int:
    """Reference: fill 153-septet parts, never splitting an escape pair."""
    total = sum(units)
    if total <= 160:
        return 1 if total else 0
    parts, used = 1, 0
    for w in units:
        if used + w > 153:
            parts, used = parts + 1, 0
        used += w
    return parts


gsm_text = st.text(alphabet=st.sampled_from(BASIC + EXTENDED), max_size=700)
gsm_basic_text = st.text(alphabet=st.sampled_from(BASIC), max_size=700)
ucs_text = st.text(alphabet=st.characters(codec="utf-16", exclude_categories=("Cs",)), max_size=400)


@settings(max_examples=300, deadline=None)
@given(gsm_basic_text)
def test_plain_gsm_is_one_septet_per_character(text):
    info = count_segments(text)
    assert info.encoding == "GSM-7" and info.units == len(text)
    expected = 0 if not text else (1 if len(text) <= 160 else -(-len(text) // 153))
    assert info.segments == expected


@settings(max_examples=300, deadline=None)
@given(gsm_text)
def test_extension_characters_count_two_and_are_never_split(text):
    info = count_segments(text)
    widths = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    assert info.encoding == "GSM-7"
    assert info.units == sum(widths)
    assert info.segments == _gsm_segments(widths)
    if info.units > 160:
        assert info.segments >= -(-info.units // 153)


@settings(max_examples=300, deadline=None)
@given(gsm_text, st.sampled_from(["ł", "’", "😀", "中", "\u0308"]), st.integers(min_value=0, max_value=700))
def test_one_non_gsm_character_makes_it_all_ucs2(text, odd, at):
    at = min(at, len(text))
    info = count_segments(text[:at] + odd + text[at:])
    assert info.encoding == "UCS-2"
    assert odd in info.non_gsm
    # Every character is one UTF-16 unit (extension characters are no longer 2) except astral ones.
    assert info.units == len((text[:at] + odd + text[at:]).encode("utf-16-le")) // 2


@settings(max_examples=300, deadline=None)
@given(ucs_text)
def test_ucs2_units_are_utf16_code_units_and_parts_hold_67(text):
    info = count_segments(text)
    units = len(text.encode("utf-16-le")) // 2
    if info.encoding == "UCS-2":
        assert info.units == units
        if units <= 70:
            assert info.segments == 1
        else:
            # At least ceil(units / 67), and at most one extra part per emoji pushed over a boundary.
            assert -(-units // 67) <= info.segments <= -(-units // 66)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(BASIC + sorted(GSM_REPLACEMENTS)), max_size=300))
def test_replacing_gives_gsm_and_never_more_segments_per_character(text):
    replaced = gsm_replace(text)
    assert count_segments(replaced).encoding == "GSM-7"
    assert set(gsm_replacements(text)) == {c for c in text if c in GSM_REPLACEMENTS}


def test_smart_quotes_double_the_bill_until_replaced():
    body = (
        "Hi! Don’t miss our spring sale: 20% off everything in store and online "
        "this weekend only, see you there “soon” — team"
    )
    assert count_segments(body).encoding == "UCS-2" and count_segments(body).segments == 2
    fixed = gsm_replace(body)
    assert fixed == body.replace("’", "'").replace("“", '"').replace("”", '"').replace("—", "-")
    assert count_segments(fixed).encoding == "GSM-7" and count_segments(fixed).segments == 1
