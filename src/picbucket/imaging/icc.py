"""Rebuild an ICC profile from its colorimetry alone, so nothing else in it reaches storage.

Only matrix/TRC RGB profiles and gray TRC profiles are understood: their white point,
colorants, adaptation matrix and tone curves are re-serialised into a new minimal
profile (v2, or v4 when a parametric curve needs it). Everything else returns None
and the caller drops the profile: the image then displays as sRGB.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

_MAX_TAGS = 200
_MAX_CURVE_POINTS = 4096
_PARA_PARAMS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}
_D50 = (0xF6D6, 0x10000, 0xD32D)  # s15Fixed16 PCS illuminant
_RGB_TAGS = (b"wtpt", b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC")
_COPYRIGHT = "No copyright, use freely"

Curve = tuple[str, tuple[int, ...]]  # ("curv", uint16 points) or ("para", (type, *s15Fixed16))

# D50-adapted colorants (Bradford) and tone curve of the profiles we name.
_SRGB_CURVE: Curve = ("para", (3, 0x26666, 0xF2A7, 0x0D59, 0x13D0, 0x0A5B))
_KNOWN: list[tuple[str, tuple[tuple[float, float, float], ...], Curve]] = [
    (
        "sRGB",
        ((0.4360, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1430, 0.0606, 0.7139)),
        _SRGB_CURVE,
    ),
    (
        "Display P3",
        ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841)),
        _SRGB_CURVE,
    ),
    (
        "Adobe RGB (1998)",
        ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)),
        ("curv", (0x0233,)),
    ),
]
_WHITES = ((0.9642, 1.0, 0.8249), (0.9505, 1.0, 1.0891))  # D50 (v4 style) or D65 (v2 style)


# Bradford adaptation from D65 (Display P3's white) to the D50 PCS, as in Apple's profile.
_D65_TO_D50 = (
    (1.0479, 0.0229, -0.0502),
    (0.0296, 0.9904, -0.0171),
    (-0.0092, 0.0151, 0.7519),
)


class _Malformed(Exception):
    pass


def display_p3() -> bytes:
    """Return the canonical Display P3 profile, for images that name P3 without a profile.

    Built with the same writer as ``rebuild`` from the published colorimetry (D50
    white, P3 colorants adapted to D50, the sRGB tone curve), so ``rebuild`` of it
    returns the same bytes and it carries nothing but colour.
    """
    name, colorants, curve = _KNOWN[1]
    fixed = [tuple(round(v * 65536) for v in xyz) for xyz in (_WHITES[0], *colorants)]
    chad = [round(v * 65536) for row in _D65_TO_D50 for v in row]
    tags = [(b"desc", _text(name, True, desc=True)), (b"cprt", _text(_COPYRIGHT, True))]
    tags += [
        (sig, _xyz(xyz))
        for sig, xyz in zip((b"wtpt", b"rXYZ", b"gXYZ", b"bXYZ"), fixed, strict=True)
    ]
    tags += [(sig, _curve_bytes(curve)) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    tags.append((b"chad", b"sf32" + b"\0" * 4 + struct.pack(">9i", *chad)))
    return _write(b"RGB ", True, tags)


def rebuild(profile: bytes) -> bytes | None:
    """Return a new minimal profile with the same colorimetry, or None if it cannot be kept."""
    try:
        return _rebuild(profile)
    except (_Malformed, struct.error, ValueError, ArithmeticError):
        return None  # ArithmeticError: absurd curve parameters overflow when evaluated


def _rebuild(profile: bytes) -> bytes | None:
    tags = _tag_table(profile)
    space = profile[16:20]
    if profile[12:16] not in (b"mntr", b"scnr", b"spac") or profile[20:24] != b"XYZ ":
        return None
    chad = _s15_array(tags[b"chad"], b"sf32", 9) if b"chad" in tags else None
    if space == b"RGB " and all(tag in tags for tag in _RGB_TAGS):
        white = _s15_array(tags[b"wtpt"], b"XYZ ", 3)
        colorants = [_s15_array(tags[t], b"XYZ ", 3) for t in (b"rXYZ", b"gXYZ", b"bXYZ")]
        curves = [_curve(tags[t]) for t in (b"rTRC", b"gTRC", b"bTRC")]
        name = _name(white, colorants, curves)
        body: list[tuple[bytes, bytes]] = [(b"wtpt", _xyz(white))]
        body += [
            (sig, _xyz(c)) for sig, c in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)
        ]
        body += [
            (sig, _curve_bytes(c))
            for sig, c in zip((b"rTRC", b"gTRC", b"bTRC"), curves, strict=True)
        ]
    elif space == b"GRAY" and b"kTRC" in tags and b"wtpt" in tags:
        white, curves = _s15_array(tags[b"wtpt"], b"XYZ ", 3), [_curve(tags[b"kTRC"])]
        name = "Picbucket Gray"
        body = [(b"wtpt", _xyz(white)), (b"kTRC", _curve_bytes(curves[0]))]
    else:
        return None
    if chad is not None:
        body.append((b"chad", b"sf32" + b"\0" * 4 + struct.pack(">9i", *chad)))
    v4 = any(kind == "para" for kind, _ in curves)
    return _write(
        space, v4, [(b"desc", _text(name, v4, desc=True)), (b"cprt", _text(_COPYRIGHT, v4)), *body]
    )


def _tag_table(profile: bytes) -> dict[bytes, bytes]:
    """Return each tag's bytes, checking the header, the table and every offset and size."""
    if len(profile) < 132 or profile[36:40] != b"acsp":
        raise _Malformed
    (size,) = struct.unpack_from(">I", profile, 0)
    if size < 132 or size > len(profile):
        raise _Malformed
    (count,) = struct.unpack_from(">I", profile, 128)
    if count > _MAX_TAGS or 132 + 12 * count > size:
        raise _Malformed
    tags: dict[bytes, bytes] = {}
    for i in range(count):
        sig, offset, length = struct.unpack_from(">4sII", profile, 132 + 12 * i)
        if offset < 128 or length < 8 or offset + length > size:
            raise _Malformed
        tags.setdefault(sig, profile[offset : offset + length])
    return tags


def _s15_array(data: bytes, kind: bytes, n: int) -> tuple[int, ...]:
    if data[:4] != kind or len(data) < 8 + 4 * n:
        raise _Malformed
    return struct.unpack_from(f">{n}i", data, 8)


def _curve(data: bytes) -> Curve:
    if data[:4] == b"curv":
        (n,) = struct.unpack_from(">I", data, 8)
        if n > _MAX_CURVE_POINTS or len(data) < 12 + 2 * n:
            raise _Malformed
        return ("curv", struct.unpack_from(f">{n}H", data, 12))
    if data[:4] == b"para":
        (kind,) = struct.unpack_from(">H", data, 8)
        if kind not in _PARA_PARAMS or len(data) < 12 + 4 * _PARA_PARAMS[kind]:
            raise _Malformed
        return ("para", (kind, *struct.unpack_from(f">{_PARA_PARAMS[kind]}i", data, 12)))
    raise _Malformed


def _curve_bytes(curve: Curve) -> bytes:
    kind, values = curve
    if kind == "curv":
        return b"curv" + struct.pack(f">4xI{len(values)}H", len(values), *values)
    return b"para" + struct.pack(f">4xH2x{len(values) - 1}i", *values)


def _xyz(values: tuple[int, ...]) -> bytes:
    return b"XYZ " + struct.pack(">4x3i", *values)


def _text(text: str, v4: bool, *, desc: bool = False) -> bytes:
    if v4:  # multiLocalizedUnicodeType, one en-US record
        utf16 = text.encode("utf-16-be")
        return b"mluc" + struct.pack(">4xII2s2sII", 1, 12, b"en", b"US", len(utf16), 28) + utf16
    ascii_z = text.encode("ascii") + b"\0"
    if not desc:
        return b"text" + b"\0" * 4 + ascii_z
    # textDescriptionType: ASCII, then empty Unicode and ScriptCode parts.
    return b"desc" + struct.pack(">4xI", len(ascii_z)) + ascii_z + b"\0" * (4 + 4 + 2 + 1 + 67)


def _write(space: bytes, v4: bool, tags: list[tuple[bytes, bytes]]) -> bytes:
    """Serialise header + tag table + 4-byte aligned tag data (identical curves shared)."""
    table, data = b"", b""
    start = 128 + 4 + 12 * len(tags)
    placed: dict[bytes, int] = {}
    for sig, blob in tags:
        if blob not in placed:
            placed[blob] = start + len(data)
            data += blob + b"\0" * (-len(blob) % 4)
        table += struct.pack(">4sII", sig, placed[blob], len(blob))
    size = start + len(data)
    header = struct.pack(
        ">I4sI4s4s4s6H4s",
        size,
        b"\0" * 4,
        0x04300000 if v4 else 0x02100000,
        b"mntr",
        space,
        b"XYZ ",
        *(2000, 1, 1, 0, 0, 0),
        b"acsp",
    )
    header += b"\0" * (68 - len(header)) + struct.pack(">3i", *_D50)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def _name(white: tuple[int, ...], colorants: list[tuple[int, ...]], curves: list[Curve]) -> str:
    """Name the profile after a well-known space whose colorimetry it matches, else generic."""

    def close(ours: tuple[int, ...], theirs: tuple[float, ...]) -> bool:
        return all(abs(a / 65536 - b) <= 0.002 for a, b in zip(ours, theirs, strict=True))

    if not any(close(white, w) for w in _WHITES):
        return "Picbucket RGB"
    for name, known_colorants, known_curve in _KNOWN:
        reference = _evaluate(known_curve)
        if all(close(c, k) for c, k in zip(colorants, known_colorants, strict=True)) and all(
            _same_curve(_evaluate(curve), reference) for curve in curves
        ):
            return name
    return "Picbucket RGB"


def _same_curve(a: Callable[[float], float], b: Callable[[float], float]) -> bool:
    return all(abs(a(i / 64) - b(i / 64)) <= 0.004 for i in range(65))


def _evaluate(curve: Curve) -> Callable[[float], float]:
    """Return the tone curve as a function on [0, 1]."""
    kind, values = curve
    if kind == "curv":
        if not values:
            return lambda x: x
        if len(values) == 1:
            return lambda x: float(x ** (values[0] / 256))
        last = len(values) - 1

        def table(x: float) -> float:
            at = x * last
            i = min(int(at), last - 1)
            return (values[i] + (values[i + 1] - values[i]) * (at - i)) / 65535

        return table
    g, a, b, c, d, e, f = [v / 65536 for v in values[1:]] + [0.0] * (8 - len(values))
    kind_no = values[0]

    def para(x: float) -> float:
        if kind_no == 0:
            return float(x**g)
        if kind_no in (1, 2):
            tail = c if kind_no == 2 else 0.0
            return float(max(a * x + b, 0.0) ** g) + tail if a and x >= -b / a else tail
        if x >= d:
            return float(max(a * x + b, 0.0) ** g) + (e if kind_no == 4 else 0.0)
        return c * x + (f if kind_no == 4 else 0.0)

    return para
