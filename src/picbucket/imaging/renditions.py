"""Renditions: the grid thumbnail and the ~2048 px display image, from one decode.

Formats and filters were chosen by measured cost on a 2-core machine (README,
"Images"): a 2048 px JPEG encodes in ~7 ms against ~195 ms for WebP at method 4 and
~45 ms at method 0, and a 683x512 JPEG thumbnail in under 1 ms against ~17 ms for
WebP, so opaque renditions are JPEG; transparent ones are WebP at method 0 (PNG at
2048 px is 15x bigger and slower still). Shrinking by a whole factor with a box
filter (``reduce``) costs a third of a Lanczos resize and looks the same at screen
size, so the display image is a whole-factor reduction whenever that lands near
2048 px.
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


def reduced(img: Image.Image) -> Image.Image:
    """Return ``img`` shrunk by the largest whole factor both renditions allow.

    The long side keeps at least ``DISPLAY_DRAFT_MIN`` px and the short side at least
    ``THUMB_SHORT_SIDE`` (3840x2160 -> 1920x1080; a 6000x1000 panorama stays as is).
    """
    factor = min(max(img.size) // DISPLAY_DRAFT_MIN, min(img.size) // THUMB_SHORT_SIDE)
    return img.reduce(factor) if factor > 1 else img


def display_image(img: Image.Image) -> Image.Image:
    """Return ``img`` with its long side at most ``DISPLAY_SIZE``."""
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
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    # A box reduce down to within 1x of the target first: at 512 px the difference to a
    # gentler reduction is invisible, and it halves the thumbnail's cost.
    return _shrink(img, size, gap=1.0)


def encode_options(img: Image.Image, *, thumbnail: bool) -> tuple[str, dict[str, object]]:
    """Return the Pillow format and save options for a rendition of ``img``."""
    if img.mode == "RGBA":
        return "WEBP", {"quality": 80, "method": 0}
    return "JPEG", {"quality": 80 if thumbnail else 82}


def _shrink(img: Image.Image, size: tuple[int, int], gap: float = 2.0) -> Image.Image:
    # reducing_gap: a cheap box reduce first, then bicubic over the last 2x: at screen
    # size it looks like a full Lanczos, at a third of the cost (README, "Images").
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=gap)
