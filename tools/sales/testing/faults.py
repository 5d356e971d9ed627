"""Faults on demand for the vendor doubles: throttling, 5xx bursts, timeouts, slow bodies, dropped replies.

A `FaultPlan` is shared by a test and a double. The test queues faults (`plan.next(...)`) or sets a random
rate (`plan.at_rate(...)`); `with_faults(app, plan)` wraps the double's ASGI app and applies them to the
requests that match. Each fault says whether the vendor did the work first (`after_processing=True`: the
effect happened, only the answer is lost) or refused before doing anything: exactly the two cases a
client must tell apart to be exactly-once across the wire.

Kinds:
- `status`: answer with `status` (429, 500, 503, ...), `headers` (e.g. `Retry-After`) and `body`.
- `timeout`: hold the answer for `delay_seconds` (longer than the client waits), then answer normally.
- `slow_body`: send the headers at once and the body a byte at a time over `delay_seconds`.
- `drop`: start a response and break the connection before its body is complete.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Fault", "FaultPlan", "InjectedFault", "with_faults"]

FaultKind = Literal["status", "timeout", "slow_body", "drop"]


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One fault to apply to one request."""

    kind: FaultKind
    status: int = 503
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | dict[str, Any] = b""
    delay_seconds: float = 0.0
    after_processing: bool = False
    """Whether the double handles the request (and keeps its effect) before the fault hides the answer."""

    @classmethod
    def throttled(cls, *, retry_after: float = 1.0, body: bytes | dict[str, Any] = b"") -> Fault:
        """A 429 with `Retry-After` in seconds (nothing was done)."""
        return cls(kind="status", status=429, headers=(("retry-after", f"{retry_after:g}"),), body=body)

    @classmethod
    def server_error(cls, status: int = 503, *, body: bytes | dict[str, Any] = b"") -> Fault:
        """A 5xx answer before any work."""
        return cls(kind="status", status=status, body=body)

    @classmethod
    def timeout(cls, seconds: float, *, after_processing: bool = True) -> Fault:
        """No answer for `seconds`; by default the work was done (the client cannot know that)."""
        return cls(kind="timeout", delay_seconds=seconds, after_processing=after_processing)

    @classmethod
    def dropped(cls, *, after_processing: bool = True) -> Fault:
        """The connection breaks mid-answer; by default after the work was done."""
        return cls(kind="drop", after_processing=after_processing)

    @classmethod
    def slow_body(cls, seconds: float) -> Fault:
        """The (correct) answer trickles out over `seconds`."""
        return cls(kind="slow_body", delay_seconds=seconds, after_processing=True)


@dataclass(frozen=True, kw_only=True)
class InjectedFault:
    """A fault that was applied: to which request."""

    method: str
    path: str
    fault: Fault


RequestMatch = Callable[[str, str], bool]
"""(method, path) -> whether a fault may apply to this request."""


def _any_request(method: str, path: str) -> bool:
    return True


@dataclass(kw_only=True)
class FaultPlan:
    """Faults waiting for requests, and a log of those applied. Safe to use from a test's thread."""

    _queued: deque[tuple[RequestMatch, Fault]] = field(default_factory=deque[tuple[RequestMatch, Fault]])
    _rate: tuple[float, Fault, RequestMatch] | None = None
    _random: random.Random = field(default_factory=lambda: random.Random(0))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    injected: list[InjectedFault] = field(default_factory=list[InjectedFault])

    def next(self, *faults: Fault, method: str | None = None, path: str | None = None) -> None:
        """Apply `faults`, in order, to the next matching requests (one fault per request)."""
        match = _matcher(method, path)
        with self._lock:
            self._queued.extend((match, fault) for fault in faults)

    def at_rate(
        self, rate: float, fault: Fault, *, seed: int = 0, method: str | None = None, path: str | None = None
    ) -> None:
        """Apply `fault` to each matching request with probability `rate` (seeded: the same run each time)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {rate!r}")
        with self._lock:
            self._rate = (rate, fault, _matcher(method, path))
            self._random = random.Random(seed)

    def clear(self) -> None:
        """No more faults (the log stays)."""
        with self._lock:
            self._queued.clear()
            self._rate = None

    def count(self, kind: FaultKind | None = None, *, status: int | None = None) -> int:
        """How many faults were applied, of a kind and/or status."""
        with self._lock:
            return sum(
                1
                for applied in self.injected
                if (kind is None or applied.fault.kind == kind) and (status is None or applied.fault.status == status)
            )

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any (queued faults first), logged as applied."""
        with self._lock:
            chosen: Fault | None = None
            for index, (match, fault) in enumerate(self._queued):
                if match(method, path):
                    del self._queued[index]
                    chosen = fault
                    break
            if chosen is None and self._rate is not None:
                rate, fault, match = self._rate
                if match(method, path) and self._random.random() < rate:
                    chosen = fault
            if chosen is not None:
                self.injected.append(InjectedFault(method=method, path=path, fault=chosen))
            return chosen


def _matcher(method: str | None, path: str | None) -> RequestMatch:
    if method is None and path is None:
        return _any_request
    wanted_method = method.upper() if method else None

    def match(request_method: str, request_path: str) -> bool:
        return (wanted_method is None or request_method == wanted_method) and (
            path is None or request_path.startswith(path)
        )

    return match


def _body_bytes(body: bytes | dict[str, Any]) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json"


class _DroppedConnection(Exception):
    """Raised inside the server after a partial response, so uvicorn closes the connection."""


def with_faults(app: ASGIApp, plan: FaultPlan) -> ASGIApp:
    """`app` with `plan`'s faults applied to its HTTP requests."""

    async def faulty(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        fault = plan.take(scope["method"], scope["path"])
        if fault is None:
            await app(scope, receive, send)
            return
        if not fault.after_processing:
            await _drain(receive)
            await _answer_fault(fault, send)
            return
        answer = await _captured(app, scope, receive)
        await _deliver_faulty(fault, answer, send)

    return faulty


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _answer_fault(fault: Fault, send: Send) -> None:
    match fault.kind:
        case "status":
            body, content_type = _body_bytes(fault.body)
            headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
            headers += [(name.lower().encode(), value.encode()) for name, value in fault.headers]
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        case "timeout":
            await asyncio.sleep(fault.delay_seconds)
            await _answer_fault(Fault.server_error(504), send)
        case "drop":
            await _break(send)
        case "slow_body":
            await asyncio.sleep(fault.delay_seconds)
            await _answer_fault(Fault.server_error(503), send)


async def _break(send: Send) -> None:
    # A Content-Length the body never reaches, then an error: uvicorn closes the connection mid-answer.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise _DroppedConnection("fault: connection dropped mid-answer")


@dataclass(kw_only=True)
class _Answer:
    start: MutableMapping[str, Any] | None = None
    body: bytearray = field(default_factory=bytearray)


async def _captured(app: ASGIApp, scope: Scope, receive: Receive) -> _Answer:
    answer = _Answer()

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.start = dict(message)
        elif message["type"] == "http.response.body":
            answer.body.extend(message.get("body", b""))

    await app(scope, receive, capture)
    return answer


async def _deliver_faulty(fault: Fault, answer: _Answer, send: Send) -> None:
    start = answer.start or {"type": "http.response.start", "status": 500, "headers": []}
    match fault.kind:
        case "drop":
            await _break(send)
        case "timeout":
            await asyncio.sleep(fault.delay_seconds)
            await send(start)
            await send({"type": "http.response.body", "body": bytes(answer.body)})
        case "slow_body":
            await send(start)
            body = bytes(answer.body)
            pause = fault.delay_seconds / max(len(body), 1)
            for index in range(len(body)):
                await send({"type": "http.response.body", "body": body[index : index + 1], "more_body": True})
                await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": b""})
        case "status":
            # The work was done, but the vendor answers with an error (e.g. a 502 from its gateway).
            await _answer_fault(fault, send)
