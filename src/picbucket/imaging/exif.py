"""Read the two EXIF facts Picbucket keeps (orientation, date taken); write orientation-only EXIF.

The parser is deliberately small and bounded: it reads IFD0 and the Exif IFD only,
never follows an offset outside the buffer, caps entry counts, and never raises on
garbage (the facts then default to "upright, date unknown").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

ORIENTATION = 0x0112
DATE_TIME = 0x0132
EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL = 0x9003
DATE_TIME_DIGITIZED = 0x9004
OFFSET_TIME_ORIGINAL = 0x9011
OFFSET_TIME_DIGITIZED = 0x9012

_MAX_ENTRIES = 512  # real cameras write well under 100 per IFD
_ASCII, _SHORT, _LONG, _IFD = 2, 3, 4, 13


@dataclass(frozen=True)
class ExifFacts:
    """What Picbucket keeps from EXIF: how to turn the image upright, and when it was taken."""

    orientation: int
    taken_at: datetime | None


def read_exif(tiff: bytes) -> ExifFacts:
    """Return the orientation (1..8, else 1) and capture time (aware, UTC) of a TIFF EXIF payload.

    A time without an OffsetTime* tag is a camera's wall-clock time in an unknown zone;
    it is treated as UTC, so it may be off by the photographer's UTC offset.
    """
    try:
        return _read(tiff)
    except (struct.error, ValueError, IndexError, OverflowError):
        return ExifFacts(1, None)


def orientation_only(orientation: int) -> bytes:
    """Return a minimal big-endian TIFF payload whose IFD0 holds only Orientation."""
    if not 1 <= orientation <= 8:
        raise ValueError(f"orientation must be 1..8, not {orientation}")
    entry = struct.pack(">HHIHH", ORIENTATION, _SHORT, 1, orientation, 0)
    return b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)


def _read(tiff: bytes) -> ExifFacts:
    if tiff.startswith(b"Exif\0\0"):
        tiff = tiff[6:]
    if tiff[:4] == b"II*\0":
        order = "<"
    elif tiff[:4] == b"MM\0*":
        order = ">"
    else:
        return ExifFacts(1, None)
    (ifd0_offset,) = struct.unpack_from(order + "I", tiff, 4)
    ifd0 = _entries(tiff, order, ifd0_offset)
    orientation = _short(tiff, order, ifd0.get(ORIENTATION))
    if orientation is None or not 1 <= orientation <= 8:
        orientation = 1
    exif: dict[int, tuple[int, int, bytes]] = {}
    pointer = ifd0.get(EXIF_IFD)
    if pointer is not None and pointer[0] in (_LONG, _IFD):
        (exif_offset,) = struct.unpack_from(order + "I", pointer[2])
        if exif_offset != ifd0_offset:
            exif = _entries(tiff, order, exif_offset)
    taken = None
    for date_ifd, date_tag, offset_tag in (
        (exif, DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL),
        (exif, DATE_TIME_DIGITIZED, OFFSET_TIME_DIGITIZED),
        (ifd0, DATE_TIME, None),
    ):
        stamp = _ascii(tiff, date_ifd.get(date_tag))
        offset = _ascii(tiff, date_ifd.get(offset_tag)) if offset_tag else None
        taken = _parse_time(stamp, offset)
        if taken is not None:
            break
    return ExifFacts(orientation, taken)


def _entries(tiff: bytes, order: str, offset: int) -> dict[int, tuple[int, int, bytes]]:
    """Return tag -> (type, count, 4-byte value field) for the IFD at ``offset``."""
    if offset < 8 or offset + 2 > len(tiff):
        return {}
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    count = min(count, _MAX_ENTRIES, (len(tiff) - offset - 2) // 12)
    entries: dict[int, tuple[int, int, bytes]] = {}
    for i in range(count):
        start = offset + 2 + 12 * i
        tag, kind, n = struct.unpack_from(order + "HHI", tiff, start)
        entries.setdefault(tag, (kind, n, tiff[start + 8 : start + 12]))
    return entries


def _short(tiff: bytes, order: str, entry: tuple[int, int, bytes] | None) -> int | None:
    if entry is None or entry[1] < 1:
        return None
    kind, _, field = entry
    if kind == _SHORT:
        return int(struct.unpack_from(order + "H", field)[0])
    if kind == _LONG:
        return int(struct.unpack_from(order + "I", field)[0])
    return None


def _ascii(tiff: bytes, entry: tuple[int, int, bytes] | None) -> str | None:
    """Return an ASCII value, reading at most 64 bytes, or None if it lies outside the buffer."""
    if entry is None or entry[0] != _ASCII or not 0 < entry[1] <= 64:
        return None
    _, n, field = entry
    order = ">" if tiff[:2] == b"MM" else "<"
    if n <= 4:
        raw = field[:n]
    else:
        (at,) = struct.unpack_from(order + "I", field)
        if at + n > len(tiff):
            return None
        raw = tiff[at : at + n]
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def _parse_time(stamp: str | None, offset: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        wall = datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone: timezone = UTC
    if offset and len(offset) == 6 and offset[0] in "+-" and offset[3] == ":":
        try:
            hours, minutes = int(offset[1:3]), int(offset[4:6])
        except ValueError:
            hours = minutes = 0
        sign = -1 if offset[0] == "-" else 1
        if hours <= 14 and minutes < 60:
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return wall.replace(tzinfo=zone).astimezone(UTC)
