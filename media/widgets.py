"""The media picker: the tenant's library as checkboxes with thumbnails (no ids to type)."""

from __future__ import annotations

from django import forms
from django.utils.html import format_html

from .models import MediaFile


class MediaPicker(forms.CheckboxSelectMultiple):
    template_name = "media/widgets/media_picker.html"

    class Media:
        css = {"all": ("media/media_admin.css",)}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        media = getattr(value, "instance", None)
        if media is not None:
            option.update(thumb=media.public_path, is_image=media.is_image, kind=media.filename.rsplit(".", 1)[-1])
            option["size_kb"] = round(media.size / 1000)
        return option


def thumbnail(media: MediaFile, css: str = "media-thumb") -> str:
    if media.is_image:
        return format_html('<img src="{}" class="{}" alt="" loading="lazy">', media.public_path, css)
    return format_html('<span class="{} media-doc">{}</span>', css, media.filename.rsplit(".", 1)[-1].upper())
