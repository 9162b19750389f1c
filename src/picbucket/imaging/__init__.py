"""Untrusted image bytes in, clean originals and renditions out (pure: no Flask, no storage)."""

from picbucket.imaging.legacy import *  # noqa: F403 - transitional, replaced by the pipeline
from picbucket.imaging.legacy import (  # noqa: F401
    Limits,
    ProcessedImage,
    Rendition,
    _KeepOpen,
    make_thumbnail,
    process_upload,
    thumbnail_box,
)
