"""Rewrite a WebP chunk by chunk: bitstreams, alpha and animation kept; metadata dropped.

VP8/VP8L/ALPH data is copied as is: one bitstream and at most one ALPH per image or
frame. Two ALPH chunks before a bitstream are refused (which one a decoder uses is
not ours to guess), and so is an ALPH before a VP8L (which carries its own alpha;
libwebp refuses the pair). An ALPH after the bitstream is dropped, as are repeats of
VP8X, ICCP, EXIF, ANIM and the bitstream.
XMP and unknown chunks and bytes after the RIFF payload are not written; EXIF is
read for orientation and replaced by an orientation-only EXIF chunk; ICCP is rebuilt
or dropped. VP8X flags and every size are recomputed, by seeking back in ``out``
once the chunks after them are written.

Residual risk: bytes appended inside a bitstream (after the last VP8 partition's
coded data, or inside a compressed ALPH or VP8L stream past its end) are only found
by decoding it; they are copied, as any lossless rewriter copies them.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from picbucket.domain import InvalidImage
from picbucket.imaging import icc
from picbucket.imaging._io import Budget, Reader, check_size
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.exif import orientation_only, read_exif

_ICC, _ALPHA, _EXIF, _ANIMATION = 0x20, 0x10, 0x08, 0x02
_MAX_META = 4 << 20  # ICCP and EXIF larger than this are dropped unread
_BITSTREAMS = (b"VP8 ", b"VP8L")


class _State:
    def __init__(self, reader: Reader, out: BinaryIO, limits: Limits) -> None:
        self.reader, self.out, self.budget = reader, out, Budget(limits)
        self.canvas = (0, 0)
        self.flags = 0
        self.exif: bytes | None = None
        self.orientation = 1
        self.icc_kept = False
        self.animated = False
        self.still: Frame | None = None
        self.alpha_at: int | None = None  # where the still image's ALPH starts in out


def rewrite(source: BinaryIO, out: BinaryIO, limits: Limits) -> Parsed:
    """Write a clean copy of the WebP ``source`` to ``out``; raise InvalidImage or TooLarge."""
    check_size(source, limits)
    reader = Reader(source, "WebP")
    riff, size, form = struct.unpack("<4sI4s", reader.read(12))
    if riff != b"RIFF" or form != b"WEBP" or size < 12:
        raise InvalidImage("The file is not a WebP image.")
    end = 8 + size
    state = _State(reader, out, limits)
    start = out.tell()
    out.write(b"RIFF\0\0\0\0WEBP")
    kind, length = _chunk_header(reader)
    if kind in _BITSTREAMS:  # simple format: one bitstream, nothing else is read
        width, height = _copy_bitstream(state, kind, length)
        state.budget.canvas(width, height)
        state.budget.add(Frame(width, height))
        state.canvas = (width, height)
    elif kind == b"VP8X" and length == 10:
        _extended(state, reader.read(10), end)
    else:
        raise InvalidImage("The WebP file is damaged (it does not start with an image chunk).")
    _patch(out, start + 4, struct.pack("<I", out.tell() - start - 8))
    return Parsed(
        "WEBP", *state.canvas, state.budget.frames, state.orientation, state.exif, state.icc_kept
    )


def _chunk_header(reader: Reader) -> tuple[bytes, int]:
    kind, length = struct.unpack("<4sI", reader.read(8))
    return kind, length


def _extended(state: _State, header: bytes, end: int) -> None:
    reader, out = state.reader, state.out
    source_flags = header[0]
    width = 1 + int.from_bytes(header[4:7], "little")
    height = 1 + int.from_bytes(header[7:10], "little")
    state.budget.canvas(width, height)
    state.canvas = (width, height)
    flags_at = out.tell() + 8
    out.write(b"VP8X" + struct.pack("<I", 10) + header)
    state.flags = source_flags & _ALPHA
    while reader.offset < end:
        kind, length = _chunk_header(reader)
        padded = length + (length & 1)
        if reader.offset + padded > end:
            raise InvalidImage("The WebP file is damaged (a chunk runs past its end).")
        if kind == b"ICCP" and length <= _MAX_META and not state.icc_kept:
            profile = icc.rebuild(reader.read(padded)[:length])
            if profile is not None:
                _write_chunk(out, b"ICCP", profile)
                state.icc_kept, state.flags = True, state.flags | _ICC
        elif kind == b"EXIF" and length <= _MAX_META and state.exif is None:
            state.exif = reader.read(padded)[:length]
            state.orientation = read_exif(state.exif).orientation
        elif kind == b"ANIM" and length == 6 and not state.animated and state.alpha_at is None:
            _write_chunk(out, b"ANIM", reader.read(padded)[:6])
            state.animated, state.flags = True, state.flags | _ANIMATION
        elif kind == b"ANMF" and state.animated and length >= 16:
            _frame(state, length, padded)
        elif kind in (*_BITSTREAMS, b"ALPH") and not state.animated and state.still is None:
            if kind == b"ALPH":
                _one_alpha(state.alpha_at)
                state.alpha_at = out.tell()
                _copy_chunk(state, kind, length)
                continue
            if state.alpha_at is not None:
                _alpha_before(kind)
                state.flags |= _ALPHA
            size = _copy_bitstream(state, kind, length)
            if size != state.canvas:
                raise InvalidImage("The WebP image does not match its canvas size.")
            state.still = Frame(*size)
            state.budget.add(state.still)
        else:
            reader.skip(padded)  # XMP, unknown chunks, duplicates
    if not state.budget.frames:
        raise InvalidImage("The WebP file has no image data.")
    if state.orientation != 1:
        _write_chunk(out, b"EXIF", orientation_only(state.orientation))
        state.flags |= _EXIF
    _patch(out, flags_at, bytes([state.flags]))


def _frame(state: _State, length: int, padded: int) -> None:
    """Check one ANMF rectangle, then copy its ALPH/VP8/VP8L sub-chunks (size recomputed)."""
    reader, out = state.reader, state.out
    header = reader.read(16)
    x, y = 2 * int.from_bytes(header[0:3], "little"), 2 * int.from_bytes(header[3:6], "little")
    width, height = (
        1 + int.from_bytes(header[6:9], "little"),
        1 + int.from_bytes(header[9:12], "little"),
    )
    if x + width > state.canvas[0] or y + height > state.canvas[1]:
        raise InvalidImage("A frame of the animated WebP lies outside the image.")
    state.budget.add(Frame(width, height, x, y))
    start = out.tell()
    out.write(b"ANMF\0\0\0\0" + header)
    stop = reader.offset + padded - 16
    seen = None
    alpha_at = None
    while reader.offset < stop:
        kind, sub_length = _chunk_header(reader)
        if reader.offset + sub_length + (sub_length & 1) > stop:
            raise InvalidImage("The animated WebP is damaged (a frame chunk runs past its end).")
        if kind == b"ALPH" and seen is None:
            _one_alpha(alpha_at)
            alpha_at = out.tell()
            _copy_chunk(state, kind, sub_length)
        elif kind in _BITSTREAMS and seen is None:
            if alpha_at is not None:
                _alpha_before(kind)
                state.flags |= _ALPHA
            seen = _copy_bitstream(state, kind, sub_length)
            if seen != (width, height):
                raise InvalidImage("A frame of the animated WebP does not match its header.")
        else:
            reader.skip(sub_length + (sub_length & 1))
    if seen is None:
        raise InvalidImage("A frame of the animated WebP has no image data.")
    _patch(out, start + 4, struct.pack("<I", out.tell() - start - 8))


def _one_alpha(written_at: int | None) -> None:
    """Refuse a second ALPH chunk for one image: one of the two would carry other data."""
    if written_at is not None:
        raise InvalidImage("The WebP file is damaged (an image has two alpha chunks).")


def _alpha_before(kind: bytes) -> None:
    """Refuse an ALPH chunk before a VP8L bitstream, as libwebp does."""
    if kind == b"VP8L":
        raise InvalidImage("The WebP file is damaged (an alpha chunk before a lossless image).")


def _copy_bitstream(state: _State, kind: bytes, length: int) -> tuple[int, int]:
    """Copy a VP8/VP8L chunk and return the size its bitstream header declares."""
    head = state.reader.read(min(length, 10))
    if kind == b"VP8 ":
        if len(head) < 10 or head[0] & 1 or head[3:6] != b"\x9d\x01\x2a":
            raise InvalidImage("The WebP image data is damaged (not a VP8 key frame).")
        width, height = (v & 0x3FFF for v in struct.unpack_from("<HH", head, 6))
    else:
        if len(head) < 5 or head[0] != 0x2F:
            raise InvalidImage("The WebP image data is damaged (not a VP8L bitstream).")
        bits = int.from_bytes(head[1:5], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    state.out.write(kind + struct.pack("<I", length) + head)
    _copy_rest(state, length, len(head))
    return width, height


def _copy_chunk(state: _State, kind: bytes, length: int) -> None:
    state.out.write(kind + struct.pack("<I", length))
    _copy_rest(state, length, 0)


def _copy_rest(state: _State, length: int, done: int) -> None:
    state.reader.copy(length - done, state.out)
    if length & 1:
        state.reader.read(1)
        state.out.write(b"\0")


def _write_chunk(out: BinaryIO, kind: bytes, data: bytes) -> None:
    out.write(kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1))


def _patch(out: BinaryIO, at: int, data: bytes) -> None:
    """Overwrite bytes already written at ``at`` and return to the end."""
    end = out.tell()
    out.seek(at)
    out.write(data)
    out.seek(end)
