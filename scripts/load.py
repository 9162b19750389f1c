"""`make load`: a bounded, mixed load on gunicorn; latency per route, errors, peak RSS.

Starts the container's command (``gunicorn --config gunicorn.conf.py``) on local disk
+ SQLite in a temporary directory, seeds one account with images and share links,
then runs ``--users`` client threads for ``--seconds``: gallery pages (a signed-in
browser's session), API listing, share-link views and uploads. Prints p50/p95/p99
per route, answers by status, and each worker's peak RSS (VmHWM). Always bounded:
the clients stop at the deadline, and the server is stopped whatever happens.

    python scripts/load.py --seconds 60 --users 16
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Signs the load run's own session cookie; the server and its data are thrown away after.
SECRET = "load-test-secret-key-that-is-long-enough-for-flask"  # noqa: S105
# Route mix, as weights: mostly reading, as an image host is used.
MIX = {"gallery": 30, "api_list": 25, "share_view": 25, "upload": 20}


def main() -> None:
    """Run the load and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("PICBUCKET_WORKERS", 1)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PICBUCKET_THREADS", 8)))
    parser.add_argument("--seed-images", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="picbucket-load-") as tmp:
        data_dir = Path(tmp) / "data"
        port = _free_port()
        env = _env(data_dir, port, args.workers, args.threads)
        server = _start(env, Path(tmp) / "gunicorn.log", port)
        try:
            cookie, token = _account(env)
            shares = _seed(port, token, args.seed_images)
            rss = RssSampler(server.pid)
            rss.start()
            results = _run(port, cookie, token, shares, args.users, args.seconds)
            rss.stop()
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        _report(results, rss.peaks, args)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(data_dir: Path, port: int, workers: int, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICBUCKET_")}
    env.update(
        PORT=str(port),
        PICBUCKET_DATA_DIR=str(data_dir),
        PICBUCKET_SECRET_KEY=SECRET,
        PICBUCKET_WORKERS=str(workers),
        PICBUCKET_THREADS=str(threads),
        PICBUCKET_RATE_LIMIT_UPLOAD="100000 per minute",
        PICBUCKET_RATE_LIMIT_API="100000 per minute",
        PICBUCKET_LOG_LEVEL="WARNING",
    )
    return env


def _start(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(gunicorn), "--config", "gunicorn.conf.py", "picbucket:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-2000:]}")
        if _request(port, "GET", "/healthz")[0] == 200:
            return server
        time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start within 60 s")


def _account(env: dict[str, str]) -> tuple[str, str]:
    """Create a user; return a signed-in browser's cookie header and an API token."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("PICBUCKET_")})
    from picbucket.app import create_app
    from picbucket.domain import User, user_id_for, utcnow
    from picbucket.services.tokens import create_token
    from picbucket.settings import Settings

    app = create_app(Settings.from_env(for_maintenance=True))
    backends = app.extensions["picbucket"]
    subject = uuid.uuid4().hex[:8]
    user = backends.users.upsert(
        User(
            id=user_id_for("https://load.example", subject),
            issuer="https://load.example",
            subject=subject,
            email=f"load-{subject}@example.com",
            name="Load",
            created=utcnow(),
        )
    )
    _token, secret = create_token(backends, user.id, "load")
    client = app.test_client()
    # A session as Flask-Login writes it after sign-in ("<user id>:<session epoch>").
    with client.session_transaction() as session:
        session["_user_id"] = f"{user.id}:{user.session_epoch}"
        session["_fresh"] = True
    cookie = client.get_cookie("picbucket_session")
    backends.close()
    if cookie is None:
        raise SystemExit("could not build a session cookie")
    return f"picbucket_session={cookie.value}", secret


def _image(seed: int) -> bytes:
    import io

    from PIL import Image

    rng = random.Random(seed)
    img = Image.new("RGB", (1600, 1200), (rng.randrange(256), rng.randrange(256), 90))
    img.paste((20, 20, rng.randrange(256)), (0, 0, 400 + seed % 800, 300))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()


def _upload(port: int, token: str, data: bytes) -> tuple[int | None, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="l.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Idempotency-Key": uuid.uuid4().hex,
    }
    return _request(port, "POST", "/api/v1/images", body, headers)


def _seed(port: int, token: str, count: int) -> list[str]:
    """Upload ``count`` images and share a quarter of them; return the share paths."""
    import json

    shares = []
    for i in range(count):
        status, body = _upload(port, token, _image(i))
        if status != 201:
            raise SystemExit(f"seeding failed: {status} {body[:200]!r}")
        if i % 4 == 0:
            image_id = json.loads(body)["id"]
            status, body = _request(
                port,
                "POST",
                f"/api/v1/images/{image_id}/shares",
                b'{"expires": "1d"}',
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            url = json.loads(body)["share_url"]
            shares.append(re.sub(r"^https?://[^/]+", "", url))
    return shares


def _request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int | None, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None, b""
    finally:
        conn.close()


Results = dict[str, list[tuple[float, int | None]]]


def _run(
    port: int, cookie: str, token: str, shares: list[str], users: int, seconds: float
) -> Results:
    results: Results = defaultdict(list)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    uploads = [_image(1000 + i) for i in range(8)]
    bearer = {"Authorization": f"Bearer {token}"}

    def user(seed: int) -> None:
        rng = random.Random(seed)
        routes, weights = zip(*MIX.items(), strict=True)
        while time.monotonic() < deadline:
            route = rng.choices(routes, weights)[0]
            started = time.monotonic()
            if route == "gallery":
                status, _ = _request(port, "GET", "/", headers={"Cookie": cookie})
            elif route == "api_list":
                status, _ = _request(port, "GET", "/api/v1/images?limit=30", headers=bearer)
            elif route == "share_view":
                status, _ = _request(port, "GET", rng.choice(shares))
            else:
                status, _ = _upload(port, token, rng.choice(uploads))
            with lock:
                results[route].append((time.monotonic() - started, status))

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)  # bounded: a stuck request cannot hold the run open
    return results


class RssSampler:
    """Read each gunicorn worker's peak RSS (VmHWM) every 0.5 s."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            children = Path(f"/proc/{self.master}/task/{self.master}/children")
            try:
                pids = [int(pid) for pid in children.read_text().split()]
            except OSError:
                pids = []
            for pid in pids:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                found = re.search(r"VmHWM:\s+(\d+) kB", status)
                if found:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), int(found.group(1)) * 1024)
            if self._stop.wait(0.5):
                return


def _pct(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def _report(results: Results, peaks: dict[int, int], args: Any) -> None:
    cpus = os.cpu_count()
    print(
        f"\nConfiguration: gunicorn gthread, {args.workers} worker(s) x {args.threads} threads, "
        f"local disk + SQLite; {args.users} client threads for {args.seconds:.0f} s on the "
        f"same machine ({cpus} CPUs, {platform.machine()}, Python {platform.python_version()}); "
        f"{args.seed_images} seeded 1600x1200 JPEGs, uploads of the same size.\n"
    )
    print("| route | requests | p50 ms | p95 ms | p99 ms | answers |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    statuses: Counter[str] = Counter()
    for route in MIX:
        samples = results.get(route, [])
        if not samples:
            print(f"| {route} | 0 | | | | |")
            continue
        times = sorted(t * 1000 for t, _ in samples)
        counts = Counter(str(status) for _, status in samples)
        statuses.update(counts)
        answers = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
        print(
            f"| {route} | {len(samples)} | {_pct(times, 50):.0f} | {_pct(times, 95):.0f} | "
            f"{_pct(times, 99):.0f} | {answers} |"
        )
    errors = {s: n for s, n in statuses.items() if not s.startswith("2")}
    print(f"\nErrors by status: {errors or 'none'}")
    for pid, peak in sorted(peaks.items()):
        print(f"Peak RSS of worker {pid}: {peak / (1024 * 1024):.0f} MiB")


if __name__ == "__main__":
    main()
