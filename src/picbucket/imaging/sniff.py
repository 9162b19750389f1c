"""Tell an image's format from its first bytes: never from its name or declared type."""

from __future__ import annotations

import struct

from picbucket.domain import InvalidImage

# What the page and the API accept, named as people know them.
ACCEPTED = "JPEG, PNG, GIF, WebP, AVIF or HEIC"
# How many leading bytes ``detect`` needs (an ftyp box lists its brands early).
HEAD_BYTES = 64

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def detect(head: bytes) -> str:
    """Return "JPEG", "PNG", "GIF", "WEBP", "AVIF" or "HEIF" for a file's first bytes.

    Raise ``InvalidImage`` with a message for a person for anything else.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    brands = ftyp_brands(head)
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    if _looks_like_markup(head):
        raise InvalidImage(
            f"SVG, HTML and other text files are not accepted: upload a {ACCEPTED} image."
        )
    raise InvalidImage(f"This is not a {ACCEPTED} image (or it is damaged).")


def ftyp_brands(head: bytes) -> set[bytes]:
    """Return the major and compatible brands of a leading ISOBMFF ``ftyp`` box."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return set()
    size = struct.unpack(">I", head[:4])[0]
    end = min(size, len(head))
    if size < 16:
        return set()
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def _looks_like_markup(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf\x00 \t\r\n").lower()
    return text.startswith((b"<", b"<?xml", b"<svg", b"<!doctype"))
