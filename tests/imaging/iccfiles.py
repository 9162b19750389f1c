"""ICC profiles written by hand for tests: matrix/TRC RGB, gray, and private-tag payloads."""

from __future__ import annotations

import struct

from PIL import ImageCms

D50 = (0.9642, 1.0, 0.8249)
D65 = (0.9505, 1.0, 1.0891)
# D50-adapted (Bradford) colorants, as Apple's and Adobe's profiles carry them.
P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
ADOBE = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))
WIDE = ((0.7000, 0.2500, 0.0000), (0.1600, 0.7300, 0.0500), (0.1000, 0.0200, 0.7700))
SRGB_PARA = (3, 2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


def s15(value: float) -> int:
    return round(value * 65536)


def xyz(values: tuple[float, ...]) -> bytes:
    return b"XYZ \0\0\0\0" + struct.pack(">3i", *(s15(v) for v in values))


def para(kind: int, *params: float) -> bytes:
    return b"para\0\0\0\0" + struct.pack(f">H2x{len(params)}i", kind, *(s15(p) for p in params))


def curv(points: list[int]) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(f">I{len(points)}H", len(points), *points)


def gamma(value: float) -> bytes:
    return curv([round(value * 256)])


def profile(space: bytes, tags: list[tuple[bytes, bytes]], device_class: bytes = b"mntr") -> bytes:
    """Return an ICC profile with these tags (not deduplicated, 4-byte aligned)."""
    start = 132 + 12 * len(tags)
    table, data = b"", b""
    for sig, blob in tags:
        table += struct.pack(">4sII", sig, start + len(data), len(blob))
        data += blob + b"\0" * (-len(blob) % 4)
    size = start + len(data)
    header = struct.pack(
        ">I4sI4s4s4s12x4s", size, b"test", 0x02100000, device_class, space, b"XYZ ", b"acsp"
    )
    header += b"\0" * (68 - len(header)) + struct.pack(">3i", *(s15(v) for v in D50))
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def matrix_profile(
    colorants: tuple[tuple[float, float, float], ...],
    trc: bytes,
    *,
    white: tuple[float, float, float] = D50,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> bytes:
    """Return an RGB matrix/TRC display profile with a text desc and optional extra tags."""
    desc = b"desc\0\0\0\0" + struct.pack(">I", 5) + b"Test\0" + b"\0" * 78
    tags = [(b"desc", desc), (b"wtpt", xyz(white))]
    tags += [(sig, xyz(c)) for sig, c in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)]
    tags += [(b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    return profile(b"RGB ", tags + (extra or []))


def display_p3(extra: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """Return a Display P3 profile (P3 primaries, D65 white, sRGB curve)."""
    return matrix_profile(P3, para(*SRGB_PARA), extra=extra)


def with_private_tag(icc: bytes, payload: bytes, sig: bytes = b"priv") -> bytes:
    """Return ``icc`` with one more tag holding ``payload`` (offsets shifted for the new entry)."""
    (count,) = struct.unpack_from(">I", icc, 128)
    entries = [struct.unpack_from(">4sII", icc, 132 + 12 * i) for i in range(count)]
    body = icc[132 + 12 * count :]
    table = b"".join(struct.pack(">4sII", s, o + 12, n) for s, o, n in entries)
    table += struct.pack(">4sII", sig, len(icc) + 12, len(payload))
    size = len(icc) + 12 + len(payload)
    return (
        struct.pack(">I", size) + icc[4:128] + struct.pack(">I", count + 1) + table + body + payload
    )


def srgb() -> bytes:
    """Return LittleCMS's built-in sRGB profile (v4, parametric curves)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


MARKER = b"PICBUCKET-ICC-MARKER-"


def p3_with_payload() -> bytes:
    """Return Display P3 carrying 200 KB of marker bytes in a private tag."""
    return with_private_tag(display_p3(), MARKER * (200_000 // len(MARKER)))
