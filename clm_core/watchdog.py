"""A time limit for DuckDB work (DuckDB has no statement timeout).

:func:`time_limited` watches a block of code that queries one or more DuckDB connections (cursors):
a background thread calls their ``interrupt()`` once the block has run longer than ``seconds``, or
as soon as ``still_wanted()`` says nobody waits for the result any more (the browser session that
asked for it is gone). It keeps interrupting until the block ends, since a computation may start
another query after the interrupted one. The block then raises :class:`Stopped` (also when the
interrupt fell between two queries and nothing raised), so a stopped computation never passes for
a result, and a cache around it stores nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

_LOG = logging.getLogger(__name__)


class Stopped(Exception):
    """A computation interrupted by :func:`time_limited`: ``reason`` is "time" or "gone"."""

    def __init__(self, reason: str, seconds: float, elapsed: float):
        self.reason, self.seconds, self.elapsed = reason, seconds, elapsed
        what = (f"took longer than {seconds:g} s" if reason == "time"
                else "was no longer wanted (its session ended)")
        super().__init__(f"the computation {what} and was stopped after {elapsed:.1f} s")


class Watch:
    """The state of one :func:`time_limited` block."""

    def __init__(self, seconds: float, still_wanted: Callable[[], bool] | None, poll: float):
        self.seconds, self.still_wanted, self.poll = seconds, still_wanted, poll
        self.started = time.monotonic()
        self.reason: str | None = None
        self._connections: list = []
        self._lock = threading.Lock()
        self._done = threading.Event()

    def watch(self, connection) -> None:
        """Interrupt ``connection`` too (a cursor opened inside the block)."""
        with self._lock:
            self._connections.append(connection)
            fired = self.reason is not None
        if fired:
            _interrupt(connection)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return max(self.seconds - self.elapsed, 0.0)

    def _check(self) -> str | None:
        if self.elapsed >= self.seconds:
            return "time"
        if self.still_wanted is not None:
            try:
                if not self.still_wanted():
                    return "gone"
            except Exception:  # noqa: BLE001 - a failing check must not stop the computation
                _LOG.exception("still_wanted() failed")
        return None

    def _run(self) -> None:
        while not self._done.wait(min(self.poll, max(self.remaining(), 0.001))):
            if self.reason is None:
                self.reason = self._check()
            if self.reason is not None:
                with self._lock:
                    connections = list(self._connections)
                for connection in connections:
                    _interrupt(connection)


def _interrupt(connection) -> None:
    raw = getattr(connection, "con", connection)  # an Ibis DuckDB backend or the DuckDB connection itself
    try:
        raw.interrupt()
    except Exception:  # noqa: BLE001 - a closed cursor has nothing left to interrupt
        pass


@contextlib.contextmanager
def time_limited(connection=None, seconds: float = 60.0, still_wanted: Callable[[], bool] | None = None,
                 poll: float = 0.2):
    """Run the block with ``connection`` (a DuckDB connection/cursor or an Ibis DuckDB backend; more
    with ``watch.watch(...)``) interrupted after ``seconds`` or once ``still_wanted()`` is false.

    Yields the :class:`Watch`; raises :class:`Stopped` when it fired. ``still_wanted`` is called from
    the watchdog's thread every ``poll`` seconds.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    watch = Watch(float(seconds), still_wanted, poll)
    if connection is not None:
        watch.watch(connection)
    thread = threading.Thread(target=watch._run, name="clm-query-watchdog", daemon=True)
    thread.start()
    try:
        yield watch
    except Exception as exc:  # duckdb.InterruptException, or whatever a library made of it
        if watch.reason is None:  # not ours
            raise
        raise Stopped(watch.reason, watch.seconds, watch.elapsed) from exc
    finally:
        watch._done.set()
        thread.join()
    if watch.reason is not None:
        raise Stopped(watch.reason, watch.seconds, watch.elapsed)
