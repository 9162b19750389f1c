"""A gunicorn worker that lends a thread only to a request that has fully arrived.

gunicorn's gthread worker hands a connection to a thread as soon as its first bytes
arrive; the thread then reads the body at whatever pace the client sends it. Eight
clients trickling an upload at 10 bytes/s thus held all eight threads, and /healthz
and everyone else waited. Cloud Run's front end does not shield us: it streams
HTTP/1 request bodies to the container as they come rather than buffering them.

``BufferingThreadWorker`` reads each HTTP/1 request — headers and body — on the
worker's event loop (non-blocking, alongside the kept-alive connections it already
watches) into a spooled file, and submits it to the thread pool only when complete,
as nginx or waitress would. A slow client then costs a socket and a buffer, not a
thread; one that has not finished within ``PICBUCKET_REQUEST_READ_SECONDS`` is
dropped with 408. Bodies larger than the app accepts are handed over at once, so the
app can answer 413 without reading them. TLS and HTTP/2 (not used behind Cloud Run)
take gthread's usual path.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import IO, Any

from gunicorn.http import get_parser
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers import gthread

from picbucket import draining

# Headers larger than this are handed to gunicorn's parser, which refuses them.
MAX_HEAD = 64 * 1024
# Threads that finish graceful closes (each waits up to 2 s for the client's FIN).
CLOSER_THREADS = 16
# Bytes of a buffered request kept in memory; the rest spills to a temporary file.
SPOOL_MEMORY = 256 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_ALIVE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
    b'Connection: close\r\nContent-Length: 16\r\n\r\n{"status":"ok"}\n'
)
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 36\r\n\r\nThe request took too long to arrive.\n"
)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


class SpooledUnreader(SocketUnreader):  # type: ignore[misc]
    """Serve a request's bytes from the spool first, then from the socket."""

    def __init__(self, sock: Any, spool: IO[bytes]) -> None:
        super().__init__(sock)
        self._spool: IO[bytes] | None = spool

    def chunk(self, size_hint: int | None = None) -> bytes:
        """Return the next spooled bytes; once they run out, read the socket."""
        if self._spool is not None:
            data = self._spool.read(max(size_hint or 0, self.mxchunk))
            if data:
                return data
            self._spool.close()
            self._spool = None
        received: bytes = super().chunk(size_hint)
        return received


class _Incoming:
    """One HTTP/1 request being read on the event loop."""

    def __init__(self, deadline: float, body_limit: int) -> None:
        self.deadline = deadline
        self.body_limit = body_limit
        self.spool: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL_MEMORY)  # noqa: SIM115
        self.head = bytearray()
        self.head_done = False
        self.body_left: int | None = 0  # None: chunked, until the last chunk
        self.tail = b""
        self.wants_continue = False

    def feed(self, data: bytes) -> bool:
        """Take bytes from the socket; return True once the request is complete."""
        if not self.head_done:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return len(self.head) > MAX_HEAD  # let the parser refuse it
            head, data = bytes(self.head[: end + 4]), bytes(self.head[end + 4 :])
            self.head_done = True
            done = self._read_head(head)
            if self.wants_continue:
                # We answer "100 Continue" ourselves now; gunicorn, which would send
                # another once the body is here, need not see the expectation.
                head = _without_expect(head)
            self.spool.write(head)
            if done:
                return True
        self.spool.write(data)
        if self.body_left is None:
            self.tail = (self.tail + data)[-5:]
            return self.tail == b"0\r\n\r\n"
        self.body_left -= len(data)
        return self.body_left <= 0

    def _read_head(self, head: bytes) -> bool:
        """Learn the body's framing; return True if nothing more need be buffered."""
        lines = head.split(b"\r\n")
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                if not value.isdigit():
                    return True  # malformed: the parser answers 400
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"expect" and value.lower() == b"100-continue":
                self.wants_continue = lines[0].endswith(b"HTTP/1.1")
        if chunked:
            self.body_left = None
            return False
        self.body_left = length
        if length > self.body_limit:
            # Too big for the app: hand it over now, the app refuses it without reading
            # (and gunicorn keeps the 100-continue handshake to itself).
            self.wants_continue = False
            return True
        return length == 0

    def is_liveness_probe(self) -> bool:
        """Tell whether this is a bodiless ``GET /healthz``."""
        line = bytes(self.head[: self.head.find(b"\r\n")])
        return line.split(b" ")[:2] == [b"GET", b"/healthz"] and self.body_left == 0

    def handover(self) -> IO[bytes]:
        """Return the spool, rewound for reading."""
        self.spool.seek(0)
        return self.spool


def _without_expect(head: bytes) -> bytes:
    """Return the request head without its Expect header line(s)."""
    lines = head.split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(b"expect:")]
    return b"\r\n".join(kept)


class BufferingThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    """gthread, except that threads get only requests whose bytes have all arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_seconds = _env_number("PICBUCKET_REQUEST_READ_SECONDS", 300.0)
        # The app's own cap (settings.max_upload_mb plus form overhead), in bytes.
        upload_mb = _env_number("PICBUCKET_MAX_UPLOAD_MB", 25.0)
        self.body_limit = int((upload_mb + 1) * 1024 * 1024)
        self.incoming: dict[Any, _Incoming] = {}
        self._current = threading.local()
        # gthread closes a "Connection: close" socket gracefully on its event loop,
        # waiting up to 2 s for the client to close its side: a few clients that do
        # not froze the loop (and /healthz, and shutdown). Those closes run here.
        self._closer = ThreadPoolExecutor(CLOSER_THREADS, thread_name_prefix="close")
        # Requests on the pool now, and when one last finished (both event-loop only).
        self._in_pool = 0
        self._last_finish = time.monotonic()
        self.wedged_after = _env_number("PICBUCKET_WEDGED_SECONDS", 30.0)

    def handle_exit(self, sig: int, frame: Any) -> None:
        """On SIGTERM, start draining (see picbucket.draining), then stop as gthread does."""
        draining.begin()
        super().handle_exit(sig, frame)

    def load_wsgi(self) -> None:
        """Load the app, and tell it which requests began before the drain."""
        super().load_wsgi()
        app: Any = getattr(self, "wsgi")  # noqa: B009 - set by gunicorn, untyped

        def call(environ: dict[str, Any], start_response: Any) -> Any:
            conn = getattr(self._current, "conn", None)
            environ[draining.IN_FLIGHT] = bool(getattr(conn, "began_before_drain", False))
            return app(environ, start_response)

        self.wsgi = call

    def handle_request(self, req: Any, conn: Any) -> Any:
        """Serve one request (on a pool thread), remembering its connection."""
        self._current.conn = conn
        try:
            return super().handle_request(req, conn)
        finally:
            self._current.conn = None

    def enqueue_req(self, conn: Any) -> None:
        """Read the request on the event loop first, unless gthread must handle it."""
        # A request that starts now began before the drain if the worker is alive.
        conn.began_before_drain = self.alive
        if not getattr(conn, "closes_off_loop", False):
            conn.close = partial(self._close, conn)
            conn.closes_off_loop = True
        parser = conn.parser
        if (
            self.cfg.is_ssl
            or conn.is_http2
            or not self.alive  # draining: let gthread answer with Connection: close
            or (parser is not None and parser.unreader.buf.getvalue())  # pipelined
            or gthread.negotiation.prior_knowledge_allowed(self.cfg, conn.client)
        ):
            self._submit(conn)
            return
        conn.sock.setblocking(False)
        self.incoming[conn] = _Incoming(time.monotonic() + self.read_seconds, self.body_limit)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: Any, _sock: Any) -> None:
        incoming = self.incoming[conn]
        try:
            data = conn.sock.recv(256 * 1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._forget(conn)
            self.nr_conns -= 1
            conn.close()
            return
        complete = incoming.feed(data)
        if incoming.wants_continue:
            incoming.wants_continue = False
            with contextlib.suppress(OSError):
                conn.sock.send(_CONTINUE)
        if complete:
            self._forget(conn)
            if incoming.is_liveness_probe() and self._answer_probe(conn):
                return
            self._hand_over(conn, incoming)

    def _answer_probe(self, conn: Any) -> bool:
        """Answer /healthz from the event loop when every thread is busy but working.

        Normally the app answers /healthz. When all threads are taken (eight uploads
        decoding, or waiting out a backend's deadline) the probe would queue behind
        them and Cloud Run would restart a healthy instance. A pool that has finished
        nothing for ``wedged_after`` seconds is another matter: the probe then queues,
        fails, and the restart is right.
        """
        busy = self._in_pool >= self.cfg.threads
        working = time.monotonic() - self._last_finish < self.wedged_after
        if not (busy and working):
            return False
        with contextlib.suppress(OSError):
            conn.sock.send(_ALIVE)
        self.nr_conns -= 1
        conn.close(graceful=True)
        return True

    def finish_request(self, conn: Any, fs: Any) -> None:
        """Note that the pool finished a request, then carry on as gthread does."""
        self._in_pool -= 1
        self._last_finish = time.monotonic()
        super().finish_request(conn, fs)

    def _submit(self, conn: Any) -> None:
        self._in_pool += 1
        super().enqueue_req(conn)

    def _close(self, conn: Any, graceful: bool = False) -> None:
        if graceful:
            self._closer.submit(gthread.TConn.close, conn, True)
        else:
            gthread.TConn.close(conn)

    def _hand_over(self, conn: Any, incoming: _Incoming) -> None:
        if conn.parser is None:
            conn.parser = get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader = SpooledUnreader(conn.sock, incoming.handover())
        conn.data_ready = True
        conn.sock.setblocking(True)
        self._submit(conn)

    def _forget(self, conn: Any) -> None:
        self.incoming.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def murder_pending(self) -> None:
        """Also drop connections whose request has not arrived within the read limit."""
        super().murder_pending()
        now = time.monotonic()
        for conn, incoming in list(self.incoming.items()):
            if incoming.deadline <= now:
                self._forget(conn)
                incoming.spool.close()
                with contextlib.suppress(OSError):
                    conn.sock.send(_TIMEOUT)
                self.nr_conns -= 1
                conn.close()
