"""Deadlines and circuit breakers around the storage backends.

Why one wrapper here rather than timeouts in each adapter: the Google clients take
per-attempt timeouts, but their retry loops, transactions and streams can still run
for minutes (the readiness ping once hung 120 s with ``timeout=5``), and SQLite on a
stalled disk has no timeout at all. Running each port call on a small per-backend
thread pool and waiting at most the deadline for it bounds what a request thread can
spend on a backend, whatever the adapter does. A call that overruns keeps running on
its pool thread and its result is dropped: writes follow the pending → ready order,
so a late write leaves only what reconcile already cleans up.

The breaker makes a known-down backend fail at once instead of every request waiting
out the deadline: after ``failures`` consecutive failures it opens for ``cooldown``
seconds, then lets one probe call through; success closes it.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar, cast

from picbucket.domain import BackendUnavailable, StorageFull
from picbucket.ports import HealthCheck

T = TypeVar("T")

# Threads per backend pool. Calls beyond this queue (and time out in the queue); a
# hung backend can pin at most this many threads, since the breaker stops new calls.
POOL_THREADS = 32
# What a person reads; "storage" covers the database and the image files alike.
_MESSAGE = "Storage is not answering right now; please try again in a few seconds."


class BackendDown(BackendUnavailable):
    """A backend timed out or is known to be down; say when to try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def counts_as_failure(exc: BaseException) -> bool:
    """Tell whether an error means the backend is unwell (not a refusal such as NotFound)."""
    return isinstance(exc, (BackendUnavailable, OSError, TimeoutError))


class CircuitBreaker:
    """Consecutive-failure breaker: closed → open (fail fast) → one probe → closed."""

    def __init__(
        self,
        failures: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        """Tell whether calls are being refused right now."""
        with self._lock:
            return self._open_until is not None and (
                self._probing or self._clock() < self._open_until
            )

    def before_call(self) -> bool:
        """Admit a call (True if it is the probe); raise ``BackendDown`` while open."""
        with self._lock:
            if self._open_until is None:
                return False
            now = self._clock()
            if now < self._open_until or self._probing:
                wait = max(self._open_until - now, 1.0)
                raise BackendDown(_MESSAGE, retry_after=int(wait + 0.999))
            self._probing = True
            return True

    def record_success(self) -> None:
        """Close the breaker: the backend answered."""
        with self._lock:
            self._consecutive = 0
            self._open_until = None
            self._probing = False

    def record_failure(self) -> None:
        """Count a failure; open (or re-open after a failed probe) at the threshold."""
        with self._lock:
            self._consecutive += 1
            if self._probing or self._consecutive >= self.failures:
                self._open_until = self._clock() + self.cooldown
                self._probing = False

    def release_probe(self) -> None:
        """Let another probe through after one ended neither up nor down (e.g. NotFound)."""
        with self._lock:
            self._probing = False


# Per thread: when the current request last waited out each backend's deadline.
_waited = threading.local()


def new_request() -> None:
    """Forget earlier requests' timeouts on this thread (a Flask before_request hook)."""
    _waited.__dict__.clear()


class Guard:
    """Run one backend's calls on its own pool, within a deadline, behind a breaker."""

    def __init__(
        self,
        name: str,
        deadline: float,
        breaker: CircuitBreaker,
        free_space: Callable[[], bool] | None = None,
    ) -> None:
        """Bound calls by ``deadline``; on ``StorageFull`` call ``free_space`` and retry once.

        ``free_space`` returns True if it freed something (the ballast). A record
        store's failed transaction changed nothing, so running it again is safe.
        """
        self.name = name
        self.deadline = deadline
        self.breaker = breaker
        self._free_space = free_space
        self._pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix=f"picbucket-{name}")

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return ``fn(*args, **kwargs)``, or raise ``BackendDown`` past the deadline."""
        try:
            return self._call(fn, *args, **kwargs)
        except StorageFull:
            if self._free_space is None or not self._free_space():
                raise
        return self._call(fn, *args, **kwargs)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # A request that has just waited out the deadline fails its next calls (the
        # cleanup after a failed upload, say) at once: one deadline per request, not
        # one per call. Other requests still try until the breaker opens.
        timed_out = _waited.__dict__.get(self.name)
        if timed_out is not None and time.monotonic() - timed_out < self.deadline:
            raise BackendDown(_MESSAGE, retry_after=max(int(self.breaker.cooldown), 1))
        probe = self.breaker.before_call()
        # Carry context variables (the request's log fields) onto the pool thread.
        context = contextvars.copy_context()
        try:
            future = self._pool.submit(context.run, fn, *args, **kwargs)
        except RuntimeError:
            # The backends were closed (the app is shutting down): say so, not a 500.
            raise BackendDown(_MESSAGE, retry_after=1) from None
        try:
            result = future.result(timeout=self.deadline)
        except FutureTimeout:
            future.cancel()  # still queued: never start it
            self.breaker.record_failure()
            _waited.__dict__[self.name] = time.monotonic()
            raise BackendDown(_MESSAGE, retry_after=max(int(self.breaker.cooldown), 1)) from None
        except BaseException as exc:
            if counts_as_failure(exc):
                self.breaker.record_failure()
            elif probe:
                self.breaker.release_probe()
            raise
        self.breaker.record_success()
        if inspect.isgenerator(result):
            # scan()/unfinished() do their I/O while iterated: bound every step.
            return cast(T, self._iterate(result))
        return result

    def _iterate(self, generator: Iterator[Any]) -> Iterator[Any]:
        sentinel = object()
        while True:
            item = self.call(next, generator, sentinel)
            if item is sentinel:
                return
            yield item

    def close(self) -> None:
        """Stop the pool's idle threads; calls still running finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)


# Calls that take as long as their caller's data does: a streamed write of a 10 GB
# export runs for minutes by design. Each of its requests is still bounded by the
# client's per-attempt cap, and a failure surfaces as the adapter's own error.
UNBOUNDED = frozenset({"put_stream"})


class _Guarded:
    """Proxy whose public methods run through a ``Guard``."""

    def __init__(self, target: object, guard: Guard) -> None:
        self._target = target
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr) or name in UNBOUNDED:
            return attr
        guard = self._guard

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return guard.call(attr, *args, **kwargs)

        return call

    def __repr__(self) -> str:
        return f"guarded({self._target!r}, {self._guard.name})"


def guarded(target: T, guard: Guard) -> T:
    """Return ``target`` with every public method bounded by ``guard``."""
    return cast(T, _Guarded(target, guard))


# A readiness ping's own limit: inside /readyz's 1.5 s budget, so a ping started by
# one probe is over by the next.
PROBE_TIMEOUT = 1.2


class OneAttempt:
    """Health check making a single attempt, without the client library's retries.

    A ping that retries (Cloud Storage backs off for up to 120 s) is still asleep
    between attempts when the backend comes back, and readiness would report the
    recovery only once it wakes; one short attempt per probe reports it at once.
    """

    def __init__(self, attempt: Callable[[], object]) -> None:
        self._attempt = attempt

    def ping(self) -> None:
        """Make the attempt; raise whatever it raises."""
        self._attempt()


class BreakerAwareCheck:
    """A health check whose success also closes the backend's breaker.

    Readiness pings the backend directly (never through the breaker), so it sees a
    recovery at once; telling the breaker lets requests through again as soon.
    """

    def __init__(self, check: HealthCheck, breaker: CircuitBreaker) -> None:
        self._check = check
        self._breaker = breaker

    def ping(self) -> None:
        """Ping the backend; on success close its breaker."""
        self._check.ping()
        self._breaker.record_success()


class Ballast:
    """Bytes set aside in a file, given back when the disk fills so deletes can run.

    Deleting needs a little space too: SQLite appends every transaction to its
    write-ahead log before it can free pages. Uploads stop at the blob store's reserve,
    but something else (logs, another program) can still fill the disk to the last
    byte; then releasing the ballast lets deletes, which free space, go through.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Create the ballast if it is missing and the disk can spare it twice over."""
        with self._lock:
            if not self.size or self.path.exists():
                return
            if shutil.disk_usage(self.path.parent).free < 3 * self.size:
                return
            partial = self.path.with_suffix(".partial")
            try:
                with partial.open("wb") as file:
                    # Real blocks, not a sparse file; fallocate is instant where it works.
                    try:
                        os.posix_fallocate(file.fileno(), 0, self.size)
                    except OSError:
                        file.write(b"\0" * self.size)
                partial.replace(self.path)
            except OSError:
                partial.unlink(missing_ok=True)

    def release(self) -> bool:
        """Delete the ballast; return True if that freed space."""
        with self._lock:
            try:
                self.path.unlink()
            except FileNotFoundError:
                return False
            return True


class DiskSpace:
    """Health check: the data directory's disk has at least ``floor`` bytes free."""

    def __init__(self, path: Path, floor: int, ballast: Ballast | None = None) -> None:
        self.path = path
        self.floor = floor
        self.ballast = ballast

    def free_bytes(self) -> int:
        """Return the bytes an unprivileged writer may still use."""
        return shutil.disk_usage(self.path).free

    def ping(self) -> None:
        """Raise ``LowDiskSpace`` below the floor."""
        free = self.free_bytes()
        if free < self.floor:
            raise LowDiskSpace(free, self.floor)
        if self.ballast is not None:
            self.ballast.ensure()  # space is back: set the ballast aside again


class LowDiskSpace(OSError):
    """The disk is below its free-space floor (readiness names the numbers)."""

    def __init__(self, free: int, floor: int) -> None:
        super().__init__(f"{free} bytes free, below the floor of {floor}")
        self.free = free
        self.floor = floor


def cap_firestore_client(client: Any, deadline: float) -> None:
    """Make every Firestore RPC's default timeout and retry deadline ``deadline``.

    The generated client defaults to 60 s per attempt and 60 s of retries per call;
    calls in the adapters pass neither, so the defaults are the one place to change.
    This reaches into the generated transport (``_wrapped_methods``), a private but
    long-stable structure; if it ever moves, only this per-RPC cap is lost and the
    ``Guard`` deadline still bounds every call.
    """
    try:
        wrapped = client._firestore_api._transport._wrapped_methods
    except AttributeError:  # pragma: no cover - a future client layout
        return
    for method in wrapped.values():
        if hasattr(method, "_timeout"):
            method._timeout = deadline
        retry = getattr(method, "_retry", None)
        if retry is not None and hasattr(retry, "with_timeout"):
            method._retry = retry.with_timeout(deadline)


def cap_http_session(session: Any, per_attempt: float) -> None:
    """Clamp every request's timeout on a requests-style ``session`` to ``per_attempt``.

    Cloud Storage's client defaults to 60 s per HTTP attempt (and retries for up to
    120 s); its methods are called without a timeout, so the session is where to cap.
    """
    original = session.request

    @functools.wraps(original)
    def request(*args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = _clamp_timeout(kwargs.get("timeout"), per_attempt)
        return original(*args, **kwargs)

    session.request = request


def _clamp_timeout(timeout: Any, cap: float) -> Any:
    if timeout is None:
        return cap
    if isinstance(timeout, tuple):
        return tuple(cap if t is None else min(t, cap) for t in timeout)
    return min(float(timeout), cap)
