"""What every container rewriter (jpeg, png, gif, webp, isobmff, heif) returns and obeys.

A rewriter reads an untrusted file once, front to back, and writes a clean copy:
only the structures a decoder needs, the compressed image data untouched, no
metadata but an orientation-only EXIF block. It never decodes pixels; it reads the
frame geometry from headers so the pipeline can check budgets *before* decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class Limits:
    """What one upload may be; rewriters raise ``TooLarge`` past any of these."""

    max_bytes: int
    # Per frame, and for the canvas a decoder composes frames onto.
    max_pixels: int
    max_frames: int
    # Sum over every frame: bounds decode CPU time for animations.
    max_total_pixels: int = 0

    @property
    def total_pixels(self) -> int:
        """Return the all-frames pixel budget (ten stills' worth unless set)."""
        return self.max_total_pixels or 10 * self.max_pixels


@dataclass(frozen=True)
class Frame:
    """One frame's rectangle on the canvas, read from its header."""

    width: int
    height: int
    x: int = 0
    y: int = 0


@dataclass
class Parsed:
    """What a rewriter learned while writing the clean copy."""

    format: str  # "JPEG", "PNG", "GIF", "WEBP", "AVIF" (HEIC converts to "JPEG")
    width: int  # canvas size as coded, before orientation
    height: int
    frames: list[Frame] = field(default_factory=list)
    orientation: int = 1  # EXIF orientation 1..8 found in the source (1: none)
    # The source's raw EXIF (TIFF, from b"II*\0" / b"MM\0*"): read for the date taken,
    # never written anywhere.
    exif: bytes | None = None
    # Whether a (rebuilt) colour profile was written to the clean copy.
    icc_kept: bool = False


class Rewriter(Protocol):
    """Write a clean copy of ``source`` into ``out``; raise InvalidImage / TooLarge."""

    def __call__(self, source: BinaryIO, out: BinaryIO, limits: Limits) -> Parsed: ...
