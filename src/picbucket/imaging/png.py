"""Rewrite a PNG or APNG chunk by chunk: image and colour chunks kept, metadata dropped.

IDAT/fdAT data is copied as is (CRC-checked on the way) and inflated on the way,
output discarded: the default image and each APNG frame must be one zlib stream that
inflates to exactly its scanlines. Bytes after a stream's end (in the chunk, or in
further fdAT chunks) are refused, further IDAT chunks are dropped, so image data cannot
carry a hidden payload. Text, time, eXIf, private and unknown ancillary chunks and
bytes after IEND are not written; eXIf is read for orientation and replaced by an
orientation-only eXIf; iCCP is rebuilt or dropped.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO, cast

from isal import isal_zlib

from picbucket.domain import InvalidImage
from picbucket.imaging import icc
from picbucket.imaging._io import CHUNK, Budget, Reader, check_size
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.exif import orientation_only, read_exif

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary chunks a decoder uses for colour, with their largest valid size.
_COLOUR = {b"gAMA": 4, b"cHRM": 32, b"sRGB": 1, b"sBIT": 4, b"cICP": 4}
_SMALL = {b"IHDR": 13, b"PLTE": 768, b"tRNS": 256, b"acTL": 8, b"fcTL": 26, b"IEND": 0}
_MAX_ICCP = 4 << 20  # compressed and decompressed
_MAX_EXIF = 1 << 20
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
# isal's stub declares its error class as an instance: say what it is.
_INFLATE_ERRORS = (zlib.error, cast(type[Exception], isal_zlib.error))
_INFLATE_STEP = 1 << 18  # inflated bytes held at once; each step is counted, then dropped


def chunk(kind: bytes, data: bytes) -> bytes:
    """Return one serialised PNG chunk."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class _State:
    def __init__(self, limits: Limits) -> None:
        self.budget = Budget(limits)
        self.width = self.height = 0
        self.exif: bytes | None = None
        self.orientation = 1
        self.orientation_written = False
        self.icc_kept = False
        self.animated = False
        self.frames_declared = 0
        self.sequence = 0
        self.idat = "before"  # "before", "in", "after": IDAT chunks must be contiguous
        self.default_is_frame = False
        self.bits = 0  # bits per pixel
        self.interlaced = False
        self.stream: _Stream | None = None  # the zlib stream of the current image or frame


class _Stream:
    """Inflate one image's data as it is copied, keeping only a count of the output."""

    def __init__(self, expected: int) -> None:
        # ISA-L inflates a 4K screenshot's 25 MB of scanlines in 11 ms; zlib takes 55 ms.
        self.inflater = isal_zlib.decompressobj()
        self.expected, self.inflated = expected, 0

    def feed(self, data: bytes) -> None:
        """Inflate ``data``; refuse output past the scanlines and bytes after the end."""
        try:
            while not self.inflater.eof:
                room = min(_INFLATE_STEP, self.expected - self.inflated + 1)
                produced = len(self.inflater.decompress(data, room))
                self.inflated += produced
                if self.inflated > self.expected:
                    raise InvalidImage("The PNG file is damaged (too much image data).")
                data = self.inflater.unconsumed_tail
                # ISA-L may hold input it took in but has not inflated yet: go on while
                # the output filled its room.
                if not data and produced < room:
                    break
        except _INFLATE_ERRORS as error:
            raise InvalidImage("The PNG file is damaged (its image data is corrupt).") from error
        if data or self.inflater.unused_data:
            raise InvalidImage("The PNG file has data after the end of its image data.")

    def finish(self) -> None:
        """Refuse a stream that stopped short of its end or of its scanlines."""
        if not self.inflater.eof or self.inflated != self.expected:
            raise InvalidImage("The PNG file is damaged (its image data is cut short).")


def _scanline_bytes(width: int, height: int, bits: int, interlaced: bool) -> int:
    """Return the inflated size of an image: each row is a filter byte plus its pixels."""
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total


def _start_stream(state: _State, width: int, height: int) -> None:
    """End the previous image's stream and expect a new one of ``width`` x ``height``."""
    if state.stream is not None:
        state.stream.finish()
    state.stream = _Stream(_scanline_bytes(width, height, state.bits, state.interlaced))


def rewrite(source: BinaryIO, out: BinaryIO, limits: Limits) -> Parsed:
    """Write a clean copy of the PNG/APNG ``source`` to ``out``; raise InvalidImage or TooLarge."""
    check_size(source, limits)
    reader = Reader(source, "PNG")
    if reader.read(8) != SIGNATURE:
        raise InvalidImage("The file is not a PNG image.")
    state = _State(limits)
    out.write(SIGNATURE)
    first = True
    while True:
        length, kind = struct.unpack(">I4s", reader.read(8))
        if length > 0x7FFFFFFF:
            raise InvalidImage("The PNG file is damaged (a chunk length is invalid).")
        if first != (kind == b"IHDR"):
            raise InvalidImage("The PNG file is damaged (IHDR is not the first chunk).")
        first = False
        if state.idat == "in" and kind != b"IDAT":
            state.idat = "after"
        if kind in (b"IDAT", b"fdAT"):
            _image_data(reader, out, state, kind, length)
            continue
        if kind in _SMALL or kind in _COLOUR or kind in (b"iCCP", b"eXIf"):
            cap = _SMALL.get(kind, _COLOUR.get(kind, _MAX_ICCP if kind == b"iCCP" else _MAX_EXIF))
            if length > cap:
                if kind in _SMALL:
                    raise InvalidImage(f"The PNG file is damaged ({kind.decode()} is too long).")
                reader.skip(length + 4)
                continue
            data, crc = reader.read(length), reader.read(4)
            if struct.unpack(">I", crc)[0] != zlib.crc32(kind + data):
                if kind in _SMALL:
                    raise InvalidImage("The PNG file is damaged (a chunk checksum does not match).")
                continue  # a damaged colour or metadata chunk: a decoder would ignore it too
            if kind == b"IEND":
                if state.stream is not None:
                    state.stream.finish()
                _write_orientation(out, state)
                out.write(chunk(b"IEND", b""))
                break
            _small(out, state, kind, data)
        elif kind[0] & 0x20 == 0:  # an unknown critical chunk: decoders must refuse it
            raise InvalidImage(f"The PNG file uses an unsupported chunk ({kind!r}).")
        else:
            reader.skip(length + 4)  # text, time, private and unknown ancillary chunks
    if state.idat == "before":
        raise InvalidImage("The PNG file has no image data.")
    expected = state.frames_declared + (0 if state.default_is_frame else 1)
    if state.animated and len(state.budget.frames) != expected:
        raise InvalidImage("The animated PNG has a different number of frames than it declares.")
    frames = state.budget.frames if state.animated else [Frame(state.width, state.height)]
    return Parsed(
        "PNG", state.width, state.height, frames, state.orientation, state.exif, state.icc_kept
    )


def _small(out: BinaryIO, state: _State, kind: bytes, data: bytes) -> None:
    if kind == b"IHDR":
        if len(data) != 13:
            raise InvalidImage("The PNG header is invalid.")
        state.width, state.height, depth, colour, compression, filtering, interlace = struct.unpack(
            ">IIBBBBB", data
        )
        if depth not in _DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
            raise InvalidImage("The PNG header is invalid.")
        state.bits, state.interlaced = depth * _CHANNELS[colour], interlace == 1
        state.budget.canvas(state.width, state.height)
        state.budget.total += state.width * state.height  # the default image is decoded too
    elif kind == b"eXIf":
        if state.exif is None:
            state.exif = data
            state.orientation = read_exif(data).orientation
        return
    elif kind == b"iCCP":
        rebuilt = _iccp(data)
        if rebuilt is None:
            return
        data, state.icc_kept = rebuilt, True
    elif kind == b"acTL":
        if state.idat != "before" or len(data) != 8:
            return  # an acTL after the image data is not an animation
        state.frames_declared = struct.unpack(">I", data[:4])[0]
        state.budget.declare(state.frames_declared)
        state.animated = state.frames_declared > 0
        if not state.animated:
            return
    elif kind == b"fcTL":
        if not state.animated:
            return
        if state.idat == "before":
            _write_orientation(out, state)
        _frame_control(state, data)
        if state.idat != "before":  # the fdAT chunks that follow are this frame's stream
            _start_stream(state, *struct.unpack(">II", data[4:12]))
    out.write(chunk(kind, data))


def _iccp(data: bytes) -> bytes | None:
    """Return a rebuilt iCCP chunk body, or None to drop the profile."""
    name_end = data.find(b"\0", 0, 80)
    if name_end < 1 or data[name_end + 1 : name_end + 2] != b"\0":
        return None
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(data[name_end + 2 :], _MAX_ICCP)
    except zlib.error:
        return None
    if inflater.unconsumed_tail:
        return None
    rebuilt = icc.rebuild(profile)
    return None if rebuilt is None else b"ICC profile\0\0" + zlib.compress(rebuilt, 9)


def _frame_control(state: _State, data: bytes) -> None:
    if len(data) != 26:
        raise InvalidImage("The animated PNG has a damaged frame header.")
    sequence, width, height, x, y = struct.unpack(">5I", data[:20])
    _sequence(state, sequence)
    if x + width > state.width or y + height > state.height:
        raise InvalidImage("A frame of the animated PNG lies outside the image.")
    if state.idat == "before":
        state.default_is_frame = True
        if (width, height, x, y) != (state.width, state.height, 0, 0):
            raise InvalidImage("The first frame of the animated PNG does not fill the image.")
        state.budget.total -= width * height  # counted once, as a frame
    state.budget.add(Frame(width, height, x, y))


def _sequence(state: _State, number: int) -> None:
    if number != state.sequence:
        raise InvalidImage("The animated PNG's frames are out of order.")
    state.sequence += 1


def _image_data(reader: Reader, out: BinaryIO, state: _State, kind: bytes, length: int) -> None:
    """Copy one IDAT/fdAT chunk through, checking its CRC and where it stands."""
    if kind == b"IDAT":
        if state.idat == "after" or not state.width:
            raise InvalidImage("The PNG file is damaged (its image data is split).")
        if state.stream is not None and state.stream.inflater.eof:
            reader.skip(length + 4)  # after the end of the image data: not written
            return
        _write_orientation(out, state)
        if state.idat == "before":
            _start_stream(state, state.width, state.height)
        if state.idat == "before" and state.animated and not state.default_is_frame:
            # A default image outside the animation: Pillow shows it as frame 0.
            state.budget.total -= state.width * state.height
            state.budget.add(Frame(state.width, state.height))
        state.idat = "in"
    else:
        if not state.animated or state.idat == "before" or length < 4:
            reader.skip(length + 4)
            return
        head = reader.read(4)
        _sequence(state, struct.unpack(">I", head)[0])
    out.write(struct.pack(">I", length) + kind)
    crc = zlib.crc32(kind)
    if kind == b"fdAT":
        out.write(head)
        crc, length = zlib.crc32(head, crc), length - 4
    stream = state.stream
    if stream is None:
        raise InvalidImage("The animated PNG is damaged (frame data before its frame header).")
    problem = None  # reported after the checksum: a damaged chunk says so first
    while length:
        piece = reader.read(min(length, CHUNK))
        crc = zlib.crc32(piece, crc)
        if problem is None:
            try:
                stream.feed(piece)
            except InvalidImage as error:
                problem = error
        out.write(piece)
        length -= len(piece)
    if reader.read(4) != struct.pack(">I", crc):
        raise InvalidImage("The PNG file is damaged (an image data checksum does not match).")
    if problem is not None:
        raise problem
    out.write(struct.pack(">I", crc))


def _write_orientation(out: BinaryIO, state: _State) -> None:
    """Write the orientation-only eXIf once: before the image data, or before IEND if seen late."""
    if state.orientation != 1 and not state.orientation_written:
        out.write(chunk(b"eXIf", orientation_only(state.orientation)))
        state.orientation_written = True
