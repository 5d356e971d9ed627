"""`signoff serve`'s HTTP edge: uvicorn's h11 protocol with a header timeout and a connection limit.

uvicorn closes a keep-alive connection that stays idle after a response, but nothing closes a connection
that never sends a complete request head: one that sends nothing at all, or trickles a header a byte at a
time. Thousands of those held every file descriptor, and then the server could accept nobody.
`bounded_protocol` adds, to uvicorn's own `H11Protocol`:

- a header timeout: a connection must deliver a complete request head within `header_timeout_seconds` of
  opening, or of its previous response, whatever it sends meanwhile; otherwise it is closed;
- a connection limit: when a new connection would pass `max_connections`, the connection idle the longest
  (no request in progress) is closed to make room, or the new one if every connection is busy. A real
  client sends its request at once, so it is not the one closed, and legitimate requests keep going while
  idle connections flood in. The limit sits below the open-file limit (`default_max_connections`), so the
  database, log files and outgoing clients keep the descriptors they need;
- a listen backlog within the descriptors kept back: the event loop accepts up to `backlog` connections
  in one go before any of them is counted, and closes the ones made room for only an iteration later, so
  several batches can be open beyond the limit at once; a larger backlog ran out of descriptors.

uvicorn's `limit_concurrency` is not used: it counts idle connections too and answers *every* request
with 503 once they reach it, which is what a flood of idle connections wants.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

if TYPE_CHECKING:
    from signoff.api.settings import Settings

__all__ = ["BoundedH11Protocol", "bounded_protocol", "default_max_connections", "uvicorn_options"]

# Descriptors kept back from connections, at least this many or 10% of the limit: the database (SQLite
# and its WAL, or a PostgreSQL pool), log files, the providers' HTTP clients, and the listening socket.
MIN_RESERVED_DESCRIPTORS = 128
RESERVED_DESCRIPTOR_SHARE = 0.10
# Even on a tiny limit, serve a handful of clients rather than none.
MIN_CONNECTIONS = 16
# uvicorn's default listen backlog, the most we use; and the least, below which a burst of real clients
# finds the kernel's queue full (the loop drains it in well under a millisecond when it is not flooded).
MAX_BACKLOG = 2048
MIN_BACKLOG = 16
# Used where the open-file limit cannot be read (no `resource` module, or no limit at all).
FALLBACK_MAX_CONNECTIONS = 10_000

_logger = logging.getLogger("uvicorn.error")


def _open_file_limit() -> int | None:
    try:
        import resource
    except ImportError:  # not on Unix: no limit to read
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def _reserved_descriptors(open_files: int) -> int:
    return max(MIN_RESERVED_DESCRIPTORS, int(open_files * RESERVED_DESCRIPTOR_SHARE))


def default_max_connections() -> int:
    """The connection limit for this process: its open-file limit less the descriptors kept back."""
    open_files = _open_file_limit()
    if open_files is None:
        return FALLBACK_MAX_CONNECTIONS
    return max(open_files - _reserved_descriptors(open_files), MIN_CONNECTIONS)


def _backlog() -> int:
    """An eighth of the descriptors kept back: the few accepted batches in flight past the limit then fit
    beside the database and logs (measured: a quarter of them still ran out under a flood)."""
    open_files = _open_file_limit()
    if open_files is None:
        return MAX_BACKLOG
    return min(MAX_BACKLOG, max(_reserved_descriptors(open_files) // 8, MIN_BACKLOG))


class _Connections:
    """The connections of one server that have no request in progress, longest idle first."""

    def __init__(self, *, max_connections: int) -> None:
        self.max_connections = max_connections
        self.idle: OrderedDict[BoundedH11Protocol, None] = OrderedDict()


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a connection limit (see the module docstring).

    Use `bounded_protocol` to make one for a server: the limits are class attributes shared by its
    connections.
    """

    header_timeout_seconds: float = 10.0  # replaced by `bounded_protocol`
    book: _Connections = _Connections(max_connections=FALLBACK_MAX_CONNECTIONS)

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._awaited_after: object = None  # the cycle before the request head the deadline waits for

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.book.max_connections:
            if self.book.idle:
                longest_idle, _ = self.book.idle.popitem(last=False)
                _logger.warning(
                    "connection limit (%d) reached: closed the connection idle the longest", self.book.max_connections
                )
                longest_idle.close_idle()
            else:
                _logger.warning(
                    "connection limit (%d) reached and every connection busy: refused a new one",
                    self.book.max_connections,
                )
                transport.close()
                return
        self._await_request_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_deadline is not None and self.cycle is not self._awaited_after:
            self._stop_waiting()  # a request head arrived: the request runs, with no header deadline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._await_request_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def close_idle(self) -> None:
        """Close this connection, which has no request in progress."""
        self._stop_waiting()
        if not self.transport.is_closing():
            # Mid-way through a request head there is nothing to finish politely: h11 refuses, and we close.
            with contextlib.suppress(h11.LocalProtocolError):
                self.conn.send(h11.ConnectionClosed())
            self.transport.close()

    def _await_request_head(self) -> None:
        self._stop_waiting()
        self._awaited_after = self.cycle
        self._header_deadline = self.loop.call_later(self.header_timeout_seconds, self.close_idle)
        self.book.idle[self] = None

    def _stop_waiting(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        self.book.idle.pop(self, None)


def bounded_protocol(*, header_timeout_seconds: float, max_connections: int) -> type[BoundedH11Protocol]:
    """A `BoundedH11Protocol` class for one server, with these limits."""
    return type(
        "BoundedH11Protocol",
        (BoundedH11Protocol,),
        {
            "header_timeout_seconds": header_timeout_seconds,
            "book": _Connections(max_connections=max_connections),
        },
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` that bound connections as `settings` say.

    Raises ValueError when `http_max_connections` is not below the open-file limit.
    """
    max_connections = settings.http_max_connections
    limit = default_max_connections()
    if max_connections is None:
        max_connections = limit
    elif max_connections > limit:
        raise ValueError(
            f"SIGNOFF_HTTP_MAX_CONNECTIONS={max_connections} leaves too few of this process's open files for "
            f"anything else; at most {limit} fit under its limit (raise `ulimit -n` for more)"
        )
    protocol = bounded_protocol(
        header_timeout_seconds=settings.http_header_timeout_seconds, max_connections=max_connections
    )
    return {
        "http": protocol,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "backlog": _backlog(),
        # Without it uvicorn waits on SIGTERM until every connection closes, and an open event stream never
        # does: connections get the runs' grace, then are closed, and the lifespan hands the runs over.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
