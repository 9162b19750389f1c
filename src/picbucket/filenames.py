"""File names made from photo titles: the one sanitiser for downloads, zips and exports.

A title is whatever the person typed; a file name must survive every file system and
unzip tool: no folders, control characters or characters Windows reserves, no leading
or trailing dots or spaces, not too long. Services and the web layer both import this
(it imports nothing of either).
"""

from __future__ import annotations

import re
import unicodedata

from picbucket.domain import Variant

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
# Stems longer than this are cut (some unzip tools and file systems stop at 255 bytes).
MAX_STEM = 120


def file_stem(title: str, *, fallback: str = "photo", unsafe_as: str = "_") -> str:
    """Return ``title`` as a file name without extension; ``fallback`` if nothing is left.

    Each run of unsafe characters becomes ``unsafe_as`` ("" drops them).
    """
    stem = unicodedata.normalize("NFC", title)
    stem = _UNSAFE.sub(unsafe_as, stem).strip(" .")
    return stem[:MAX_STEM] or fallback


def extension_of(variant: Variant) -> str:
    """Return the stored file's extension (keys end in ``.<ext>``, written by uploads)."""
    return variant.key.rsplit(".", 1)[-1]
