"""A per-process budget of decode memory that uploads share.

Decoding is where an upload's memory goes (a 50 MP PNG is 200 MB of pixels), and
eight at once would outgrow any small instance. Each upload acquires its estimated
cost before decoding; past the budget it waits, then gives up with ``Busy`` (503 +
Retry-After) rather than letting the process be killed for memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from picbucket.domain import Busy


class DecodeBudget:
    """Bytes of decode memory, shared by every thread of one process."""

    def __init__(self, total_bytes: int, wait_seconds: float) -> None:
        self.total = total_bytes
        self.wait_seconds = wait_seconds
        self._in_use = 0
        self._peak = 0
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        """Return the bytes held right now."""
        return self._in_use

    @property
    def peak(self) -> int:
        """Return the most bytes ever held at once (for tests and the bench)."""
        return self._peak

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        """Hold ``cost`` bytes while the block runs; raise ``Busy`` if they never free up.

        A cost above the whole budget is capped to it: that upload runs alone.
        """
        cost = max(1, min(cost, self.total))
        deadline = time.monotonic() + self.wait_seconds
        with self._changed:
            while self._in_use + cost > self.total:
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    if self._in_use + cost <= self.total:
                        break
                    raise Busy(
                        "Many large images are being processed right now. "
                        "Please try again in a few seconds."
                    )
            self._in_use += cost
            self._peak = max(self._peak, self._in_use)
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= cost
                self._changed.notify_all()
