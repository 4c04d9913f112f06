from __future__ import annotations

import io
import secrets

import factory
from django.core.files.base import ContentFile
from PIL import Image

from media.models import MediaFile
from tenants.tests.factories import TenantFactory


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (8, 6), color=(200, 30, 30)) -> bytes:
    """A real image made in memory by Pillow."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=kind)
    return buf.getvalue()


class MediaFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MediaFile

    tenant = factory.SubFactory(TenantFactory)
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(24))
    filename = "photo.png"
    original_name = factory.Sequence(lambda n: f"photo-{n}.png")
    content_type = "image/png"
    width, height = 8, 6

    @factory.lazy_attribute
    def size(self) -> int:
        return len(image_bytes())

    @factory.lazy_attribute
    def file(self):
        return ContentFile(image_bytes(), name=self.filename)
