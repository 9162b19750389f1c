"""Process one upload: sniff, rewrite the container, check budgets, decode once, render.

Order matters for safety and cost (DESIGN.md, "Images"):
1. the format comes from the first bytes, never from the name or declared type;
2. the container rewriter writes the clean original (metadata gone, image data
   untouched) and reads every frame's size from headers, refusing what is too large
   before a single pixel is decoded;
3. decoding takes a share of the process's decode budget, decodes the *clean* file
   (what is stored is what was validated) once, at reduced scale where the format
   allows, and every frame of an animation;
4. the thumbnail and display rendition come from that one decode.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import IO, BinaryIO, cast

from PIL import Image, ImageFile

from picbucket.domain import InvalidImage, PicbucketError, TooLarge
from picbucket.imaging import gif, heif, isobmff, jpeg, png, renditions, webp
from picbucket.imaging._io import check_size
from picbucket.imaging.budget import DecodeBudget
from picbucket.imaging.container import Limits, Parsed, Rewriter
from picbucket.imaging.exif import read_exif
from picbucket.imaging.sniff import HEAD_BYTES, detect

# A decompression-bomb *warning* is an error here; the rewriters' own checks come
# first, this is the second line.
warnings.simplefilter("error", Image.DecompressionBombWarning)
ImageFile.LOAD_TRUNCATED_IMAGES = False

# The container rewriter of each detected format (heif.py loads libheif only when the
# first HEIC arrives, so cold starts do not pay for it).
REWRITERS: dict[str, Rewriter] = {
    "JPEG": jpeg.rewrite,
    "PNG": png.rewrite,
    "GIF": gif.rewrite,
    "WEBP": webp.rewrite,
    "AVIF": isobmff.rewrite_avif,
    "HEIF": heif.convert_heif,  # the one format converted: browsers cannot show HEIC
}
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "AVIF": "avif"}
# Renditions and clean originals under this stay in memory; bigger ones spill to disk.
_SPOOL_BYTES = 4 * 1024 * 1024
_CHUNK = 1024 * 1024
# Orientation 1..8 as the transposition that makes the pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass
class Rendition:
    """One file to store, positioned at 0, with its size and hash."""

    data: IO[bytes]
    content_type: str
    extension: str
    size: int
    sha256: str
    width: int
    height: int


@dataclass
class ProcessedImage:
    """The clean original, its renditions, and what the record says about them."""

    original: Rendition
    thumbnail: Rendition
    display: Rendition | None
    width: int  # as displayed (orientation applied)
    height: int
    format: str
    frames: int
    taken_at: datetime | None

    def renditions(self) -> list[Rendition]:
        """Return every file to store."""
        return [self.original, self.thumbnail, *([self.display] if self.display else [])]

    def close(self) -> None:
        """Release the temporary buffers."""
        for rendition in self.renditions():
            rendition.data.close()


def process_upload(
    source: BinaryIO, limits: Limits, budget: DecodeBudget | None = None
) -> ProcessedImage:
    """Validate ``source`` and return its clean original and renditions.

    Raise ``InvalidImage``, ``TooLarge`` or ``Busy`` with a message for a person.
    """
    source.seek(0)
    check_size(source, limits)
    head = source.read(HEAD_BYTES)
    if not head:
        raise InvalidImage("The file is empty.")
    source.seek(0)
    kind = detect(head)
    out = _spool()
    try:
        hold = budget.hold(heif_cost(source, limits)) if budget and kind == "HEIF" else None
        with hold or nullcontext():
            parsed = REWRITERS[kind](source, cast(BinaryIO, out), limits)
        original = _finish(out, parsed.format, *_upright_size(parsed))
        with _hold(budget, decode_cost(parsed)):
            thumbnail, display = _render(original.data, parsed)
        original.data.seek(0)
    except PicbucketError:
        out.close()
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        out.close()
        raise TooLarge(
            f"The image has too many pixels; the limit is {limits.max_pixels / 1e6:g} megapixels."
        ) from None
    except Exception as exc:
        # Hostile or corrupt bytes make decoders raise almost anything (OSError,
        # SyntaxError, struct.error, ValueError...): to the person it is one thing,
        # and nothing was stored.
        out.close()
        raise InvalidImage(
            "The file is damaged or truncated and cannot be read as an image."
        ) from exc
    taken_at = read_exif(parsed.exif).taken_at if parsed.exif else None
    return ProcessedImage(
        original=original,
        thumbnail=thumbnail,
        display=display,
        width=original.width,
        height=original.height,
        format=parsed.format,
        frames=max(1, len(parsed.frames)),
        taken_at=taken_at,
    )


def decode_cost(parsed: Parsed) -> int:
    """Return the bytes decoding and rendering ``parsed`` holds at its peak (an estimate).

    RGBA canvas at the decode scale, twice for animations (the canvas and the frame
    being composed) and for AVIF (the decoder's YUV planes), plus the renditions.
    """
    width, height = parsed.width, parsed.height
    if parsed.format == "JPEG":
        scale = jpeg_draft_scale(width, height)
        width, height = math.ceil(width / scale), math.ceil(height / scale)
    canvas = width * height * 4
    factor = 2 if len(parsed.frames) > 1 or parsed.format == "AVIF" else 1
    shown = min(width * height, renditions.DISPLAY_SIZE**2) * 4
    return canvas * factor + shown


def heif_cost(source: BinaryIO, limits: Limits) -> int:
    """Return the decode cost of a HEIF from its box tree (libheif decodes in full)."""
    start = source.tell()
    try:
        meta = isobmff.read_meta(isobmff.read_upload(source, limits), isobmff.HEIF_BRANDS)
        width, height = meta.size(meta.item(meta.primary))
    finally:
        source.seek(start)
    # Decoded YUV + RGB(A) + the JPEG encoder's buffers.
    return width * height * 8


def jpeg_draft_scale(width: int, height: int) -> int:
    """Return the 1/2/4/8 reduction Pillow's JPEG draft mode picks for the renditions."""
    box_w, box_h = renditions.draft_box(width, height)
    scale = 1
    while scale < 8 and width // (scale * 2) >= box_w and height // (scale * 2) >= box_h:
        scale *= 2
    return scale


def _hold(budget: DecodeBudget | None, cost: int) -> AbstractContextManager[None]:
    return budget.hold(cost) if budget else nullcontext()


def _upright_size(parsed: Parsed) -> tuple[int, int]:
    if parsed.orientation in (5, 6, 7, 8):
        return parsed.height, parsed.width
    return parsed.width, parsed.height


def _render(clean: IO[bytes], parsed: Parsed) -> tuple[Rendition, Rendition | None]:
    """Decode the clean file once (every frame) and return the thumbnail and display.

    Renditions are made at the decode's reduced scale, before turning upright, so
    the transposition and the encoders work on the fewest pixels.
    """
    clean.seek(0)
    animated = len(parsed.frames) > 1
    with Image.open(_KeepOpen(clean), formats=[parsed.format]) as img:  # type: ignore[arg-type]
        if parsed.format == "JPEG":
            img.draft(None, renditions.draft_box(img.width, img.height))
        img.load()
        icc = img.info.get("icc_profile")
        first = renditions.to_rgb_or_rgba(_eight_bit(img.copy() if animated else img))
        for index in range(1, len(parsed.frames)):
            img.seek(index)  # decoding every frame is the validation of an animation
            img.load()
        base = renditions.reduced(first)
    display = None
    if not animated and renditions.needs_display(*_upright_size(parsed)):
        shown = _upright(renditions.display_image(base), parsed.orientation)
        display = _encode(shown, icc, thumbnail=False)
    thumb = _upright(renditions.thumbnail_image(base), parsed.orientation)
    return _encode(thumb, icc, thumbnail=True), display


def _eight_bit(img: Image.Image) -> Image.Image:
    """Return 16-bit and 32-bit grey images as 8-bit grey (convert() would clip them)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        return img.point(lambda value: value / 256).convert("L")
    if img.mode == "F":
        return img.convert("L")
    return img


def _upright(img: Image.Image, orientation: int) -> Image.Image:
    method = _UPRIGHT.get(orientation)
    return img.transpose(method) if method is not None else img


def _encode(img: Image.Image, icc: object, *, thumbnail: bool) -> Rendition:
    fmt, options = renditions.encode_options(img, thumbnail=thumbnail)
    if isinstance(icc, bytes) and icc:
        # The profile was already rebuilt from colorimetry by the rewriter.
        options["icc_profile"] = icc
    out = _spool()
    img.save(out, fmt, **options)
    return _finish(out, fmt, img.width, img.height)


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)


def _finish(out: IO[bytes], fmt: str, width: int, height: int) -> Rendition:
    size = out.tell()
    digest = hashlib.sha256()
    out.seek(0)
    while chunk := out.read(_CHUNK):
        digest.update(chunk)
    out.seek(0)
    return Rendition(
        out, CONTENT_TYPES[fmt], EXTENSIONS[fmt], size, digest.hexdigest(), width, height
    )


class _KeepOpen:
    """Hide ``close`` from Pillow: the spooled file is streamed to storage afterwards."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)

    def close(self) -> None:
        """Leave the underlying stream open."""
