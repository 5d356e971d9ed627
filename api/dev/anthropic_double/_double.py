"""`MessagesDouble`: a local Anthropic Messages API on a real uvicorn server, driven by a script.

Each `/v1/messages` request is answered, in this order:

1. a queued `Fault`, if any: rate limit, overload and server errors answer at once, whatever the request;
   `slow` waits, then carries on; `dropped_stream` applies to a valid request (step 3).
2. the request checks (`_validation`): a failed check answers 4xx and consumes nothing.
3. the next scripted `Reply` (a dropped response only peeks at it), with cache accounting (`_cache`)
   and token counts (`_tokens`), as JSON or as server-sent events.

The server runs in its own thread with its own event loop; script position, faults, the prompt cache
and the record of exchanges are shared with the test's thread and guarded by one lock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ._cache import DEFAULT_LOOKBACK_BLOCKS, CacheUsage, PromptCache
from ._exchange import RecordedExchange
from ._prompt import Prompt, build_prompt
from ._script import Fault, Reply
from ._validation import ApiError, check_body, check_headers
from ._wire import (
    Answer,
    error_body,
    message_body,
    output_tokens,
    partial_stream_events,
    stream_events,
    usage_body,
)

__all__ = ["MessagesDouble", "Script"]

Script = Sequence[Reply] | Callable[[dict[str, Any]], Reply]
"""Replies in order, or a function of the parsed request body that returns the reply."""

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"

# Bounds on waiting for the server thread; a double that cannot bind or stop within them is broken.
_START_TIMEOUT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 10.0
# On shutdown, open requests (a `slow` fault, a stream being read) get this long before being cut.
_GRACEFUL_SHUTDOWN_SECONDS = 2

_FAULT_ERRORS: Mapping[str, ApiError] = {
    "rate_limited": ApiError(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. "
        "Please reduce the prompt length or the maximum tokens requested, or try again later.",
    ),
    "overloaded": ApiError(529, "overloaded_error", "Overloaded"),
    "server_error": ApiError(500, "api_error", "Internal server error"),
}


class MessagesDouble:
    """A scripted stand-in for Anthropic's Messages API, served over real HTTP on 127.0.0.1.

    Args:
        script: replies consumed in order (faults other than `slow` do not consume one), or a
            function of the parsed request body returning the reply.
        min_cacheable_tokens: minimum cacheable prefix by model id prefix (`"*"` for any model),
            consulted before the documented defaults in `DEFAULT_MIN_CACHEABLE_TOKENS`.
        clock: seconds, for cache lifetimes (default `time.monotonic`).
        lookback_blocks: how many block boundaries before a breakpoint are checked for a cache hit.
    """

    def __init__(
        self,
        script: Script,
        *,
        min_cacheable_tokens: Mapping[str, int] | None = None,
        clock: Callable[[], float] | None = None,
        lookback_blocks: int = DEFAULT_LOOKBACK_BLOCKS,
    ) -> None:
        self._script = script
        self._lock = threading.Lock()
        self._replies_taken = 0
        self._faults: deque[Fault] = deque()
        self._exchanges: dict[int, RecordedExchange] = {}
        self._arrivals = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._tool_use_ids = itertools.count(1)
        self._cache = PromptCache(
            clock=clock or time.monotonic,
            min_cacheable_tokens=min_cacheable_tokens,
            lookback_blocks=lookback_blocks,
        )
        self.app = Starlette(
            routes=[
                Route(MESSAGES_PATH, self._messages, methods=["POST"]),
                Route(COUNT_TOKENS_PATH, self._count_tokens, methods=["POST"]),
            ],
            exception_handlers={HTTPException: _http_exception},
        )
        """The ASGI application, for mounting the double elsewhere."""

    # --- the test's side --------------------------------------------------------------------------

    @property
    def exchanges(self) -> list[RecordedExchange]:
        """Every request answered so far (count_tokens included), in arrival order."""
        with self._lock:
            return [self._exchanges[arrival] for arrival in sorted(self._exchanges)]

    @property
    def message_exchanges(self) -> list[RecordedExchange]:
        """The `/v1/messages` exchanges only."""
        return [exchange for exchange in self.exchanges if exchange.path == MESSAGES_PATH]

    @property
    def replies_taken(self) -> int:
        """How many scripted turns have been consumed."""
        with self._lock:
            return self._replies_taken

    def add_faults(self, *faults: Fault) -> None:
        """Queue faults; each one hits one later `/v1/messages` request, in order."""
        with self._lock:
            self._faults.extend(faults)

    def clear_cache(self) -> None:
        """Forget every cached prefix."""
        with self._lock:
            self._cache.clear()

    @contextmanager
    def serve(self, *, host: str = "127.0.0.1") -> Iterator[str]:
        """Serve on an ephemeral port in a background thread; yields the base URL (`http://127.0.0.1:N`)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        port = listener.getsockname()[1]
        server = uvicorn.Server(self._config(host=host, port=port, log_level="warning"))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [listener]}, name=f"anthropic-double:{port}", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + _START_TIMEOUT_SECONDS
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the Anthropic double did not start on {host}:{port}")
                time.sleep(0.01)
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=_STOP_TIMEOUT_SECONDS)
            listener.close()

    def run(self, *, host: str, port: int) -> None:
        """Serve in the foreground until interrupted (for `signoff dev fake-anthropic`)."""
        uvicorn.Server(self._config(host=host, port=port, log_level="info")).run()

    def _config(self, *, host: str, port: int, log_level: str) -> uvicorn.Config:
        # h11 is pinned because a dropped response relies on the server closing the connection when
        # the app returns mid-response, which is how uvicorn's h11 protocol behaves.
        return uvicorn.Config(
            self.app,
            host=host,
            port=port,
            http="h11",
            lifespan="off",
            log_level=log_level,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
        )

    # --- the server's side ------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        arrival, request_id = self._arrive()
        headers, body = await _read(request)
        fault = self._next_fault()
        exchange = _ExchangeDraft(
            path=MESSAGES_PATH,
            headers=headers,
            body=body,
            request_id=request_id,
            fault=None if fault is None else fault.kind,
        )
        if fault is not None and fault.kind in _FAULT_ERRORS:
            error = _FAULT_ERRORS[fault.kind]
            extra = {"retry-after": _seconds(fault.retry_after)} if fault.retry_after is not None else {}
            return self._error(arrival, exchange, error, extra_headers=extra)
        if fault is not None and fault.kind == "slow" and fault.seconds:
            await asyncio.sleep(fault.seconds)
        try:
            check_headers(headers)
            valid_body = check_body(body, endpoint="messages")
        except ApiError as error:
            return self._error(arrival, exchange, error)
        streamed = valid_body.get("stream") is True
        prompt = build_prompt(valid_body)
        dropped = fault is not None and fault.kind == "dropped_stream"
        try:
            answer = self._answer(valid_body, prompt, dropped=dropped)
        except ApiError as error:
            return self._error(arrival, exchange, error)

        headers_out = {"request-id": request_id}
        if dropped:
            # The client never gets a complete usage, so none is recorded; the cache is left untouched.
            self._record(arrival, exchange.done(prompt, status=200, streamed=streamed, usage=None))
            if streamed:
                chunks = [event.encode() for event in partial_stream_events(answer)]
                return _DroppedResponse(media_type="text/event-stream", headers=headers_out, chunks=chunks)
            full_length = len(json.dumps(message_body(answer)).encode())
            return _DroppedResponse(
                media_type="application/json", headers=headers_out, chunks=[], content_length=full_length
            )
        # Recorded before the first byte goes out, so a client that has read the answer finds its record.
        self._record(arrival, exchange.done(prompt, status=200, streamed=streamed, usage=answer.usage))
        if streamed:
            return StreamingResponse(
                _iterate([event.encode() for event in stream_events(answer)]),
                media_type="text/event-stream",
                headers={**headers_out, "cache-control": "no-cache"},
            )
        return JSONResponse(message_body(answer), headers=headers_out)

    def _answer(self, body: dict[str, Any], prompt: Prompt, *, dropped: bool) -> Answer:
        """Take (or, for a dropped response, only peek at) the next reply and account for the cache."""
        with self._lock:
            if dropped:
                reply, cache = self._peek_reply(body), CacheUsage.uncached(prompt.total_tokens)
            else:
                reply, cache = self._take_reply(body), self._cache.account(prompt)
            message_id = f"msg_dbl{next(self._message_ids):020d}"
            tool_use_ids = [f"toolu_dbl{next(self._tool_use_ids):018d}" for _ in reply.tool_uses]
        return Answer(
            message_id=message_id,
            model=prompt.model,
            reply=reply,
            tool_use_ids=tool_use_ids,
            usage=usage_body(cache, output=output_tokens(reply)),
        )

    async def _count_tokens(self, request: Request) -> Response:
        arrival, request_id = self._arrive()
        headers, body = await _read(request)
        exchange = _ExchangeDraft(path=COUNT_TOKENS_PATH, headers=headers, body=body, request_id=request_id)
        try:
            check_headers(headers)
            valid_body = check_body(body, endpoint="count_tokens")
        except ApiError as error:
            return self._error(arrival, exchange, error)
        prompt = build_prompt(valid_body)
        self._record(arrival, exchange.done(prompt, status=200, streamed=False, usage=None))
        return JSONResponse({"input_tokens": prompt.total_tokens}, headers={"request-id": request_id})

    def _arrive(self) -> tuple[int, str]:
        with self._lock:
            arrival = next(self._arrivals)
        return arrival, f"req_dbl{arrival:020d}"

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _take_reply(self, body: dict[str, Any]) -> Reply:
        reply = self._peek_reply(body)
        self._replies_taken += 1
        return reply

    def _peek_reply(self, body: dict[str, Any]) -> Reply:
        if callable(self._script):
            try:
                return self._script(body)
            except Exception as error:  # the script is test code: report its failure to the client
                raise ApiError(500, "api_error", f"anthropic double: the script raised {error!r}") from error
        if self._replies_taken >= len(self._script):
            raise ApiError(
                400,
                "invalid_request_error",
                f"anthropic double: the script has {len(self._script)} replies and all were used",
            )
        return self._script[self._replies_taken]

    def _error(
        self,
        arrival: int,
        exchange: _ExchangeDraft,
        error: ApiError,
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        self._record(arrival, exchange.failed(error))
        return JSONResponse(
            error_body(error, request_id=exchange.request_id),
            status_code=error.status,
            headers={"request-id": exchange.request_id, **(extra_headers or {})},
        )

    def _record(self, arrival: int, exchange: RecordedExchange) -> None:
        with self._lock:
            self._exchanges[arrival] = exchange


@dataclass(frozen=True, kw_only=True)
class _ExchangeDraft:
    """What is known of an exchange before its answer."""

    path: str
    headers: Mapping[str, str]
    body: Any
    request_id: str
    fault: str | None = None

    def done(self, prompt: Prompt, *, status: int, streamed: bool, usage: Mapping[str, Any] | None) -> RecordedExchange:
        return self._finish(
            status=status, streamed=streamed, breakpoints=len(prompt.breakpoints), usage=usage, error_message=None
        )

    def failed(self, error: ApiError) -> RecordedExchange:
        return self._finish(
            status=error.status,
            streamed=False,
            breakpoints=_breakpoints_if_readable(self.body),
            usage=None,
            error_message=error.message,
        )

    def _finish(
        self,
        *,
        status: int,
        streamed: bool,
        breakpoints: int,
        usage: Mapping[str, Any] | None,
        error_message: str | None,
    ) -> RecordedExchange:
        return RecordedExchange(
            path=self.path,
            headers=self.headers,
            body=self.body,
            status=status,
            streamed=streamed,
            request_id=self.request_id,
            breakpoints=breakpoints,
            usage=usage,
            fault=self.fault,
            error_message=error_message,
        )


class _DroppedResponse(Response):
    """Sends the response head and `chunks`, then returns without finishing the body.

    uvicorn closes the connection when an app returns mid-response, so the client sees the
    connection drop: mid-stream for server-sent events, before any of the body for JSON.
    """

    def __init__(
        self, *, media_type: str, headers: Mapping[str, str], chunks: Sequence[bytes], content_length: int | None = None
    ) -> None:
        super().__init__(status_code=200, media_type=media_type, headers=dict(headers))
        self._chunks = chunks
        if content_length is not None:
            self.headers["content-length"] = str(content_length)
        else:
            del self.headers["content-length"]  # a stream has no length: chunked encoding

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for chunk in self._chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _read(request: Request) -> tuple[dict[str, str], Any]:
    headers = {key.lower(): value for key, value in request.headers.items()}
    raw = await request.body()
    try:
        return headers, json.loads(raw)
    except ValueError:
        return headers, None


async def _iterate(chunks: Sequence[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _breakpoints_if_readable(body: Any) -> int:
    if not isinstance(body, dict):
        return 0
    # build_prompt reads any JSON object (it skips what is not shaped like a block); only the model is required.
    return len(build_prompt({**body, "model": str(body.get("model", ""))}).breakpoints)  # pyright: ignore[reportUnknownArgumentType, reportUnknownMemberType]


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


async def _http_exception(request: Request, error: Exception) -> Response:
    """Unknown paths and methods answer in Anthropic's error shape too."""
    assert isinstance(error, HTTPException)
    error_type = "not_found_error" if error.status_code in (404, 405) else "invalid_request_error"
    return JSONResponse(
        {"type": "error", "error": {"type": error_type, "message": error.detail}},
        status_code=error.status_code,
    )
