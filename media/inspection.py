"""What a file really is, read from its bytes (never from its name or the type the client claims).

Twilio fetches a ``MediaUrl`` with GET and HEAD and refuses the message when the
``Content-Type`` we answer does not match the bytes (../shared/GATEWAY.md, Twilio's
"Accepted content types for media"), so the type we store is the one Pillow (or the
PDF signature) finds. Accepted, each checked by content:

- JPEG, PNG, GIF: the three image types Twilio fully supports for MMS (it may resize
  them for a carrier). Pillow opens the header, ``verify()`` checks the structure,
  then the image is opened again and decoded whole (``verify`` leaves the image unusable,
  and a truncated file only shows when decoded), within ``MMS_MAX_IMAGE_PIXELS``;
- PDF (``application/pdf``), which Twilio accepts for MMS without changing it: by its
  signature only (``%PDF-`` first, ``%%EOF`` near the end). Nothing is rendered.

Anything else (a text file renamed ``.jpg``, SVG, WebP, video) is refused.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image

#: Pillow's format name → (content type, file extension).
IMAGE_TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "GIF": ("image/gif", "gif")}
PDF_TYPE = ("application/pdf", "pdf")
ACCEPTED_TYPES = (*(t for t, _ in IMAGE_TYPES.values()), PDF_TYPE[0])
ACCEPTED_LABEL = "JPEG, PNG, GIF or PDF"


class MediaRejected(ValueError):
    """A file or a selection of files that cannot go in an MMS. ``limit`` names the rule (a setting's name)."""

    def __init__(self, message: str, *, limit: str, limit_value: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.limit = limit
        self.limit_value = limit_value


@dataclass(frozen=True)
class Inspected:
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None


def media_inspect(data: bytes) -> Inspected:
    """The file's type and size in pixels, from its bytes. Raises ``MediaRejected`` for anything else."""
    if data[:5] == b"%PDF-":
        if b"%%EOF" not in data[-2048:]:
            raise _not_accepted("The file starts like a PDF but is not a whole one.")
        return Inspected(*PDF_TYPE)
    max_pixels = settings.MMS_MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                width, height = probe.size
                if kind not in IMAGE_TYPES:
                    raise _not_accepted(f"{kind or 'This'} images are not accepted for MMS.")
                if width * height > max_pixels:
                    raise MediaRejected(
                        f"The image is {width}×{height} pixels; at most {max_pixels:,} pixels (MMS_MAX_IMAGE_PIXELS).",
                        limit="MMS_MAX_IMAGE_PIXELS",
                        limit_value=max_pixels,
                    )
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # decodes every byte: a truncated or corrupt file fails here
    except MediaRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure on a user's bytes is a refusal, never a 500
        raise _not_accepted("The file is not an image or PDF that could be read.") from exc
    content_type, extension = IMAGE_TYPES[kind]
    return Inspected(content_type, extension, width, height)


def _not_accepted(detail: str) -> MediaRejected:
    return MediaRejected(f"{detail} Accepted: {ACCEPTED_LABEL}, checked by content.", limit="MMS_ACCEPTED_TYPES")
