"""Decode memory under the real server: hostile GIFs and eight big uploads at once.

Runs the app under gunicorn exactly as the container does (one worker, eight threads)
and reads the worker's peak resident memory (VmHWM) from /proc, so what is measured
is what Cloud Run would count against the instance's memory limit.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from PIL import Image
from test_gunicorn import Server, running, start_server

from picbucket.domain import User, user_id_for, utcnow
from picbucket.services.tokens import create_token
from picbucket.settings import MIB, Settings
from picbucket.wiring import build_backends

BUDGET_MB = 384
__all__ = ["running"]  # the fixture that stops servers after each test


def api_token(data_dir: Path) -> str:
    """Create a user and an API token in the data directory the server will use."""
    backends = build_backends(Settings(data_dir=data_dir))
    try:
        user_id = user_id_for("https://issuer.test", "alice")
        backends.users.upsert(
            User(user_id, "https://issuer.test", "alice", "alice@example.com", "Alice", utcnow())
        )
        return create_token(backends, user_id, "memory test")[1]
    finally:
        backends.close()


def post_image(server: Server, token: str, data: bytes) -> tuple[int, dict[str, str], float]:
    """Upload through the API; return status, headers and seconds taken."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/v1/images",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), time.monotonic() - started


def worker_pid(server: Server) -> int:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return int(children.read_text().split()[0])


def peak_rss(pid: int) -> int:
    """Return the process's peak resident memory in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def reset_peak(pid: int) -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def gif_with_late_giant_frames(frames: int = 4, side: int = 7000) -> bytes:
    """A 1x1 GIF whose later frames claim side x side pixels: small file, huge decode."""
    out = io.BytesIO()
    out.write(b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff")
    out.write(b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00")
    for _ in range(frames):
        out.write(b"\x21\xf9\x04\x00\x0a\x00\x00\x00")  # graphic control: 100 ms
        out.write(b"\x2c" + struct.pack("<HHHHB", 0, 0, side, side, 0))
        # LZW: a clear code, then end: a decoder must still allocate the whole frame.
        out.write(b"\x02\x02\x4c\x01\x00")
    out.write(b"\x3b")
    return out.getvalue()


def growing_canvas_gif() -> bytes:
    """Frames placed ever further out, so a decoder's canvas grows past the screen."""
    out = io.BytesIO()
    out.write(b"GIF89a" + struct.pack("<HHBBB", 100, 100, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff")
    for step in range(6):
        out.write(b"\x2c" + struct.pack("<HHHHB", step * 1000, step * 1000, 100, 100, 0))
        out.write(b"\x02\x02\x4c\x01\x00")
    out.write(b"\x3b")
    return out.getvalue()


def many_frames_gif() -> bytes:
    images = [Image.new("P", (1500, 1500), i % 2) for i in range(300)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], optimize=False)
    return out.getvalue()


@pytest.fixture
def server(tmp_path: Path, running: list[Server]) -> tuple[Server, str]:
    token = api_token(tmp_path / "data")
    started = start_server(
        tmp_path,
        PICBUCKET_DECODE_BUDGET_MB=str(BUDGET_MB),
        PICBUCKET_DECODE_WAIT_SECONDS="30",
    )
    running.append(started)
    return started, token


@pytest.mark.parametrize("make", [gif_with_late_giant_frames, growing_canvas_gif, many_frames_gif])
def test_hostile_gifs_are_refused_without_growing_the_worker(
    server: tuple[Server, str], make: object
) -> None:
    srv, token = server
    data = make()  # type: ignore[operator]
    pid = worker_pid(srv)
    assert post_image(srv, token, imagefiles_small_png())[0] == 201  # warm up the worker
    reset_peak(pid)
    before = peak_rss(pid)
    status, _, _ = post_image(srv, token, data)
    assert status == 413
    assert peak_rss(pid) - before < 64 * MIB


def imagefiles_small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(out, "PNG")
    return out.getvalue()


def max_size_png(seed: int) -> bytes:
    """A 49 MP PNG (7000x7000) that still fits in one request: decodes to 196 MB of RGBA."""
    img = Image.linear_gradient("L").resize((7000, 7000)).convert("RGB")
    img.putpixel((seed, seed), (255, 0, 0))
    out = io.BytesIO()
    img.save(out, "PNG", compress_level=1)
    return out.getvalue()


def test_eight_concurrent_maximum_uploads_stay_within_the_decode_budget(
    server: tuple[Server, str],
) -> None:
    srv, token = server
    files = [max_size_png(seed) for seed in range(8)]
    assert max(len(f) for f in files) < 25 * MIB
    pid = worker_pid(srv)
    assert post_image(srv, token, imagefiles_small_png())[0] == 201
    reset_peak(pid)
    idle = peak_rss(pid)
    results: list[tuple[int, dict[str, str], float]] = []

    def send(data: bytes) -> None:
        results.append(post_image(srv, token, data))

    threads = [threading.Thread(target=send, args=(f,)) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grown = peak_rss(pid) - idle
    statuses = sorted(status for status, _, _ in results)
    assert set(statuses) <= {201, 503}, statuses
    assert statuses.count(201) >= 2, statuses
    for status, headers, seconds in results:
        if status == 503:  # only after waiting its turn, and it says when to retry
            assert headers.get("Retry-After")
            assert seconds >= 30
    assert grown <= (BUDGET_MB + 256) * MIB, f"grew {grown / MIB:.0f} MiB"
