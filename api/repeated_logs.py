"""Repeated identical warnings and errors are logged a few times, then counted, then summarised.

A flood of bad connections makes uvicorn log the same line for each one ("Invalid HTTP request received.",
a connection limit reached, the event loop out of descriptors): 350 MB of identical lines in 70 s once,
which filled the disk and buried everything else. `RepeatedLogFilter` lets the first `burst` copies of a
line through in each `window_seconds`, marks the last of them with a note that more are being held back,
and when the window is over logs one line saying how many were: "... (repeated 12345 more times in 30 s)".

A line is "identical" by logger, level and formatted message. Records below WARNING pass untouched
(access logs carry the client's address and port, so no two are identical anyway). Summaries are written
when the next line comes, or by a background sweep at the end of each window when the flood has stopped
(`install_repeated_log_filter`); a process killed mid-window loses that window's count.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["FLOODED_LOGGERS", "RepeatedLogFilter", "install_repeated_log_filter"]

# Enough copies to see that a line repeats and what it says.
DEFAULT_BURST = 3
# A flood that goes on shows up as one summary line every half-minute.
DEFAULT_WINDOW_SECONDS = 30.0
# Distinct lines tracked at once; past this the oldest windows are summarised and forgotten, so a flood
# of lines that each differ (an address in every one) cannot grow memory.
MAX_TRACKED_LINES = 1000

FLOODED_LOGGERS = ("uvicorn.error", "asyncio")
"""The loggers a connection flood writes to: uvicorn's protocol warnings and the event loop's accept errors."""

_SUMMARY_ATTRIBUTE = "signoff_repeat_summary"


_LineKey = tuple[str, int, str]  # logger name, level, formatted message


@dataclass(kw_only=True)
class _Window:
    key: _LineKey
    pathname: str  # where the line is logged from, for the summary (not the record: it may hold a traceback)
    lineno: int
    started_at: float
    passed: int = 1
    held_back: int = 0


class RepeatedLogFilter(logging.Filter):
    """Lets `burst` identical warnings or errors through per `window_seconds`, then summarises the rest."""

    def __init__(
        self,
        *,
        burst: int = DEFAULT_BURST,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if burst < 1 or window_seconds <= 0:
            raise ValueError(f"burst must be at least 1 and window_seconds positive; got {burst!r}, {window_seconds!r}")
        self.burst = burst
        self.window_seconds = window_seconds
        self._clock = clock
        # In the order the windows started (a key starting a new window is inserted again), so the
        # finished ones are always at the front.
        self._windows: dict[_LineKey, _Window] = {}
        self._lock = threading.RLock()  # loggers are called from any thread

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, _SUMMARY_ATTRIBUTE, False):
            return True
        with self._lock:
            now = self._clock()
            self._summarise_finished(now=now)
            key = (record.name, record.levelno, record.getMessage())
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= MAX_TRACKED_LINES:
                    self._summarise(list(self._windows.values())[: MAX_TRACKED_LINES // 2], now=now)
                window = self._windows[key] = _Window(
                    key=key, pathname=record.pathname, lineno=record.lineno, started_at=now
                )
            elif window.passed < self.burst:
                window.passed += 1
            else:
                window.held_back += 1
                return False
            if window.passed == self.burst:
                _append(record, f"(further identical messages are counted for {self.window_seconds:g} s)")
            return True

    def flush(self) -> None:
        """Log the summary of every window now, finished or not (at exit)."""
        with self._lock:
            self._summarise(list(self._windows.values()), now=self._clock())

    def summarise_finished(self) -> None:
        """Log the summary of every window that is over (without waiting for its line to come again)."""
        with self._lock:
            self._summarise_finished(now=self._clock())

    def _summarise_finished(self, *, now: float) -> None:
        finished: list[_Window] = []
        for window in self._windows.values():
            if now - window.started_at < self.window_seconds:
                break
            finished.append(window)
        self._summarise(finished, now=now)

    def _summarise(self, windows: Iterable[_Window], *, now: float) -> None:
        """Forget these windows, logging for each how many lines it held back."""
        for window in windows:
            del self._windows[window.key]
            if window.held_back:
                name, level, message = window.key
                seconds = max(now - window.started_at, 0.0)
                summary = logging.LogRecord(
                    name,
                    level,
                    window.pathname,
                    window.lineno,
                    f"{message} (repeated {window.held_back} more times in {seconds:.0f} s)",
                    None,
                    None,
                )
                setattr(summary, _SUMMARY_ATTRIBUTE, True)
                logging.getLogger(name).handle(summary)


def _append(record: logging.LogRecord, note: str) -> None:
    record.msg = f"{record.getMessage()} {note}"
    record.args = None


def install_repeated_log_filter(
    logger_names: Iterable[str] = FLOODED_LOGGERS, *, log_filter: RepeatedLogFilter | None = None
) -> RepeatedLogFilter:
    """Add one `RepeatedLogFilter` to each of these loggers, with a daemon thread that writes the summaries
    of finished windows, and a flush at a normal exit (uvicorn ends a SIGTERM by re-raising it, so not then)."""
    log_filter = log_filter or RepeatedLogFilter()
    for name in logger_names:
        logging.getLogger(name).addFilter(log_filter)

    def sweep() -> None:
        while True:
            time.sleep(log_filter.window_seconds / 2)
            log_filter.summarise_finished()

    threading.Thread(target=sweep, name="signoff-repeated-logs", daemon=True).start()
    atexit.register(log_filter.flush)
    return log_filter
