"""The first release's pipeline (decode, re-encode everything), kept as the bench's baseline.

Not used by the app: ``make bench`` measures pipeline v2 against it in the same run.

Validate and re-encode uploaded images: untrusted bytes in, clean variants out.

Pure functions over streams: nothing here knows Flask or storage, so this module
can be fuzzed and benchmarked alone. Every stored byte is produced by Pillow's
encoders from decoded pixels, so appended payloads, polyglot tails, EXIF (GPS!),
XMP and comments never survive; only the ICC colour profile is carried over.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from picbucket.domain import InvalidImage, PicbucketError, TooLarge

# A decompression-bomb *warning* is an error here: an image near the bomb limit is
# refused rather than decoded.
warnings.simplefilter("error", Image.DecompressionBombWarning)

ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}

# The long side of a gallery thumbnail; 400 px is sharp in a ~200 CSS px grid cell on 2x screens.
THUMBNAIL_SIZE = 400
THUMBNAIL_TYPE = "image/webp"
THUMBNAIL_EXTENSION = "webp"
# Re-encoded files under this stay in memory; bigger ones spill to a temp file.
_SPOOL_BYTES = 4 * 1024 * 1024
_HASH_CHUNK = 1024 * 1024
# Every frame of an animation is held decoded (RGBA) while it is re-encoded, so all
# frames together get the same pixel budget as one still image: at most ~200 MB.
ANIMATION_PIXEL_BUDGET_FACTOR = 1


@dataclass(frozen=True)
class Limits:
    """What one upload may be."""

    max_bytes: int
    max_pixels: int
    max_frames: int


@dataclass
class Rendition:
    """One encoded output, positioned at 0 and ready to stream to a blob store."""

    data: IO[bytes]
    content_type: str
    extension: str
    size: int
    sha256: str


@dataclass
class ProcessedImage:
    """The clean original and its thumbnail."""

    original: Rendition
    thumbnail: Rendition
    width: int
    height: int
    format: str
    frames: int

    def close(self) -> None:
        """Release the temporary buffers."""
        self.original.data.close()
        self.thumbnail.data.close()


def process_upload(source: BinaryIO, limits: Limits) -> ProcessedImage:
    """Validate ``source`` and return its re-encoded original and thumbnail.

    Raise ``InvalidImage`` or ``TooLarge`` with a message for a person.
    """
    size = _stream_size(source)
    if size == 0:
        raise InvalidImage("The file is empty.")
    if size > limits.max_bytes:
        raise TooLarge(f"The file is {_mb(size)}; the limit is {_mb(limits.max_bytes)}.")
    original: Rendition | None = None
    try:
        with _open(source, limits) as img:
            fmt, frames = _format_and_frames(img)
            original, (width, height) = _reencode(img, fmt, frames)
        thumbnail = make_thumbnail(source)
    except PicbucketError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooLarge(
            f"The image has too many pixels; the limit is {limits.max_pixels / 1e6:g} megapixels."
        ) from None
    except Exception as exc:
        # Hostile or corrupt bytes make Pillow raise almost anything (OSError,
        # SyntaxError, struct.error, IndexError, TypeError from EXIF, encoder
        # RuntimeErrors): to the person it is all one thing, and nothing was stored.
        if original is not None:
            original.data.close()
        raise InvalidImage(
            "The file is damaged or truncated and cannot be read as an image."
        ) from exc
    return ProcessedImage(original, thumbnail, width, height, fmt, frames)


def _format_and_frames(img: Image.Image) -> tuple[str, int]:
    """Return the format to store and how many frames to keep.

    A multi-picture JPEG (MPO: phone HDR gain maps, "portrait" depth maps) is a
    JPEG whose first picture is the photo: keep that one, as a JPEG.
    """
    if img.format == "MPO":
        return "JPEG", 1
    return str(img.format), getattr(img, "n_frames", 1)


def make_thumbnail(source: BinaryIO) -> Rendition:
    """Return a WebP thumbnail at most ``THUMBNAIL_SIZE`` px on the long side.

    JPEGs are decoded at reduced scale (draft mode: the decoder skips DCT detail it
    would throw away), which is several times faster for large photos.
    """
    source.seek(0)
    with Image.open(_KeepOpen(source), formats=ALLOWED_FORMATS) as img:  # type: ignore[arg-type]
        if img.format == "JPEG":
            img.draft("RGB", thumbnail_box(img.width, img.height))
        frame = ImageOps.exif_transpose(img)
        has_alpha = frame.mode in ("RGBA", "LA", "PA") or (
            frame.mode == "P" and "transparency" in frame.info
        )
        frame = frame.convert("RGBA" if has_alpha else "RGB")
        frame.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
        out = _spool()
        frame.save(out, "WEBP", quality=80, method=4)
    return _finish(out, THUMBNAIL_TYPE, THUMBNAIL_EXTENSION)


def thumbnail_box(width: int, height: int) -> tuple[int, int]:
    """Return the thumbnail's size; as a draft request it lets JPEG decode at 1/2-1/8 scale.

    Asking for the square box instead would make the decoder honour the short side
    too and keep twice the pixels needed.
    """
    scale = min(1.0, THUMBNAIL_SIZE / max(width, height, 1))
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


class _KeepOpen:
    """Hide ``close`` from Pillow: the caller's stream is read again for the thumbnail."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)

    def close(self) -> None:
        """Leave the underlying stream open."""


class _Opened:
    """Context manager around an opened, limit-checked image."""

    def __init__(self, img: Image.Image) -> None:
        self.img = img

    def __enter__(self) -> Image.Image:
        return self.img

    def __exit__(self, *exc: object) -> None:
        self.img.close()


def _open(source: BinaryIO, limits: Limits) -> _Opened:
    source.seek(0)
    head = source.read(512)
    source.seek(0)
    if _looks_like_markup(head):
        raise InvalidImage(
            "SVG, HTML and other text files are not accepted: upload a JPEG, PNG, GIF or WebP."
        )
    try:
        img = Image.open(_KeepOpen(source), formats=ALLOWED_FORMATS)  # type: ignore[arg-type]
    except UnidentifiedImageError:
        raise InvalidImage(
            "This is not a JPEG, PNG, GIF or WebP image (or it is damaged)."
        ) from None
    pixels = img.width * img.height
    if pixels > limits.max_pixels:
        img.close()
        raise TooLarge(
            f"The image is {pixels / 1e6:.1f} megapixels; "
            f"the limit is {limits.max_pixels / 1e6:g} megapixels."
        )
    _, frames = _format_and_frames(img)
    if frames > limits.max_frames:
        img.close()
        raise TooLarge(f"The animation has {frames} frames; the limit is {limits.max_frames}.")
    if frames * pixels > limits.max_pixels * ANIMATION_PIXEL_BUDGET_FACTOR:
        img.close()
        raise TooLarge("The animation is too large to process: fewer or smaller frames, please.")
    return _Opened(img)


def _looks_like_markup(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf\x00 \t\r\n").lower()
    return text.startswith((b"<", b"<?xml", b"<svg", b"<!doctype"))


def _reencode(img: Image.Image, fmt: str, frames: int) -> tuple[Rendition, tuple[int, int]]:
    """Return the clean re-encoding and its (width, height) after EXIF orientation."""
    icc = img.info.get("icc_profile")
    out = _spool()
    size = img.size
    if frames > 1:
        _save_animation(img, fmt, out)
    else:
        img.load()
        frame = ImageOps.exif_transpose(img)
        # Drop every piece of metadata Pillow carried over (EXIF, XMP, comments, text).
        frame.info = {}
        frame = _encodable(frame, fmt)
        options: dict[str, object] = {"icc_profile": icc} if icc else {}
        if fmt == "JPEG":
            options |= {"quality": 90, "progressive": True}
        elif fmt == "PNG":
            options |= {"compress_level": 6}
        elif fmt == "WEBP":
            options |= {"quality": 90, "method": 4}
        if fmt in ("PNG", "GIF") and frame.mode == img.mode and "transparency" in img.info:
            # A palette or tRNS transparent colour is pixel data, not metadata: keep it.
            options["transparency"] = img.info["transparency"]
        frame.save(out, fmt, **options)
        size = frame.size
    return _finish(out, CONTENT_TYPES[fmt], EXTENSIONS[fmt]), size


def _save_animation(img: Image.Image, fmt: str, out: IO[bytes]) -> None:
    frames: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(img):
        durations.append(int(frame.info.get("duration", 100)))
        copy = frame.convert("RGBA")
        copy.info = {}
        frames.append(copy)
    loop = int(img.info.get("loop", 0))
    options: dict[str, object] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": durations,
        "loop": loop,
    }
    if fmt == "GIF":
        options["disposal"] = 2
    else:
        options |= {"quality": 90, "method": 4}
    frames[0].save(out, fmt, **options)


def _encodable(frame: Image.Image, fmt: str) -> Image.Image:
    """Convert modes the target encoder cannot write."""
    if fmt == "JPEG" and frame.mode not in ("RGB", "L", "CMYK"):
        return frame.convert("RGB")
    if fmt == "WEBP" and frame.mode not in ("RGB", "RGBA"):
        return frame.convert("RGBA" if "A" in frame.mode or frame.mode == "P" else "RGB")
    return frame


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)


def _finish(out: IO[bytes], content_type: str, extension: str) -> Rendition:
    size = out.tell()
    digest = hashlib.sha256()
    out.seek(0)
    for chunk in _chunks(out):
        digest.update(chunk)
    out.seek(0)
    return Rendition(out, content_type, extension, size, digest.hexdigest())


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_HASH_CHUNK):
        yield chunk


def _stream_size(source: BinaryIO) -> int:
    source.seek(0, 2)
    size = source.tell()
    source.seek(0)
    return size


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
