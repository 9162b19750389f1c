"""AVIF rewrite: identical pixels, no Exif/XMP/trailing bytes, colour and alpha kept, hostile files refused."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc

import iccfiles
import pytest
from PIL import Image, ImageOps

from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging import icc
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.isobmff import looks_like_avif, looks_like_heif, rewrite_avif

LIMITS = Limits(max_bytes=25_000_000, max_pixels=50_000_000, max_frames=100)
EXIF_MARK, XMP_MARK, TAIL_MARK = b"EXIF-SECRET-CAM", b"XMP-SECRET-GPS", b"TRAILING-SECRET"


def picture(mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Return a gradient with a blue marker block in the top-left corner."""
    img = Image.linear_gradient("L").resize(size).convert(mode)
    img.paste((0, 0, 255) + ((180,) if mode == "RGBA" else ()), (0, 0, size[0] // 4, size[1] // 4))
    return img


def avif(img: Image.Image, orientation: int | None = None, **options: object) -> bytes:
    """Return ``img`` as AVIF with an Exif (make + optional orientation) and an XMP packet."""
    exif = Image.Exif()
    exif[0x010F] = EXIF_MARK.decode()
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    xmp = b"<x:xmpmeta><rdf:Description>" + XMP_MARK + b"</rdf:Description></x:xmpmeta>"
    img.save(out, "AVIF", exif=exif.tobytes(), xmp=xmp, quality=90, **options)
    return out.getvalue()


def rewrite(data: bytes, limits: Limits = LIMITS) -> tuple[bytes, Parsed]:
    out = io.BytesIO()
    parsed = rewrite_avif(io.BytesIO(data), out, limits)
    return out.getvalue(), parsed


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.copy()


def test_rewrite_keeps_pixels_and_drops_exif_xmp_and_trailing_bytes() -> None:
    source = avif(picture()) + TAIL_MARK * 10
    clean, parsed = rewrite(source)
    assert decoded(clean).tobytes() == decoded(source).tobytes()
    for marker in (EXIF_MARK, XMP_MARK, TAIL_MARK, b"Exif", b"mime", b"application/rdf+xml"):
        assert marker in source
        assert marker not in clean
    assert not decoded(clean).getexif()
    assert parsed.format == "AVIF"
    assert (parsed.width, parsed.height, parsed.frames) == (96, 64, [Frame(96, 64)])
    assert parsed.exif is not None and EXIF_MARK in parsed.exif  # read for the date, not written
    assert len(clean) < len(source)


def test_alpha_survives_exactly() -> None:
    img = picture("RGBA")
    img.putalpha(Image.linear_gradient("L").resize(img.size).rotate(90))
    source = avif(img)
    clean, _ = rewrite(source)
    out = decoded(clean)
    assert out.mode == "RGBA"
    assert out.tobytes() == decoded(source).tobytes()
    assert out.getchannel("A").getextrema() == decoded(source).getchannel("A").getextrema()


def test_icc_profile_is_rebuilt_p3_stays_p3_and_private_payload_is_gone() -> None:
    source = avif(picture(), icc_profile=iccfiles.p3_with_payload())
    assert iccfiles.MARKER in source
    clean, parsed = rewrite(source)
    assert iccfiles.MARKER not in clean
    assert parsed.icc_kept
    assert decoded(clean).info["icc_profile"] == icc.rebuild(iccfiles.p3_with_payload())
    assert decoded(clean).tobytes() == decoded(source).tobytes()


def test_nclx_colour_is_kept_as_is() -> None:
    source = avif(picture())  # no ICC: libavif describes the colour with nclx
    nclx = source[source.index(b"nclx") : source.index(b"nclx") + 11]
    clean, parsed = rewrite(source)
    assert nclx in clean
    assert not parsed.icc_kept


@pytest.mark.parametrize("orientation", range(1, 9))
def test_irot_imir_are_kept_and_reported_as_exif_orientation(orientation: int) -> None:
    # Store the upright picture turned the other way, as a camera held sideways would.
    t = Image.Transpose
    undo = {2: t.FLIP_LEFT_RIGHT, 3: t.ROTATE_180, 4: t.FLIP_TOP_BOTTOM, 5: t.TRANSPOSE,
            6: t.ROTATE_90, 7: t.TRANSVERSE, 8: t.ROTATE_270}  # fmt: skip
    coded = picture().transpose(undo[orientation]) if orientation > 1 else picture()
    source = avif(coded, orientation=orientation)
    clean, parsed = rewrite(source)
    assert parsed.orientation == orientation
    # Pillow shows irot/imir as an EXIF orientation: it is the only EXIF field it sees.
    shown = decoded(clean)
    assert dict(shown.getexif()) == ({} if orientation == 1 else {0x0112: orientation})
    upright = ImageOps.exif_transpose(shown)
    assert upright.size == (96, 64)
    r, _, b = upright.convert("RGB").getpixel((4, 4))  # type: ignore[misc]
    assert b > 200 and r < 60, "the marker block must be top-left once displayed"


def test_claimed_100000_by_100000_is_refused_before_decoding() -> None:
    source = bytearray(avif(picture()))
    at = source.index(b"ispe") + 8
    source[at : at + 8] = struct.pack(">II", 100_000, 100_000)
    started = time.perf_counter()
    with pytest.raises(TooLarge, match=r"10000\.0 megapixels; the limit is 50 megapixels"):
        rewrite(bytes(source))
    assert time.perf_counter() - started < 0.1


def test_file_over_the_byte_limit_is_too_large() -> None:
    with pytest.raises(TooLarge):
        rewrite(avif(picture()), Limits(max_bytes=100, max_pixels=10**8, max_frames=1))


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage" * 50, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "truncated", "no-meta"],
)
def test_garbage_and_truncated_files_are_invalid(data: bytes | str) -> None:
    source = avif(picture())
    if data == "truncated":
        data = source[: len(source) // 2]
    elif data == "no-meta":
        data = source[: source.index(b"meta") - 4]
    assert isinstance(data, bytes)
    with pytest.raises(InvalidImage):
        rewrite(data)


def test_animated_avif_is_refused_clearly() -> None:
    frames = [Image.new("RGB", (32, 24), (i * 80, 90, 20)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "AVIF", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidImage, match="Animated AVIF is not supported yet"):
        rewrite(out.getvalue())


# Hand-built box trees for hostile cases.


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full(kind: bytes, payload: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def minimal(
    offset: int = 0,
    length: int = 4,
    ispe: tuple[int, int] = (16, 16),
    extra: bytes = b"",
    extents: int = 1,
) -> bytes:
    """Return a tiny AVIF-shaped file: one av01 item whose data is at ``offset``."""
    ipco = box(b"ipco", full(b"ispe", struct.pack(">II", *ispe)) + box(b"av1C", b"\x81\0\x0c\0"))
    ipma = full(b"ipma", struct.pack(">IHB", 1, 1, 2) + b"\x01\x82")
    infe = full(b"infe", struct.pack(">HH", 1, 0) + b"av01\0", version=2)

    def tree(at: int) -> bytes:
        locs = struct.pack(">HHHHHH", 0x4400, 1, 1, 0, 0, extents)
        iloc = full(b"iloc", locs + struct.pack(">II", at, length) * extents, 1)
        meta = full(b"meta", full(b"hdlr", b"\0" * 4 + b"pict" + b"\0" * 13)
                    + full(b"pitm", b"\0\1") + iloc + full(b"iinf", b"\0\1" + infe)
                    + box(b"iprp", ipco + ipma) + extra)  # fmt: skip
        return box(b"ftyp", b"avif\0\0\0\0avifmif1") + meta

    head = tree(0)
    return tree(offset or len(head) + 8) + box(b"mdat", b"\x12\0\x0a\0")


def test_minimal_hand_built_file_is_rewritten() -> None:
    clean, parsed = rewrite(minimal())
    assert (parsed.width, parsed.height) == (16, 16)
    assert clean.endswith(box(b"mdat", b"\x12\0\x0a\0"))
    assert looks_like_avif(clean) and not looks_like_heif(clean)


@pytest.mark.parametrize(
    "data",
    [
        minimal(offset=10**6),  # item data past the end of the file
        minimal(length=2**31),
        minimal()[:-12] + struct.pack(">I4s", 0xFFFFFFF0, b"mdat"),  # box bigger than the file
        minimal()[:-12] + struct.pack(">I4sQ", 1, b"mdat", 2**62),  # 64-bit largesize
        minimal(extra=box(b"iprp", box(b"ipco", box(b"ipco", box(b"ipco", box(b"ipco", b"")))))),
        minimal(extra=full(b"iinf", b"\xff\xff" + b"".join(  # a second item table, 5000 items long
            full(b"infe", struct.pack(">HH", n, 0) + b"av01\0", version=2) for n in range(2, 5000)))),
        minimal(extra=box(b"free", box(b"x", b"") * 1)[:-4]),  # a child box cut short
        minimal(ispe=(0, 16)),
    ],
)  # fmt: skip
def test_hostile_box_trees_are_invalid_quickly(data: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidImage):
        rewrite(data)
    assert time.perf_counter() - started < 0.5


def test_sniffers_read_the_ftyp_brands() -> None:
    heic = box(b"ftyp", b"heic\0\0\0\0mif1heic") + b"\0" * 16
    avis = box(b"ftyp", b"avis\0\0\0\0avifmif1") + b"\0" * 16
    assert looks_like_heif(heic) and not looks_like_avif(heic)
    assert looks_like_avif(avis) and not looks_like_heif(avis)
    assert not looks_like_avif(b"\xff\xd8\xff\xe0" + b"\0" * 32)
    assert not looks_like_heif(b"")


def grid_avif() -> tuple[bytes, Image.Image]:
    """Return a hand-built 2x1 grid AVIF of two 64x64 tiles Pillow encoded, and its pixels."""
    from picbucket.imaging.isobmff import read_meta

    tiles, decoded_tiles = [], []
    for color in ((200, 30, 30), (30, 30, 200)):
        data = avif(Image.new("RGB", (64, 64), color))
        meta = read_meta(data, frozenset({b"avif"}))
        primary = meta.item(meta.primary)
        tiles.append(meta.payload(primary))
        av1c = meta.prop(primary, b"av1C")
        assert av1c is not None
        config = data[av1c.start : av1c.end]
        decoded_tiles.append(decoded(data))
    expected = Image.new("RGB", (128, 64))
    expected.paste(decoded_tiles[0], (0, 0))
    expected.paste(decoded_tiles[1], (64, 0))
    grid = bytes([0, 0, 0, 1]) + struct.pack(">HH", 128, 64)
    ipco = box(b"ipco", full(b"ispe", struct.pack(">II", 128, 64))
               + full(b"ispe", struct.pack(">II", 64, 64)) + config)  # fmt: skip
    ipma = full(
        b"ipma", struct.pack(">I", 3) + b"\0\1\1\x01" + b"\0\2\2\x02\x83" + b"\0\3\2\x02\x83"
    )
    infes = b"".join(
        full(b"infe", struct.pack(">HH", n, 0) + kind + b"\0", version=2)
        for n, kind in ((1, b"grid"), (2, b"av01"), (3, b"av01"))
    )
    iref = full(b"iref", box(b"dimg", struct.pack(">HHHH", 1, 2, 2, 3)))
    chunks = [grid, *tiles]

    def tree(at: int) -> bytes:
        locs = b""
        for n, chunk in enumerate(chunks, 1):
            locs += struct.pack(">HHHHII", n, 0, 0, 1, at, len(chunk))
            at += len(chunk)
        iloc = full(b"iloc", struct.pack(">HH", 0x4400, 3) + locs, 1)
        meta = full(b"meta", full(b"hdlr", b"\0" * 4 + b"pict" + b"\0" * 13)
                    + full(b"pitm", b"\0\1") + iloc + full(b"iinf", b"\0\3" + infes)
                    + iref + box(b"iprp", ipco + ipma))  # fmt: skip
        return box(b"ftyp", b"avif\0\0\0\0avifmif1") + meta

    head = tree(0)
    return tree(len(head) + 8) + box(b"mdat", b"".join(chunks)), expected


def test_grid_images_keep_their_tiles() -> None:
    source, expected = grid_avif()
    shown = decoded(source)  # the hand-built file is valid: red tile left, blue tile right
    assert shown.getpixel((10, 10)) == expected.getpixel((10, 10))
    assert shown.getpixel((110, 50)) == expected.getpixel((110, 50))
    clean, parsed = rewrite(source + TAIL_MARK)
    assert (parsed.width, parsed.height) == (128, 64)
    assert decoded(clean).tobytes() == shown.tobytes()
    assert TAIL_MARK not in clean


def test_grid_whose_output_size_is_over_the_limit_is_refused() -> None:
    source, _ = grid_avif()
    at = source.index(bytes([0, 0, 0, 1]) + struct.pack(">HH", 128, 64))
    huge = source[:at] + bytes([0, 0, 0, 1]) + struct.pack(">HH", 65535, 65535) + source[at + 8 :]
    with pytest.raises(TooLarge):
        rewrite(huge, Limits(max_bytes=10**7, max_pixels=10**6, max_frames=1))


# Counts read from the file: each must be capped, not only bounded by the box size.


def located(iloc_payload: bytes, version: int, extra: bytes = b"") -> bytes:
    """Return a file whose meta holds only hdlr, pitm, this iloc and ``extra``; 100 bytes of mdat."""
    meta = full(b"meta", full(b"hdlr", b"\0" * 4 + b"pict" + b"\0" * 13)
                + full(b"pitm", b"\0\1") + full(b"iloc", iloc_payload, version) + extra)  # fmt: skip
    return box(b"ftyp", b"avif\0\0\0\0avifmif1") + meta + box(b"mdat", b"x" * 100)


def refused_cheaply(data: bytes) -> None:
    """Assert ``data`` is refused as InvalidImage in well under a second with little memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidImage):
            rewrite(data)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 0.25
    assert peak < 4 * len(data) + 2_000_000


# iloc version 2 with every field size 0: each extent is described in 0 bytes. The
# reviewer's 20 KB file (2,000 entries) reached 9 GB; 16 entries are enough to show it.
ZERO_SIZED = (
    [located(bytes([0, 0]) + struct.pack(">I", n) + struct.pack(">IHHH", 1, 0, 0, 65535) * n, 2)
     for n in (16, 2000)]
    + [located(bytes([0, 0]) + struct.pack(">I", 16) + b"".join(  # distinct ids, 65535 each
        struct.pack(">IHHH", n, 0, 0, 65535) for n in range(1, 17)), 2)]
)  # fmt: skip


@pytest.mark.parametrize("data", ZERO_SIZED)
def test_iloc_extent_bombs_are_refused_fast_with_bounded_memory(data: bytes) -> None:
    refused_cheaply(data)


@pytest.mark.parametrize("extents", [2, 1500])
def test_an_extent_listed_again_is_refused(extents: int) -> None:
    """The image's 4 data bytes listed again: its data would be joined from copies of itself."""
    assert minimal().endswith(box(b"mdat", b"\x12\0\x0a\0"))
    refused_cheaply(minimal(extents=extents))


def test_items_sharing_data_are_refused() -> None:
    def shared(at: int) -> bytes:
        entries = b"".join(struct.pack(">HHHHII", n, 0, 0, 1, at, 4) for n in (1, 2))
        return located(struct.pack(">HH", 0x4400, 2) + entries, 1)

    data = shared(len(shared(0)) - 100)  # both items name the first 4 bytes of mdat
    with pytest.raises(InvalidImage, match="overlap"):
        rewrite(data)


def test_an_item_listed_twice_in_ipma_is_refused() -> None:
    ipco = box(b"ipco", full(b"ispe", struct.pack(">II", 16, 16)))
    entry = struct.pack(">HB", 1, 1) + b"\x81"
    iprp = box(b"iprp", ipco + full(b"ipma", struct.pack(">I", 2) + entry * 2))
    iloc = struct.pack(">HHHHHHII", 0x4400, 1, 1, 0, 0, 1, 0, 4)
    with pytest.raises(InvalidImage, match="listed twice"):
        rewrite(located(iloc, 1, iprp))


def test_too_many_item_references_are_refused() -> None:
    iloc = struct.pack(">HHHHHHII", 0x4400, 1, 1, 0, 0, 1, 0, 4)
    iref = full(b"iref", box(b"dimg", struct.pack(">HH", 1, 20_000) + b"\0\2" * 20_000))
    with pytest.raises(InvalidImage, match="too many parts"):
        rewrite(located(iloc, 1, iref))


def test_a_million_brands_are_not_all_read() -> None:
    brands = b"".join(struct.pack(">I", n) for n in range(1_000_000))
    refused_cheaply(box(b"ftyp", b"avif\0\0\0\0" + brands))
