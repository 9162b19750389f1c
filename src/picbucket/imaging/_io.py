"""Small shared pieces of the container rewriters: a bounded buffered reader and frame budgets."""

from __future__ import annotations

import re
from typing import BinaryIO

from picbucket.domain import InvalidImage, TooLarge, human_bytes
from picbucket.imaging.container import Frame, Limits

CHUNK = 1 << 16


class Reader:
    """Read an untrusted file front to back in chunks; a short read is an invalid image."""

    def __init__(self, source: BinaryIO, kind: str) -> None:
        self._source = source
        self._kind = kind
        self._buf = b""
        self._pos = 0
        self.offset = 0  # bytes consumed so far

    def _fill(self, want: int) -> bool:
        """Make ``want`` bytes available if the file has them; return whether it did."""
        while len(self._buf) - self._pos < want:
            more = self._source.read(max(CHUNK, want - (len(self._buf) - self._pos)))
            if not more:
                return False
            self._buf = self._buf[self._pos :] + more
            self._pos = 0
        return True

    def truncated(self) -> InvalidImage:
        return InvalidImage(f"The {self._kind} file is truncated or damaged.")

    def read(self, n: int) -> bytes:
        """Return exactly ``n`` bytes or raise InvalidImage."""
        if not self._fill(n):
            raise self.truncated()
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        self.offset += n
        return data

    def at_end(self) -> bool:
        return not self._fill(1)

    def u8(self) -> int:
        return self.read(1)[0]

    def skip(self, n: int) -> None:
        """Skip ``n`` bytes without keeping them (used for dropped payloads)."""
        while n > 0:
            step = min(n, CHUNK)
            self.read(step)
            n -= step

    def copy(self, n: int, out: BinaryIO) -> None:
        """Copy ``n`` bytes to ``out`` chunk by chunk."""
        while n > 0:
            step = min(n, CHUNK)
            out.write(self.read(step))
            n -= step

    def copy_until(self, pattern: re.Pattern[bytes], out: BinaryIO, keep: int) -> None:
        """Copy bytes to ``out`` until ``pattern`` matches (left unread); raise at end of file.

        ``keep`` bytes at a buffer's end stay unread so a match cannot be split across reads.
        """
        while True:
            match = pattern.search(self._buf, self._pos)
            end = match.start() if match else max(self._pos, len(self._buf) - keep)
            out.write(self._buf[self._pos : end])
            self.offset += end - self._pos
            self._pos = end
            if match:
                return
            if not self._fill(len(self._buf) - self._pos + 1):
                raise self.truncated()


def megapixels(pixels: int) -> str:
    """Return a pixel count as a short megapixel figure: 61.2, 50, 0.019."""
    mega = pixels / 1_000_000
    return (f"{mega:.1f}" if mega >= 1 else f"{mega:.2g}").removesuffix(".0")


class Budget:
    """Check the canvas and every frame against the limits as headers are read."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.frames: list[Frame] = []
        self.total = 0

    def canvas(self, width: int, height: int) -> None:
        """Refuse an empty or oversized canvas."""
        if width <= 0 or height <= 0:
            raise InvalidImage("The image has no pixels (its width or height is zero).")
        self._pixels(width * height, "The image")

    def declare(self, count: int) -> None:
        """Refuse a file whose header announces more frames than the limit."""
        if count > self.limits.max_frames:
            most = self.limits.max_frames
            raise TooLarge(f"The animation has {count} frames; the limit is {most}.")

    def add(self, frame: Frame) -> None:
        """Count one frame: its own size, the frame count and the all-frames total."""
        if frame.width <= 0 or frame.height <= 0:
            raise InvalidImage("A frame of the image has no pixels.")
        if len(self.frames) >= self.limits.max_frames:
            raise TooLarge(
                f"The animation has more than {self.limits.max_frames} frames; that is the limit."
            )
        pixels = frame.width * frame.height
        self._pixels(pixels, "A frame of the image")
        self.total += pixels
        if self.total > self.limits.total_pixels:
            raise TooLarge(
                f"The animation has more than {megapixels(self.limits.total_pixels)} megapixels "
                "in all its frames; that is the limit."
            )
        self.frames.append(frame)

    def _pixels(self, pixels: int, what: str) -> None:
        limit = self.limits.max_pixels
        if pixels > limit:
            size, most = megapixels(pixels), megapixels(limit)
            if size == most:  # 50.04 is not "50" when the limit is 50
                size = f"{pixels / 1_000_000:.6g}"
            raise TooLarge(f"{what} is {size} megapixels; the limit is {most} megapixels.")


def check_size(source: BinaryIO, limits: Limits) -> None:
    """Refuse a file larger than ``limits.max_bytes`` before reading it."""
    start = source.tell()
    size = source.seek(0, 2) - start
    source.seek(start)
    if limits.max_bytes and size > limits.max_bytes:
        raise TooLarge(
            f"The file is {human_bytes(size)}; the limit is {human_bytes(limits.max_bytes)}."
        )
