"""Renditions: the grid thumbnail and the ~2048 px display image, from one decode.

Formats were chosen by measured encode cost on a 2-core machine (README, "Images"):
a 2048 px JPEG q85 encodes in ~7 ms against ~195 ms for WebP at method 4, so the
display rendition is JPEG unless the image has transparency (then WebP at method 0,
~45 ms, since PNG at that size is 15x bigger and slower still). Thumbnails are small
enough that WebP's smaller files cost only a few milliseconds.
"""

from __future__ import annotations

import math

from PIL import Image

# Long side of the display rendition: fills a 1080p screen at 1x and a phone at 3x.
DISPLAY_SIZE = 2048
# Originals at most this much above DISPLAY_SIZE are shown as they are.
DISPLAY_SLACK = 1.25
# JPEG decodes at 1/2..1/8 scale when that still leaves this many pixels on the long
# side: a 4000 px photo decodes at 2000 px, "about 2048", at a quarter of the cost.
DISPLAY_DRAFT_MIN = 1600
# Short side of a grid thumbnail: sharp in a 256 CSS px square cell on 2x screens.
THUMB_SHORT_SIDE = 512
# Panoramas are centre-cropped to at most this aspect before scaling, so a square
# cell shows a sharp middle instead of a stretched sliver.
THUMB_MAX_ASPECT = 2.0


def needs_display(width: int, height: int) -> bool:
    """Tell whether an image is big enough that a display rendition pays off."""
    return max(width, height) > DISPLAY_SIZE * DISPLAY_SLACK


def draft_box(width: int, height: int) -> tuple[int, int]:
    """Return the size to ask of JPEG draft mode so the decode stays >= what renditions need."""
    scale = min(1.0, DISPLAY_DRAFT_MIN / max(width, height, 1))
    short_needed = THUMB_SHORT_SIDE / max(min(width, height), 1)
    scale = min(1.0, max(scale, short_needed))
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def has_alpha(img: Image.Image) -> bool:
    """Tell whether pixels can be transparent."""
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )


def to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    """Return the image in a mode every encoder writes (16-bit and palettes converted)."""
    alpha = has_alpha(img)
    wanted = "RGBA" if alpha else "RGB"
    return img if img.mode == wanted else img.convert(wanted)


def display_image(img: Image.Image) -> Image.Image:
    """Return ``img`` scaled so its long side is at most ``DISPLAY_SIZE``."""
    long_side = max(img.size)
    if long_side <= DISPLAY_SIZE:
        return img
    scale = DISPLAY_SIZE / long_side
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return _shrink(img, size)


def thumbnail_image(img: Image.Image) -> Image.Image:
    """Return the grid thumbnail: centre-cropped past 2:1, short side ``THUMB_SHORT_SIDE``."""
    width, height = img.size
    if width > height * THUMB_MAX_ASPECT:
        keep = round(height * THUMB_MAX_ASPECT)
        img = img.crop(((width - keep) // 2, 0, (width - keep) // 2 + keep, height))
    elif height > width * THUMB_MAX_ASPECT:
        keep = round(width * THUMB_MAX_ASPECT)
        img = img.crop((0, (height - keep) // 2, width, (height - keep) // 2 + keep))
    short = min(img.size)
    if short <= THUMB_SHORT_SIDE:
        return img
    scale = THUMB_SHORT_SIDE / short
    return _shrink(img, (max(1, round(img.width * scale)), max(1, round(img.height * scale))))


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """Return the thumbnail's pixel size for an image of ``width`` x ``height``."""
    if width > height * THUMB_MAX_ASPECT:
        width = round(height * THUMB_MAX_ASPECT)
    elif height > width * THUMB_MAX_ASPECT:
        height = round(width * THUMB_MAX_ASPECT)
    short = min(width, height)
    if short <= THUMB_SHORT_SIDE:
        return max(1, width), max(1, height)
    scale = THUMB_SHORT_SIDE / short
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_options(img: Image.Image, *, thumbnail: bool) -> tuple[str, dict[str, object]]:
    """Return the Pillow format and save options for a rendition of ``img``."""
    if thumbnail:
        return "WEBP", {"quality": 80, "method": 2}
    if img.mode == "RGBA":
        return "WEBP", {"quality": 85, "method": 0}
    return "JPEG", {"quality": 85, "optimize": False}


def _shrink(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    # reducing_gap: a cheap box reduce first, then Lanczos over the last 2x, which looks
    # the same as a full Lanczos at a fraction of the cost for large reductions.
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
