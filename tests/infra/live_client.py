"""Talk to a real gunicorn server the way browsers and scripts do: sign in, upload,
and hold raw sockets for requests whose bodies arrive slowly or late."""

from __future__ import annotations

import io
import random
import socket
import uuid
from dataclasses import dataclass

import requests
from PIL import Image

from helpers import attribute


def noise_png(seed: int, side: int = 256) -> bytes:
    """Return a PNG of random pixels (it does not compress: ~3 bytes a pixel)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class Account:
    """A signed-in browser session against a live server."""

    base: str
    session: requests.Session
    csrf: str

    def upload(self, data: bytes, timeout: float = 30) -> requests.Response:
        """Upload one image through the API, as the page's script does."""
        return self.session.post(
            f"{self.base}/api/v1/images",
            files={"file": ("photo.png", data, "image/png")},
            headers={"X-CSRFToken": self.csrf},
            timeout=timeout,
        )

    def cookie_header(self) -> str:
        """Return the session cookie as a Cookie header value."""
        return "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)


def sign_in(base: str, email: str) -> Account:
    """Sign in at the test identity provider; return the session and its CSRF token."""
    session = requests.Session()
    start = session.get(f"{base}/login", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    answer = requests.post(
        start.headers["Location"], data={"sub": email}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    done = session.get(answer.headers["Location"], allow_redirects=False, timeout=10)
    assert done.status_code == 302, done.text
    page = session.get(f"{base}/settings", timeout=10).text
    return Account(base, session, attribute(page, "meta", "content", name="csrf-token"))


def multipart(data: bytes) -> tuple[bytes, str]:
    """Return a multipart/form-data body holding ``data`` as the file, and its type."""
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="photo.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def open_upload(
    port: int, account: Account, body: bytes, content_type: str, extra: str = ""
) -> socket.socket:
    """Open a connection and send an upload's headers only; the caller sends the body.

    ``extra``: more header lines, each ending in CRLF (``Expect: 100-continue``).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        "POST /api/v1/images HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Cookie: {account.cookie_header()}\r\n"
        f"X-CSRFToken: {account.csrf}\r\n"
        f"{extra}"
        "\r\n"
    )
    sock.sendall(head.encode())
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response (status, lower-cased headers, body) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body
