"""How many SMS segments a body costs (GSM-7 or UCS-2), as Twilio counts them."""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    non_gsm: tuple[str, ...]  # the characters that forced UCS-2


def _split_count(units: list[int], single: int, part: int) -> int:
    """Segments needed, never splitting a 2-unit character (escape or surrogate pair)."""
    total = sum(units)
    if total <= single:
        return 1 if total else 0
    segments, used = 1, 0
    for width in units:
        if used + width > part:
            segments += 1
            used = 0
        used += width
    return segments


def count_segments(text: str) -> SegmentInfo:
    non_gsm = tuple(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENDED))
    if not non_gsm:
        widths = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
        return SegmentInfo("GSM-7", sum(widths), _split_count(widths, 160, 153), ())
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentInfo("UCS-2", sum(widths), _split_count(widths, 70, 67), non_gsm)


#: GSM-7 look-alikes for characters that would force UCS-2 (what Twilio's Smart Encoding does).
GSM_REPLACEMENTS: dict[str, str] = {
    # quotes and apostrophes
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "`": "'",
    "\u02bc": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    # dashes, bullets, ellipsis
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2022": "-",
    "\u00b7": "-",
    "\u2026": "...",
    # spaces and invisible characters
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u3000": " ",
    "\t": " ",
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
    # symbols
    "\u2122": "TM",
    "\u00a9": "(c)",
    "\u00ae": "(R)",
    "\u2039": "<",
    "\u203a": ">",
    "\u02c6": "^",
    "\u02dc": "~",
    # accented letters GSM-7 lacks
    "\u00e1": "a",
    "\u00e2": "a",
    "\u00e3": "a",
    "\u00c1": "A",
    "\u00c2": "A",
    "\u00c3": "A",
    "\u00c0": "A",
    "\u00e7": "\u00c7",
    "\u00ea": "e",
    "\u00eb": "e",
    "\u00ca": "E",
    "\u00cb": "E",
    "\u00c8": "E",
    "\u00ed": "i",
    "\u00ee": "i",
    "\u00ef": "i",
    "\u00cd": "I",
    "\u00ce": "I",
    "\u00cf": "I",
    "\u00cc": "I",
    "\u00f3": "o",
    "\u00f4": "o",
    "\u00f5": "o",
    "\u00d3": "O",
    "\u00d4": "O",
    "\u00d5": "O",
    "\u00d2": "O",
    "\u00fa": "u",
    "\u00fb": "u",
    "\u00da": "U",
    "\u00db": "U",
    "\u00d9": "U",
    "\u00fd": "y",
    "\u00ff": "y",
    "\u00dd": "Y",
    "\u0153": "oe",
    "\u0152": "OE",
}


def gsm_replacements(text: str) -> dict[str, str]:
    """For each character of ``text`` that forces UCS-2, its GSM-7 stand-in (where one exists)."""
    return {ch: GSM_REPLACEMENTS[ch] for ch in count_segments(text).non_gsm if ch in GSM_REPLACEMENTS}


def gsm_replace(text: str) -> str:
    """``text`` with every replaceable non-GSM character swapped for its GSM-7 stand-in."""
    table = gsm_replacements(text)
    return "".join(table.get(ch, ch) for ch in text) if table else text
