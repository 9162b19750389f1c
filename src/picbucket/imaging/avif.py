"""Write a clean AVIF from a parsed ``meta``: the image items and what decodes them.

Kept: the primary image (an ``av01`` item, or a ``grid`` of ``av01`` tiles) and its
alpha or depth auxiliary image, with only the properties a decoder needs, each rebuilt
from its fields (ICC profiles through icc.rebuild). Dropped: Exif and XMP items,
thumbnails, every other item, item names, unknown boxes and every byte after the image.
Items are renumbered 1..n and each item's data becomes one extent in one ``mdat`` (or
the rebuilt ``idat`` when it lived there), so the output is a fresh, minimal file.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from picbucket.domain import InvalidImage
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.isobmff import Box, Cursor, Item, Meta, check_pixels, damaged

AUX_URNS = frozenset(
    {
        b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha",
        b"urn:mpeg:hevc:2015:auxid:1",
        b"urn:mpeg:mpegB:cicp:systems:auxiliary:depth",
        b"urn:mpeg:hevc:2015:auxid:2",
    }
)
# Properties whose payload is fixed-size numbers only: copied, never a carrier for data.
_FIXED = {
    b"ispe": (12,), b"irot": (1,), b"imir": (1,), b"pasp": (8,), b"clap": (32,),
    b"a1op": (1,), b"lsel": (2,), b"a1lx": (7, 13), b"clli": (4,), b"mdcv": (24,),
}  # fmt: skip
_REFS = frozenset({b"dimg", b"auxl", b"prem"})
_PROFILE_BRANDS = (b"MA1B", b"MA1A")
# EXIF orientation of (irot angle, imir axis) as libavif maps them: irot turns the image
# anticlockwise by angle x 90 degrees, then imir axis 0 flips top<->bottom and axis 1
# flips left<->right (HEIF 2nd edition "mode"). None: no imir.
ORIENTATIONS = {
    (0, None): 1, (0, 1): 2, (2, None): 3, (0, 0): 4, (1, 0): 5, (3, None): 6, (3, 0): 7,
    (1, None): 8, (2, 1): 4, (2, 0): 2, (1, 1): 7, (3, 1): 5,
}  # fmt: skip


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def write_clean(meta: Meta, out: BinaryIO, limits: Limits) -> Parsed:
    """Check every kept image against ``limits``, then write the clean file to ``out``."""
    if meta.moov:
        raise InvalidImage("Animated AVIF is not supported yet.")
    items = _kept_items(meta)
    width, height = meta.size(items[0])
    pixels = 0
    for item in items:
        w, h = meta.size(item)
        check_pixels(w, h, limits)
        pixels += w * h if item.type == b"av01" else 0
        if item.type == b"grid":
            _check_grid(meta, item, limits)
    if pixels > limits.total_pixels:
        check_pixels(pixels, 1, limits)  # same message: the tiles add up past the budget
    ids = {item.id: n for n, item in enumerate(items, 1)}
    props, assoc, icc_kept = _properties(meta, items)
    # read_meta refused overlapping extents, so the joined data is never larger than the file.
    chunks = [_item_data(meta, item) for item in items]
    ftyp = _box(b"ftyp", b"avif\0\0\0\0avifmif1miaf" + b"".join(
        b for b in _PROFILE_BRANDS if b in meta.brands))  # fmt: skip
    draft = _meta(meta, items, ids, props, assoc, chunks, 0)
    mdat_at = len(ftyp) + len(draft) + 8
    out.write(ftyp)
    out.write(_meta(meta, items, ids, props, assoc, chunks, mdat_at))
    in_mdat = [c for item, c in zip(items, chunks, strict=True) if item.method == 0]
    out.write(struct.pack(">I", 8 + sum(len(c) for c in in_mdat)) + b"mdat")
    for chunk in in_mdat:
        out.write(chunk)
    return Parsed(
        format="AVIF",
        width=width,
        height=height,
        frames=[Frame(width, height)],
        orientation=_orientation(meta, items[0]),
        exif=meta.exif(),
        icc_kept=icc_kept,
    )


def _kept_items(meta: Meta) -> list[Item]:
    primary = meta.item(meta.primary)
    kept = _with_tiles(meta, primary)
    for aux_id in meta.sources(b"auxl", primary.id):
        aux = meta.item(aux_id)
        auxc = meta.prop(aux, b"auxC")
        if auxc is not None and _aux_urn(meta, auxc) in AUX_URNS and aux.type in (b"av01", b"grid"):
            kept += _with_tiles(meta, aux)
    unique = {item.id: item for item in kept}
    return list(unique.values())


def _with_tiles(meta: Meta, item: Item) -> list[Item]:
    if item.type == b"av01":
        return [item]
    if item.type == b"grid":
        tiles = [meta.item(t) for t in meta.targets(b"dimg", item.id)]
        if not tiles or any(t.type != b"av01" for t in tiles):
            raise InvalidImage("The AVIF image grid has tiles Picbucket cannot read.")
        return [item, *tiles]
    raise InvalidImage("The AVIF's main image is of a kind Picbucket does not support.")


def _check_grid(meta: Meta, grid: Item, limits: Limits) -> None:
    data = _item_data(meta, grid)
    cur = Cursor(data, 0, len(data))
    _, flags, rows, columns = (cur.uint(1) for _ in range(4))
    size = 4 if flags & 1 else 2
    check_pixels(cur.uint(size), cur.uint(size), limits)
    if (rows + 1) * (columns + 1) != len(meta.targets(b"dimg", grid.id)):
        raise damaged("the image grid and its tiles disagree")


def _aux_urn(meta: Meta, auxc: Box) -> bytes:
    cur = Cursor(meta.tree.data, auxc.body, auxc.end)
    cur.fullbox()
    return cur.cstr()


def _orientation(meta: Meta, item: Item) -> int:
    irot, imir = meta.prop(item, b"irot"), meta.prop(item, b"imir")
    data = meta.tree.data
    angle = data[irot.body] & 3 if irot and irot.end > irot.body else 0
    axis = data[imir.body] & 1 if imir and imir.end > imir.body else None
    return ORIENTATIONS[(angle, axis)]


def _properties(
    meta: Meta, items: list[Item]
) -> tuple[list[bytes], dict[int, list[tuple[int, bool]]], bool]:
    """Return the rebuilt ipco boxes, each item's (new index, essential) list, icc_kept."""
    props: list[bytes] = []
    renumber: dict[int, int | None] = {}
    assoc: dict[int, list[tuple[int, bool]]] = {}
    icc_kept = False
    for item in items:
        assoc[item.id] = []
        for index, essential in item.props:
            if index not in renumber:
                clean = _clean_property(meta, meta.props[index - 1])
                renumber[index] = None if clean is None else len(props) + 1
                if clean is not None:
                    props.append(clean)
                    icc_kept = icc_kept or clean[8:12] == b"prof"
            new = renumber[index]
            if new is None and essential:
                raise InvalidImage("The AVIF uses a feature Picbucket does not support.")
            if new is not None:
                assoc[item.id].append((new, essential))
    return props, assoc, icc_kept


def _clean_property(meta: Meta, box: Box) -> bytes | None:
    """Return the property rebuilt from the fields a decoder reads, or None to drop it."""
    body = meta.tree.data[box.body : box.end]
    if box.type in _FIXED:
        if len(body) not in _FIXED[box.type]:
            return None
        if box.type in (b"irot", b"imir"):
            body = bytes([body[0] & (3 if box.type == b"irot" else 1)])
        return _box(box.type, body)
    if box.type == b"pixi" and len(body) >= 5 and len(body) == 5 + body[4]:
        return _box(box.type, body)
    if box.type == b"av1C" and len(body) >= 4 and body[0] == 0x81:
        # configOBUs are dropped: AVIF items carry their sequence header in the data.
        return _box(box.type, body[:4])
    if box.type == b"colr" and body[:4] == b"nclx" and len(body) == 11:
        return _box(box.type, body[:10] + bytes([body[10] & 0x80]))
    if box.type == b"colr" and body[:4] in (b"prof", b"rICC"):
        from picbucket.imaging import icc  # the colour-profile rebuilder

        profile = icc.rebuild(body[4:])
        return None if profile is None else _box(box.type, b"prof" + profile)
    if box.type == b"auxC":
        urn = _aux_urn(meta, box)
        return _full(box.type, 0, 0, urn + b"\0") if urn in AUX_URNS else None
    return None


def _item_data(meta: Meta, item: Item) -> bytes:
    """Return the item's bytes; read_meta checked each extent lies inside the file (or idat)."""
    if not item.extents:
        raise damaged("an image has no data")
    for offset, length in item.extents:
        if item.method == 0 and not any(
            m.body <= offset and offset + length <= m.end for m in meta.mdats
        ):
            raise damaged("an image's data lies outside the media data")
    return meta.payload(item)


def _meta(
    meta: Meta,
    items: list[Item],
    ids: dict[int, int],
    props: list[bytes],
    assoc: dict[int, list[tuple[int, bool]]],
    chunks: list[bytes],
    mdat_at: int,
) -> bytes:
    def u16(n: int) -> bytes:
        return n.to_bytes(2, "big")

    hdlr = _full(b"hdlr", 0, 0, b"\0" * 4 + b"pict" + b"\0" * 13)
    pitm = _full(b"pitm", 0, 0, u16(1))
    infes = b"".join(_full(b"infe", 2, 0, u16(ids[i.id]) + u16(0) + i.type + b"\0") for i in items)
    iinf = _full(b"iinf", 0, 0, u16(len(items)) + infes)
    refs = b""
    for kind, src, targets in meta.refs:
        kept = [ids[t] for t in targets if t in ids]
        if kind in _REFS and src in ids and kept:
            refs += _box(kind, u16(ids[src]) + u16(len(kept)) + b"".join(map(u16, kept)))
    iref = _full(b"iref", 0, 0, refs) if refs else b""
    wide = len(props) > 127
    entries = b"".join(
        u16(ids[i.id])
        + bytes([len(assoc[i.id])])
        + b"".join((u16(n | e << 15) if wide else bytes([n | e << 7])) for n, e in assoc[i.id])
        for i in items
    )
    ipma = _full(b"ipma", 0, int(wide), struct.pack(">I", len(items)) + entries)
    iprp = _box(b"iprp", _box(b"ipco", b"".join(props)) + ipma)
    locs, at, idat = b"", {0: mdat_at, 1: 0}, b""
    for item, chunk in zip(items, chunks, strict=True):
        locs += u16(ids[item.id]) + u16(item.method) + u16(0) + u16(1)
        locs += struct.pack(">II", at[item.method], len(chunk))
        at[item.method] += len(chunk)
        idat += chunk if item.method == 1 else b""
    iloc = _full(b"iloc", 1, 0, u16(0x4400) + u16(len(items)) + locs)
    boxes = hdlr + pitm + iloc + iinf + iref + iprp + (_box(b"idat", idat) if idat else b"")
    return _full(b"meta", 0, 0, boxes)
