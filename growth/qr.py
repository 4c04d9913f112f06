"""QR codes for a keyword (an ``sms:`` link with the body filled in) and a form (its public URL), SVG and PNG.

Drawn with ``qrcode`` (already a dependency, for the two-factor enrolment), which makes both formats: SVG with its
own path factory, PNG through Pillow (also already a dependency, for the media library). segno would do the same
with one more package to lock and audit, so it is not added.
"""

from __future__ import annotations

from io import BytesIO

import qrcode
import qrcode.constants
import qrcode.image.pil
import qrcode.image.svg

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


def qr_image(data: str, *, fmt: str) -> bytes:
    """``data`` as a QR code (error correction M: still reads when printed small or a little damaged)."""
    if fmt not in FORMATS:
        raise ValueError(f"QR format must be one of {', '.join(FORMATS)}")
    factory = qrcode.image.svg.SvgPathFillImage if fmt == "svg" else qrcode.image.pil.PilImage
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=12, border=4, image_factory=factory
    )
    code.add_data(data)
    code.make(fit=True)
    out = BytesIO()
    code.make_image().save(out)
    return out.getvalue()
