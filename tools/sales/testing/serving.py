"""Serve an ASGI app on 127.0.0.1 over a real socket, inside the caller's event loop.

`serve_app(app)` binds a free port first (so the URL is known before the server starts and two doubles
never race for one port), runs uvicorn as a task of the running loop, and stops it on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

__all__ = ["ServedApp", "serve_app"]


class _QuietDrops(logging.Filter):
    """Drops uvicorn's traceback for a connection a fault broke on purpose (`faults.Fault.dropped`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return type(error).__name__ != "_DroppedConnection"


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())

# A double that has not started listening within this long is broken, not slow.
_STARTUP_SECONDS = 10.0


@dataclass(frozen=True, kw_only=True)
class ServedApp:
    """A running app: where it listens."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`, for a client's `base_url`."""
        return f"http://{self.host}:{self.port}"


def _bound_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: without it each small answer waits ~40 ms on the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[ServedApp]:
    """Run `app` on `host:port` (0: a free port) until the block exits."""
    sock = _bound_socket(host, port)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(_STARTUP_SECONDS):
            while not server.started:
                if task.done():
                    task.result()  # re-raise why it could not start
                    raise RuntimeError("the double's server stopped before it started")
                await asyncio.sleep(0.01)
        yield ServedApp(host=host, port=sock.getsockname()[1])
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
