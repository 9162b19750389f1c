"""Rewrite a JPEG segment by segment: tables, frame header and scans kept; metadata dropped.

Entropy-coded data is copied as is. EXIF is read (orientation, date) and replaced by an
orientation-only APP1; an ICC profile is rebuilt from its colorimetry; everything else
(XMP, IPTC, comments, MPF, other APPn, bytes after EOI) is not written.
"""

from __future__ import annotations

import re
import struct
from typing import BinaryIO

from picbucket.domain import InvalidImage
from picbucket.imaging import icc
from picbucket.imaging._io import Budget, Reader, check_size
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.exif import orientation_only, read_exif

SOI, EOI, SOS, DNL = 0xD8, 0xD9, 0xDA, 0xDC
# Tables and restart interval a decoder needs before or between scans.
_KEPT = {0xC4, 0xDB, 0xDD}  # DHT, DQT, DRI
_SOF_KEPT = {0xC0, 0xC1, 0xC2}  # baseline, extended sequential, progressive (Huffman)
# Lossless, hierarchical and arithmetic-coded frames: refused (browsers do not show them).
_SOF_REFUSED = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_ICC_ID = b"ICC_PROFILE\0"
_MAX_ICC = 4 << 20
# A marker inside entropy-coded data: 0xFF not followed by stuffing (00) or a restart (D0-D7).
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]", re.DOTALL)


def rewrite(source: BinaryIO, out: BinaryIO, limits: Limits) -> Parsed:
    """Write a clean copy of the JPEG ``source`` to ``out``; raise InvalidImage or TooLarge."""
    check_size(source, limits)
    reader = Reader(source, "JPEG")
    if reader.read(2) != b"\xff\xd8":
        raise InvalidImage("The file is not a JPEG image.")
    state = _Header()
    budget = Budget(limits)
    while True:
        marker = _marker(reader)
        if marker == SOS:
            break
        if marker in (SOI, EOI) or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            raise InvalidImage("The JPEG file has no image data.")
        payload = reader.read(_length(reader))
        state.segment(marker, payload, budget)
    if state.frame is None:
        raise InvalidImage("The JPEG file has no frame header.")
    out.write(b"\xff\xd8")
    out.write(state.preamble())
    out.write(b"".join(state.kept))
    _scans(reader, out)
    frame = state.frame
    return Parsed(
        "JPEG", frame.width, frame.height, [frame], state.orientation, state.exif, state.icc_kept
    )


def _marker(reader: Reader) -> int:
    if reader.u8() != 0xFF:
        raise InvalidImage("The JPEG file is damaged (a segment does not start with a marker).")
    marker = reader.u8()
    while marker == 0xFF:  # fill bytes
        marker = reader.u8()
    return marker


def _length(reader: Reader) -> int:
    length = int.from_bytes(reader.read(2))
    if length < 2:
        raise InvalidImage("The JPEG file is damaged (a segment length is invalid).")
    return length - 2


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


class _Header:
    """What is learned from the segments before the first scan, and what of them is kept."""

    def __init__(self) -> None:
        self.kept: list[bytes] = []
        self.frame: Frame | None = None
        self.jfif: bytes | None = None
        self.adobe: bytes | None = None
        self.exif: bytes | None = None
        self.orientation = 1
        self.icc_parts: dict[int, bytes] = {}
        self.icc_size = 0
        self.icc_kept = False

    def segment(self, marker: int, payload: bytes, budget: Budget) -> None:
        if marker in _KEPT:
            self.kept.append(_segment(marker, payload))
        elif marker in _SOF_KEPT:
            self._frame(marker, payload, budget)
        elif marker in _SOF_REFUSED:
            raise InvalidImage(
                "This kind of JPEG (lossless, hierarchical or arithmetic-coded) is not supported."
            )
        elif (
            marker == 0xE0
            and payload.startswith(b"JFIF\0")
            and len(payload) >= 12
            and self.jfif is None
        ):
            # Version 1.01, the source's density; no thumbnail.
            self.jfif = b"JFIF\0\x01\x01" + payload[7:12] + b"\0\0"
        elif marker == 0xE1 and payload.startswith(b"Exif\0\0") and self.exif is None:
            self.exif = payload[6:]
            self.orientation = read_exif(self.exif).orientation
        elif marker == 0xE2 and payload.startswith(_ICC_ID) and len(payload) > 14:
            self.icc_size += len(payload)
            self.icc_parts.setdefault(payload[12], payload[14:])
        elif (
            marker == 0xEE
            and payload.startswith(b"Adobe")
            and len(payload) >= 12
            and self.adobe is None
        ):
            # Version 100, no flags, the colour transform byte that CMYK/YCCK decoding needs.
            self.adobe = b"Adobe\0\x64\0\0\0\0" + payload[11:12]
        # Everything else (XMP, IPTC, COM, MPF, other APPn, JPGn) is not written.

    def _frame(self, marker: int, payload: bytes, budget: Budget) -> None:
        if self.frame is not None:
            raise InvalidImage("The JPEG file has more than one frame header.")
        if len(payload) < 6 or len(payload) != 6 + 3 * payload[5]:
            raise InvalidImage("The JPEG frame header is damaged.")
        height, width = struct.unpack_from(">HH", payload, 1)
        budget.canvas(width, height)
        self.frame = Frame(width, height)
        budget.add(self.frame)
        self.kept.append(_segment(marker, payload))

    def preamble(self) -> bytes:
        """Return JFIF, orientation EXIF, rebuilt ICC and Adobe segments, in that order."""
        parts = []
        if self.jfif:
            parts.append(_segment(0xE0, self.jfif))
        if self.orientation != 1:
            parts.append(_segment(0xE1, b"Exif\0\0" + orientation_only(self.orientation)))
        profile = self._icc()
        if profile is not None:
            self.icc_kept = True
            chunks = [profile[i : i + 65519] for i in range(0, len(profile), 65519)]
            for number, chunk in enumerate(chunks, 1):
                parts.append(_segment(0xE2, _ICC_ID + bytes([number, len(chunks)]) + chunk))
        if self.adobe:
            parts.append(_segment(0xEE, self.adobe))
        return b"".join(parts)

    def _icc(self) -> bytes | None:
        count = len(self.icc_parts)
        if not count or self.icc_size > _MAX_ICC or set(self.icc_parts) != set(range(1, count + 1)):
            return None
        return icc.rebuild(b"".join(self.icc_parts[i] for i in range(1, count + 1)))


def _scans(reader: Reader, out: BinaryIO) -> None:
    """Copy scans (and the tables between them) up to EOI; drop anything else, and after EOI."""
    marker = SOS
    while True:
        if marker == EOI:
            out.write(b"\xff\xd9")
            return
        if 0xD0 <= marker <= 0xD7:  # a restart marker outside a scan: keep it, it has no body
            out.write(bytes([0xFF, marker]))
        else:
            payload = reader.read(_length(reader))
            if marker in _KEPT or marker in (SOS, DNL):
                out.write(_segment(marker, payload))
            elif marker in _SOF_KEPT or marker in _SOF_REFUSED or marker == SOI:
                raise InvalidImage("The JPEG file holds more than one image.")
        if marker == SOS:
            reader.copy_until(_MARKER, out, keep=1)
        marker = _marker(reader)
