"""Untrusted image bytes in, clean originals and renditions out (pure: no Flask, no storage).

``process_upload`` is the entry point (pipeline.py); one module per container format
rewrites files without decoding them (jpeg, png, gif, webp, isobmff for AVIF, heif for
HEIC), and renditions.py makes the thumbnail and display image from one decode.
"""

from picbucket.imaging.budget import DecodeBudget
from picbucket.imaging.container import Limits
from picbucket.imaging.pipeline import (
    CONTENT_TYPES,
    EXTENSIONS,
    ProcessedImage,
    Rendition,
    process_upload,
)

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "DecodeBudget",
    "Limits",
    "ProcessedImage",
    "Rendition",
    "process_upload",
]
