"""Pipeline v2 against the work it cannot avoid, and against the first release's pipeline.

Every figure is a ratio of medians measured in the same run on the same machine
(issue 8's goals in brackets), so a slower or busier machine does not change them.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import bench_legacy_pipeline as legacy
from PIL import Image, ImageDraw

from picbucket.imaging import Limits, process_upload
from picbucket.imaging.renditions import draft_box

LIMITS = Limits(max_bytes=25 * 1024 * 1024, max_pixels=50_000_000, max_frames=300)
MIB = 1024 * 1024


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Return the median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def photo_jpeg(width: int, height: int, quality: int = 92) -> bytes:
    """Return a photo-like JPEG (smooth gradients plus noise, so it compresses like one)."""
    rng = random.Random(7)
    small = Image.frombytes(
        "RGB", (width // 16, height // 16), rng.randbytes(width * height * 3 // 256)
    )
    img = small.resize((width, height), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def camera_jpeg(width: int, height: int, quality: int = 92) -> bytes:
    """Return a JPEG with detail at every scale (a 1/f spectrum, as real photos have).

    ``photo_jpeg`` is smooth at full resolution, which no camera file is; this one
    compresses like a phone photo (about 0.5 bytes a pixel at q92).
    """
    rng = random.Random(7)
    image: Image.Image | None = None
    for octave, weight in ((64, 0.5), (16, 0.25), (4, 0.15), (1, 0.10)):
        w, h = max(1, width // octave), max(1, height // octave)
        layer = Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))
        layer = layer.resize((width, height), Image.Resampling.BICUBIC)
        image = layer if image is None else Image.blend(image, layer, weight / (weight + 0.5))
    assert image is not None
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def screenshot_png(width: int = 3840, height: int = 2160) -> bytes:
    """Return a screenshot-like PNG: flat panels, lines of text, a photo-ish area."""
    img = Image.new("RGB", (width, height), (246, 247, 249))
    draw = ImageDraw.Draw(img)
    rng = random.Random(3)
    draw.rectangle((0, 0, width, 90), fill=(32, 33, 36))
    draw.rectangle((0, 90, 420, height), fill=(232, 234, 237))
    for row in range(120, height - 40, 28):
        x = 460 + rng.randrange(40)
        draw.text((x, row), "Lorem ipsum dolor sit amet " * rng.randint(2, 8), fill=(40, 40, 40))
    photo = Image.open(io.BytesIO(photo_jpeg(1200, 800))).convert("RGB")
    img.paste(photo, (width - 1300, 300))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _reduced_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        img.draft(None, draft_box(*img.size))
        img.load()


def _full_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        img.load()


def _v2(data: bytes) -> None:
    process_upload(io.BytesIO(data), LIMITS).close()


def _v1(data: bytes) -> None:
    legacy.process_upload(
        io.BytesIO(data), legacy.Limits(LIMITS.max_bytes, 50_000_000, 300)
    ).close()


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


_CHILD = """
import io, sys
from pathlib import Path
sys.path.insert(0, {scripts!r})
import bench_imaging as b
from PIL import Image
small = io.BytesIO()
Image.new("RGB", (64, 64), "red").save(small, "JPEG")
b._v2(small.getvalue())  # idle = a worker that has served one small upload
photo = b.photo_jpeg(4000, 3000)
idle = b._vm("VmRSS:")
Path("/proc/self/clear_refs").write_text("5")  # peak (VmHWM) starts from here
b._v2(photo)
print(b._vm("VmHWM:") - idle)
"""


def peak_rss_growth() -> int:
    """Return how far one 12 MP JPEG upload lifts a fresh process's peak RSS (bytes).

    A fresh process, so memory a previous run left in the allocator cannot hide it.
    """
    import subprocess
    import sys

    code = _CHILD.format(scripts=str(Path(__file__).resolve().parent))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def bench_pipeline(runs: int) -> list[tuple[str, str]]:
    """Return the table rows for the media pipeline."""
    photo = photo_jpeg(4000, 3000)
    shot = screenshot_png()
    rows = [
        ("12 MP JPEG (q92) size", f"{len(photo) / 1e6:.1f} MB"),
        ("4K PNG screenshot size", f"{len(shot) / 1e6:.1f} MB"),
    ]
    reduced = median_ms(lambda: _reduced_decode(photo), runs)
    v2_photo = median_ms(lambda: _v2(photo), runs)
    v1_photo = median_ms(lambda: _v1(photo), max(3, runs // 2))
    full_png = median_ms(lambda: _full_decode(shot), runs)
    v2_png = median_ms(lambda: _v2(shot), runs)
    v1_png = median_ms(lambda: _v1(shot), max(3, runs // 2))
    rows += [
        ("12 MP JPEG: reduced-scale decode (the unavoidable work)", f"{reduced:.0f} ms"),
        ("12 MP JPEG: pipeline v2, whole processing", f"{v2_photo:.0f} ms"),
        ("12 MP JPEG: v2 / reduced decode  [goal <= 2x]", f"{v2_photo / reduced:.2f}x"),
        ("12 MP JPEG: v1 re-encode / v2  [goal >= 4x]", f"{v1_photo / v2_photo:.1f}x"),
        ("4K PNG: one full decode (the unavoidable work)", f"{full_png:.0f} ms"),
        ("4K PNG: pipeline v2, whole processing", f"{v2_png:.0f} ms"),
        ("4K PNG: v2 / full decode  [goal <= 1.5x]", f"{v2_png / full_png:.2f}x"),
        ("4K PNG: v1 re-encode / v2  [goal >= 4x]", f"{v1_png / v2_png:.1f}x"),
    ]
    growth = peak_rss_growth()
    rows.append(
        ("12 MP JPEG upload: peak RSS above idle  [goal <= 64 MiB]", f"{growth / MIB:.0f} MiB")
    )
    for label, data in (("smooth", photo), ("camera-like", camera_jpeg(4000, 3000))):
        processed = process_upload(io.BytesIO(data), LIMITS)
        shown = processed.display.size if processed.display else processed.original.size
        rows.append(
            (
                f"12 MP JPEG, {label} ({len(data) / 1e6:.1f} MB): display / original bytes"
                "  [goal <= 1/5]",
                f"1/{processed.original.size / shown:.1f}",
            )
        )
        processed.close()
    return rows


if __name__ == "__main__":
    for name, value in bench_pipeline(5):
        print(f"{name.ljust(62)}  {value}")
