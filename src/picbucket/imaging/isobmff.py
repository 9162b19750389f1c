"""ISO base media (HEIF/AVIF) boxes: a bounded parser, and the lossless AVIF rewriter.

The parser holds the whole upload in memory (it is already capped at Limits.max_bytes)
and never trusts a size or offset: every box must fit inside its parent, every item
extent inside the file, and the number and depth of boxes are capped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from itertools import pairwise
from typing import BinaryIO

from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging.container import Limits, Parsed

MAX_DEPTH = 6  # file > meta > iprp > ipco > property is as deep as a still image goes
MAX_BOXES = 20_000
MAX_ITEMS = 4_096  # a 48 MP iPhone grid has ~200 tiles
# Extents and references are counted, not only bounded by the box size: an iloc whose
# field sizes are 0 describes an extent in 0 bytes, so a 20 KB box could name billions.
MAX_EXTENTS = 4_096  # in the whole file; encoders write one extent per item
MAX_ITEM_EXTENTS = 1_024
MAX_REFERENCES = 16_384  # iref targets in the whole file; a grid names each tile once
MAX_BRANDS = 64  # compatible brands read from ftyp; real files list fewer than ten
AVIF_BRANDS = frozenset({b"avif", b"avis"})
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})


def damaged(what: str) -> InvalidImage:
    """Return the error for a structurally broken file."""
    return InvalidImage(f"The image file is damaged ({what}).")


class Cursor:
    """Read big-endian fields from data[pos:end]; running past ``end`` is InvalidImage."""

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise damaged("a box is cut short")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big") if size else 0

    def fullbox(self) -> tuple[int, int]:
        """Read a FullBox header: (version, flags)."""
        return self.uint(1), self.uint(3)

    def cstr(self) -> bytes:
        nul = self.data.find(b"\0", self.pos, self.end)
        if nul < 0:
            raise damaged("a name is not terminated")
        return self.take(nul - self.pos + 1)[:-1]


@dataclass(frozen=True)
class Box:
    """One box: its type and where its header, payload and end are in the file."""

    type: bytes
    start: int
    body: int
    end: int


class Tree:
    """The file's bytes plus a box budget shared by every walk over them."""

    def __init__(self, data: bytes) -> None:
        self.data, self.count = data, 0

    def children(self, start: int, end: int, depth: int) -> list[Box]:
        """Return the boxes laid end to end in data[start:end].

        At the top level, bytes that do not form a box end the file: whatever was
        appended after the image is not read (and never written).
        """
        if depth > MAX_DEPTH:
            raise damaged("boxes are nested too deeply")
        out: list[Box] = []
        pos = start
        while pos < end:
            self.count += 1
            if self.count > MAX_BOXES:
                raise InvalidImage("The image file has too many parts to be a photo.")
            if depth == 0 and out and end - pos < 8:
                break
            cur = Cursor(self.data, pos, end)
            size, kind = cur.uint(4), cur.take(4)
            if size == 1:
                size = cur.uint(8)
            elif size == 0:  # "runs to the end of the enclosing box"
                size = end - pos
            if size < cur.pos - pos or pos + size > end:
                if depth == 0 and out:
                    break
                raise damaged(f"the {kind!r} box claims {size} bytes")
            out.append(Box(kind, pos, cur.pos, pos + size))
            pos += size
        return out


@dataclass
class Item:
    """One HEIF item: its type, where its data lives, and its properties."""

    id: int
    type: bytes = b""
    method: int = 0  # 0: file offsets, 1: offsets into idat
    extents: list[tuple[int, int]] = field(default_factory=list)
    props: list[tuple[int, bool]] = field(default_factory=list)  # (1-based ipco index, essential)


@dataclass
class Meta:
    """The parsed ``meta`` box of a HEIF/AVIF still image."""

    tree: Tree
    brands: set[bytes]
    primary: int = 0
    items: dict[int, Item] = field(default_factory=dict)
    refs: list[tuple[bytes, int, list[int]]] = field(default_factory=list)
    props: list[Box] = field(default_factory=list)
    idat: Box | None = None
    mdats: list[Box] = field(default_factory=list)
    moov: bool = False

    def item(self, item_id: int) -> Item:
        """Return an item, or InvalidImage when a reference points nowhere."""
        if item_id not in self.items:
            raise damaged(f"item {item_id} is referenced but missing")
        return self.items[item_id]

    def targets(self, kind: bytes, from_id: int) -> list[int]:
        """Return the items ``from_id`` refers to with references of type ``kind``."""
        return [t for k, f, to in self.refs if k == kind and f == from_id for t in to]

    def sources(self, kind: bytes, to_id: int) -> list[int]:
        """Return the items that refer to ``to_id`` with references of type ``kind``."""
        return [f for k, f, to in self.refs if k == kind and to_id in to]

    def prop(self, item: Item, kind: bytes) -> Box | None:
        """Return the item's first property of type ``kind``."""
        for index, _ in item.props:
            if self.props[index - 1].type == kind:
                return self.props[index - 1]
        return None

    def size(self, item: Item) -> tuple[int, int]:
        """Return the item's coded width and height from its ispe property."""
        ispe = self.prop(item, b"ispe")
        if ispe is None:
            raise damaged("an image has no size")
        cur = Cursor(self.tree.data, ispe.body, ispe.end)
        cur.fullbox()
        return cur.uint(4), cur.uint(4)

    def payload(self, item: Item) -> bytes:
        """Return the item's data, its extents joined (read_meta checked they fit and
        do not overlap, so this is never larger than the file)."""
        base = self.idat.body if item.method == 1 and self.idat else 0
        return b"".join(self.tree.data[base + o : base + o + n] for o, n in item.extents)

    def exif(self) -> bytes | None:
        """Return the TIFF bytes of the primary image's Exif item, if any."""
        exifs = [i for i in self.items.values() if i.type == b"Exif"]
        # One pass over the references: per-item lookups would be items x references.
        describing = {f for k, f, to in self.refs if k == b"cdsc" and self.primary in to}
        described = [i for i in exifs if i.id in describing]
        for item in described or exifs:
            data = self.payload(item)
            if len(data) < 4:
                continue
            tiff = data[4 + int.from_bytes(data[:4], "big") :]
            tiff = tiff[6:] if tiff.startswith(b"Exif\0\0") else tiff
            if tiff[:4] in (b"II*\0", b"MM\0*"):
                return tiff
        return None


def read_meta(data: bytes, accept: frozenset[bytes]) -> Meta:
    """Parse the top-level boxes and the ``meta`` box; refuse other brands."""
    tree = Tree(data)
    top = tree.children(0, len(data), 0)
    if not top or top[0].type != b"ftyp" or top[0].end - top[0].body < 8:
        raise InvalidImage("The file is not a HEIF or AVIF image.")
    ftyp = data[top[0].body : top[0].end]
    last = min(len(ftyp) - 3, 8 + 4 * MAX_BRANDS)
    brands = {ftyp[:4]} | {ftyp[i : i + 4] for i in range(8, last, 4)}
    if not brands & accept:
        raise InvalidImage("The file is not a HEIF or AVIF image.")
    metas = [b for b in top if b.type == b"meta"]
    if len(metas) != 1:
        raise damaged("it needs exactly one meta box")
    meta = Meta(tree, brands, moov=any(b.type == b"moov" for b in top))
    meta.mdats = [b for b in top if b.type == b"mdat"]
    children = tree.children(metas[0].body + 4, metas[0].end, 1)
    kinds = [b.type for b in children]
    if any(kinds.count(k) > 1 for k in (b"pitm", b"iloc", b"iinf", b"iref", b"iprp", b"idat")):
        raise damaged("a box that must be unique appears twice")
    for box in children:
        _read_meta_child(meta, box)
    if meta.primary not in meta.items:
        raise damaged("the primary image is missing")
    _check_extents(meta)
    return meta


def _check_extents(meta: Meta) -> None:
    """Resolve every extent's length; refuse extents outside their box, overlapping or
    adding up to more bytes than the file, so an item's data is never larger than it."""
    spans: list[tuple[int, int]] = []
    total = 0
    for item in meta.items.values():
        if item.method == 1 and meta.idat is None and item.extents:
            raise damaged("an image's data box is missing")
        start = meta.idat.body if item.method == 1 and meta.idat else 0
        end = meta.idat.end if item.method == 1 and meta.idat else len(meta.tree.data)
        resolved = []
        for offset, length in item.extents:
            length = length or end - start - offset  # 0: "to the end"
            if offset < 0 or length <= 0 or start + offset + length > end:
                raise damaged("an item's data lies past the end of the file")
            total += length
            if total > len(meta.tree.data):
                raise damaged("image data is claimed more than once")
            resolved.append((offset, length))
            spans.append((start + offset, start + offset + length))
        item.extents = resolved
    spans.sort()
    if any(later[0] < earlier[1] for earlier, later in pairwise(spans)):
        raise damaged("two pieces of image data overlap")


def _read_meta_child(meta: Meta, box: Box) -> None:
    tree, data = meta.tree, meta.tree.data
    cur = Cursor(data, box.body, box.end)
    if box.type == b"hdlr":
        cur.fullbox()
        cur.take(4)
        if cur.take(4) != b"pict":
            raise InvalidImage("The file is not a still image.")
    elif box.type == b"pitm":
        version, _ = cur.fullbox()
        meta.primary = cur.uint(2 if version == 0 else 4)
    elif box.type == b"iloc":
        _read_iloc(meta, cur)
    elif box.type == b"iinf":
        version, _ = cur.fullbox()
        cur.uint(2 if version == 0 else 4)
        for infe in tree.children(cur.pos, box.end, 2):
            c = Cursor(data, infe.body, infe.end)
            v, _ = c.fullbox()
            if infe.type != b"infe" or v < 2:
                continue  # pre-HEIF item entries have no item type: nothing we can keep
            item = _get(meta, c.uint(2 if v == 2 else 4))
            c.uint(2)
            item.type = c.take(4)
    elif box.type == b"iref":
        version, _ = cur.fullbox()
        width = 2 if version == 0 else 4
        targets = 0
        for ref in tree.children(cur.pos, box.end, 2):
            c = Cursor(data, ref.body, ref.end)
            from_id, count = c.uint(width), c.uint(2)
            targets += count
            if targets > MAX_REFERENCES:
                raise InvalidImage("The image file has too many parts to be a photo.")
            meta.refs.append((ref.type, from_id, [c.uint(width) for _ in range(count)]))
    elif box.type == b"iprp":
        for sub in tree.children(box.body, box.end, 2):
            if sub.type == b"ipco":
                meta.props = tree.children(sub.body, sub.end, 3)
            elif sub.type == b"ipma":
                _read_ipma(meta, Cursor(data, sub.body, sub.end))
    elif box.type == b"idat":
        meta.idat = box


def _get(meta: Meta, item_id: int) -> Item:
    if item_id not in meta.items:
        if len(meta.items) >= MAX_ITEMS:
            raise InvalidImage("The image file has too many parts to be a photo.")
        meta.items[item_id] = Item(item_id)
    return meta.items[item_id]


def _read_iloc(meta: Meta, cur: Cursor) -> None:
    version, _ = cur.fullbox()
    sizes = cur.uint(2)
    off_size, len_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    if any(n not in (0, 4, 8) for n in (off_size, len_size, base_size, index_size)):
        raise damaged("the item locations use invalid field sizes")
    count = cur.uint(2 if version < 2 else 4)
    if count > MAX_ITEMS:
        raise InvalidImage("The image file has too many parts to be a photo.")
    located: set[int] = set()
    extents = 0
    for _ in range(count):
        item_id = cur.uint(2 if version < 2 else 4)
        if item_id in located:
            raise damaged("an item is located twice")
        located.add(item_id)
        item = _get(meta, item_id)
        item.method = cur.uint(2) & 15 if version in (1, 2) else 0
        if cur.uint(2) != 0 or item.method > 1:
            raise InvalidImage("The image keeps its data in a way Picbucket does not support.")
        base = cur.uint(base_size)
        item_extents = cur.uint(2)
        extents += item_extents
        if item_extents > MAX_ITEM_EXTENTS or extents > MAX_EXTENTS:
            raise InvalidImage("The image file has too many parts to be a photo.")
        for _ in range(item_extents):
            cur.uint(index_size)
            offset, length = base + cur.uint(off_size), cur.uint(len_size)
            item.extents.append((offset, length))


def _read_ipma(meta: Meta, cur: Cursor) -> None:
    version, flags = cur.fullbox()
    associated: set[int] = set()
    for _ in range(cur.uint(4)):
        item_id = cur.uint(2 if version < 1 else 4)
        if item_id in associated:  # else one item could collect properties without end
            raise damaged("an item's properties are listed twice")
        associated.add(item_id)
        item = _get(meta, item_id)
        for _ in range(cur.uint(1)):
            value, bits = (cur.uint(2), 15) if flags & 1 else (cur.uint(1), 7)
            index = value & ((1 << bits) - 1)
            if index:  # 0 means "no property"
                if index > len(meta.props):
                    raise damaged("an image uses a property that does not exist")
                item.props.append((index, bool(value >> bits)))


def read_upload(source: BinaryIO, limits: Limits) -> bytes:
    """Return the whole upload, or TooLarge past limits.max_bytes."""
    data = source.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise TooLarge(f"The file is larger than {limits.max_bytes / 1e6:.0f} MB.")
    return data


def check_pixels(width: int, height: int, limits: Limits) -> None:
    """Raise TooLarge when one image is past the pixel budget, before any decoding."""
    if width <= 0 or height <= 0:
        raise damaged("an image has no size")
    if width * height > limits.max_pixels:
        raise TooLarge(
            f"The image is {width * height / 1e6:.1f} megapixels; "
            f"the limit is {limits.max_pixels / 1e6:.0f} megapixels."
        )


def looks_like_avif(head: bytes) -> bool:
    """Return whether the first bytes are an ftyp box naming an AVIF brand."""
    return bool(_head_brands(head) & AVIF_BRANDS)


def looks_like_heif(head: bytes) -> bool:
    """Return whether the first bytes are an ftyp box naming a HEIF (not AVIF) brand."""
    brands = _head_brands(head)
    return bool(brands & HEIF_BRANDS) and not brands & AVIF_BRANDS


def _head_brands(head: bytes) -> set[bytes]:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return set()
    size = min(struct.unpack(">I", head[:4])[0], len(head))
    return {head[8:12]} | {head[i : i + 4] for i in range(16, size - 3, 4)}


def rewrite_avif(source: BinaryIO, out: BinaryIO, limits: Limits) -> Parsed:
    """Write a clean AVIF: the image items and what decodes them, nothing else."""
    from picbucket.imaging.avif import write_clean  # the writer half; avif.py

    meta = read_meta(read_upload(source, limits), AVIF_BRANDS | {b"mif1"})
    return write_clean(meta, out, limits)
