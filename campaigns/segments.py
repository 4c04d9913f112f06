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
