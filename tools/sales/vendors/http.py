"""One resilient way to call a vendor's HTTP API: rate limit -> circuit breaker -> bounded retries -> request.

Every real client of the sales pack sends its requests through a `VendorHttp` around an injected
`httpx.AsyncClient` (the seam tests use: the same client code talks to a double on 127.0.0.1). In order:

1. **Client-side rate limit** (`RollingWindow`): at most the vendor's documented rate in any rolling window,
   each attempt counted from its start until its answer is back; callers over it wait in line (the depth is
   in `VendorHealth`). Not aiolimiter: its leaky bucket lets a full burst through and then refills, which a
   vendor counting a rolling window (HubSpot) sees as up to twice its limit: 11 of 30 calls were throttled
   against the HubSpot double at its own rate, none with this window.
2. **Circuit breaker** (purgatory), one per service: after `breaker_failures` consecutive outages
   (5xx, timeouts, broken connections) calls fail at once with `CircuitOpenError` for
   `breaker_reset_seconds`, then one trial call decides. Refusals (4xx) and throttling never open it.
3. **Bounded retries** (stamina) of retryable failures only: 429 (waiting what `Retry-After` or the
   vendor's reset header says), 5xx and timeouts, with jittered exponential backoff and a total time cap.
   A request that may change something (`retry="never"`) is retried only when the vendor cannot have
   acted (429, 503, a connection never made); otherwise the caller gets `OutcomeUnknownError` and decides
   (a client checks the vendor's state before trying again).
4. **Errors** become the hierarchy of `tools.sales.errors`, with a message built from the status and at
   most the vendor's short error code, scrubbed of every secret: never the raw body.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx
import stamina
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from signoff.tools.packs import ServiceHealth
from signoff.tools.sales.errors import (
    CircuitOpenError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    UnauthorizedError,
)

__all__ = [
    "RetryMode",
    "ServiceStatus",
    "VendorHealth",
    "VendorHttp",
    "VendorLimits",
    "retry_after_of",
    "scrubbed",
]

_log = logging.getLogger(__name__)

RetryMode = Literal["safe", "never"]
"""`safe`: the request can be repeated without doing anything twice (a read, an idempotent upsert).
`never`: it may act each time it arrives (a create, a send), so it is repeated only when it cannot have
arrived."""

# A vendor's error code is shown to people and the model; anything longer or stranger than this is dropped.
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.:\- ]{1,80}$")
# Statuses that mean the vendor did not act: throttled, or explicitly unavailable before processing.
_NOT_PROCESSED = frozenset({429, 503})


@dataclass(frozen=True, kw_only=True)
class VendorLimits:
    """How one vendor's service is called: its rate, retries, breaker and timeout."""

    service: str
    requests: int
    """Client-side rate: at most `requests` requests per `per_seconds` seconds (the vendor's documented rate)."""
    per_seconds: float
    max_attempts: int = 5
    max_retry_seconds: float = 30.0
    """Total time one call may spend retrying (waits included) before its last error is raised."""
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    timeout_seconds: float = 15.0
    """Per attempt: connect, write, and each read."""

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError(f"{self.service}: the rate must be at least 1 request per positive period")
        if self.max_attempts < 1:
            raise ValueError(f"{self.service}: max_attempts must be at least 1")


@dataclass(frozen=True, kw_only=True)
class ServiceStatus:
    """What `/readyz`, `/metrics` and `signoff doctor` show of one service."""

    service: str
    breaker: Literal["closed", "opened", "half-opened"]
    consecutive_failures: int
    waiting: int
    """Calls waiting for the client-side rate limit."""
    in_flight: int
    requests: int
    """Requests sent since the process started (attempts, retries included)."""
    throttled: int
    """429 answers received."""
    retries: int

    def as_health(self) -> ServiceHealth:
        """The pack contract's shape of this status (for `/readyz`, `/metrics` and `signoff doctor`)."""
        return ServiceHealth(
            service=self.service,
            breaker=self.breaker,
            waiting=self.waiting,
            in_flight=self.in_flight,
            counters={
                "requests": self.requests,
                "throttled": self.throttled,
                "retries": self.retries,
                "consecutive_failures": self.consecutive_failures,
            },
        )


@dataclass(kw_only=True)
class _Counters:
    waiting: int = 0
    in_flight: int = 0
    requests: int = 0
    throttled: int = 0
    retries: int = 0


@dataclass(kw_only=True)
class VendorHealth:
    """The breakers and counters of every service a runtime calls (one per process by default)."""

    breakers: AsyncCircuitBreakerFactory = field(default_factory=AsyncCircuitBreakerFactory)
    _counters: dict[str, _Counters] = field(default_factory=dict[str, _Counters])
    _limits: dict[str, VendorLimits] = field(default_factory=dict[str, VendorLimits])
    _windows: dict[str, RollingWindow] = field(default_factory=dict[str, "RollingWindow"])

    def register(self, limits: VendorLimits) -> RollingWindow:
        """Track `limits.service`; the rate window to send through. A second client of the same service (two
        clients of one API key, e.g. Explorium's leads and enrichment) shares its counters, breaker and
        window: the vendor's limit is one budget, however many clients spend it."""
        self._limits.setdefault(limits.service, limits)
        counters = self._counters.setdefault(limits.service, _Counters())
        window = self._windows.get(limits.service)
        if window is None:
            window = RollingWindow(requests=limits.requests, per_seconds=limits.per_seconds, counters=counters)
            self._windows[limits.service] = window
        return window

    def counters(self, service: str) -> _Counters:
        return self._counters[service]

    async def statuses(self) -> list[ServiceStatus]:
        """Every tracked service, by name."""
        result: list[ServiceStatus] = []
        for service in sorted(self._limits):
            context = await self._context(service)
            counters = self._counters[service]
            result.append(
                ServiceStatus(
                    service=service,
                    breaker=context.state if context is not None else "closed",
                    consecutive_failures=(context.failure_count or 0) if context is not None else 0,
                    waiting=counters.waiting,
                    in_flight=counters.in_flight,
                    requests=counters.requests,
                    throttled=counters.throttled,
                    retries=counters.retries,
                )
            )
        return result

    async def _context(self, service: str) -> Any:
        async with self.breakers.uow as uow:
            return await uow.contexts.get(service)


def scrubbed(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret (and its Basic-auth and URL-encoded forms) replaced by `***`."""
    for secret in secrets:
        if secret:
            for form in _secret_forms(secret):
                text = text.replace(form, "***")
    return text


def _secret_forms(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe="")}
    for pair in (f":{secret}", f"{secret}:"):
        forms.add(base64.b64encode(pair.encode()).decode())
    return {form for form in forms if len(form) >= 4}


def retry_after_of(response: httpx.Response, *, now: datetime | None = None) -> timedelta | None:
    """The wait a 429 or 503 asks for: `Retry-After` in seconds or as an HTTP date."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - (now or datetime.now(UTC)))


ErrorCode = Callable[[httpx.Response], str | None]
"""Reads a vendor's short machine-readable error code from an error response (e.g. HubSpot's `category`)."""
ThrottleWait = Callable[[httpx.Response], timedelta | None]
"""Reads how long to wait from a vendor's own rate-limit headers, when `Retry-After` is missing."""


def _no_code(response: httpx.Response) -> str | None:
    return None


def _no_wait(response: httpx.Response) -> timedelta | None:
    return None


@dataclass(kw_only=True)
class RollingWindow:
    """At most `requests` units in any rolling `per_seconds`, each attempt counted from its start until it ends.

    A unit is a request, or for vendors that count rows (Explorium counts each row of a bulk call as a
    query) the attempt's `cost`. Counting an attempt until its answer is back (it reached the vendor
    somewhere in between) keeps every window the vendor can look at within the limit. Callers take their
    turn in arrival order, so a large batch is not starved by small ones.
    """

    requests: int
    per_seconds: float
    counters: _Counters | None = None
    """Where the number of callers waiting for a slot is shown (a service's counters), if anywhere."""
    _ended: deque[tuple[float, int]] = field(default_factory=deque[tuple[float, int]])
    _ended_units: int = 0
    _in_flight: int = 0
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _loop: asyncio.AbstractEventLoop | None = None

    def _bind(self) -> None:
        # asyncio primitives belong to one event loop; a process-wide window (DEFAULT_HEALTH) outlives the
        # loop of a CLI command or a test, so a new loop starts the window afresh.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._turn = asyncio.Lock()
            self._released = asyncio.Event()
            self._in_flight = 0

    def _forget_before(self, now: float) -> None:
        while self._ended and self._ended[0][0] <= now - self.per_seconds:
            self._ended_units -= self._ended.popleft()[1]

    @contextlib.asynccontextmanager
    async def slot(self, cost: int = 1) -> AsyncIterator[None]:
        """Hold `cost` units of the window for the duration of the block."""
        if not 1 <= cost <= self.requests:
            raise ValueError(f"a call costs 1 to {self.requests} units of this window, not {cost!r}")
        self._bind()
        if self.counters is not None:
            self.counters.waiting += 1
        try:
            await self._turn.acquire()
        finally:
            if self.counters is not None:
                self.counters.waiting -= 1
        try:
            while True:
                now = time.monotonic()
                self._forget_before(now)
                if self._in_flight + self._ended_units + cost <= self.requests:
                    break
                self._released.clear()
                wait = self._ended[0][0] + self.per_seconds - now if self._ended else None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._released.wait()
            self._in_flight += cost
        finally:
            self._turn.release()
        try:
            yield
        finally:
            self._in_flight -= cost
            self._ended.append((time.monotonic(), cost))
            self._ended_units += cost
            self._released.set()


@dataclass(frozen=True, kw_only=True)
class _Request:
    """One call as the caller asked for it, sent once per attempt."""

    method: str
    url: str
    json: Any
    params: Mapping[str, Any] | None
    headers: Mapping[str, str] | None
    retry: RetryMode
    expect: Container[int]
    cost: int


@dataclass(kw_only=True)
class _Budget:
    """When one call's retrying must end (moved later by each wait for a rate-window slot)."""

    deadline: float


class _Retryable(Exception):
    """Internal: this attempt failed in a way the same request may not fail again."""

    def __init__(self, error: ProviderError, wait: timedelta | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


@dataclass(kw_only=True)
class VendorHttp:
    """Sends one vendor's requests through its rate limit, breaker and retries (see the module docstring)."""

    client: httpx.AsyncClient
    limits: VendorLimits
    secrets: Sequence[str] = ()
    """Credentials this client sends: scrubbed from every message and log line it makes."""
    error_code: ErrorCode = _no_code
    throttle_wait: ThrottleWait = _no_wait
    health: VendorHealth = field(default_factory=lambda: DEFAULT_HEALTH)
    _window: RollingWindow = field(init=False)

    def __post_init__(self) -> None:
        self._window = self.health.register(self.limits)

    @property
    def service(self) -> str:
        """The service's name ("hubspot", ...)."""
        return self.limits.service

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryMode = "safe",
        expect: Container[int] = range(200, 300),
        cost: int = 1,
    ) -> httpx.Response:
        """The vendor's answer with a status in `expect`, or a `ProviderError` (see the module docstring).

        `cost` is what one attempt counts against the vendor's rate (1, or the rows of a bulk call for a
        vendor that counts rows)."""
        # The retry budget covers attempts and the waits between them, not the time spent queuing for this
        # client's own rate window (bounded by the window itself): each slot wait moves the deadline.
        budget = _Budget(deadline=time.monotonic() + self.limits.max_retry_seconds)
        asked = _Request(
            method=method, url=url, json=json, params=params, headers=headers, retry=retry, expect=expect, cost=cost
        )
        counters = self.health.counters(self.service)
        attempt_number = 0

        def backoff(error: Exception) -> bool | float:
            if not isinstance(error, _Retryable):
                return False
            if error.wait is None:
                return time.monotonic() < budget.deadline
            # The vendor said how long: wait that (plus a little, so a fleet of clients does not return as one).
            return error.wait.total_seconds() + 0.05 * (attempt_number % 4)

        last: ProviderError | None = None
        try:
            async for attempt in stamina.retry_context(
                on=backoff,
                attempts=self.limits.max_attempts,
                timeout=None,  # the budget above, which does not count slot waits
                wait_initial=0.2,
                wait_max=8.0,
                wait_jitter=0.5,
            ):
                with attempt:
                    attempt_number = attempt.num
                    if attempt.num > 1:
                        counters.retries += 1
                    try:
                        return await self._attempt(asked, budget=budget)
                    except _Retryable as retryable:
                        last = retryable.error
                        wait = retryable.wait
                        if wait is not None and time.monotonic() + wait.total_seconds() > budget.deadline:
                            # Waiting as asked would overrun the bounded total time: give up now, say why.
                            raise retryable.error from None
                        raise
        except _Retryable as exhausted:
            raise exhausted.error from None
        raise last or ProviderUnavailableError("no attempt was made", provider=self.service)

    async def _attempt(self, asked: _Request, *, budget: _Budget) -> httpx.Response:
        queued_at = time.monotonic()
        async with self._window.slot(asked.cost):
            budget.deadline += time.monotonic() - queued_at
            return await self._attempt_in_slot(asked)

    async def _attempt_in_slot(self, asked: _Request) -> httpx.Response:
        counters = self.health.counters(self.service)
        breaker = await self.health.breakers.get_breaker(
            self.service,
            threshold=self.limits.breaker_failures,
            ttl=self.limits.breaker_reset_seconds,
            exclude=[(ProviderError, _not_an_outage), (_Retryable, _retryable_not_an_outage)],
        )
        try:
            async with breaker:
                counters.in_flight += 1
                counters.requests += 1
                try:
                    return await self._send(asked)
                finally:
                    counters.in_flight -= 1
        except OpenedState as opened:
            reopens = timedelta(seconds=max(0.0, opened.opened_at + self.limits.breaker_reset_seconds - time.time()))
            raise CircuitOpenError(
                f"paused after repeated failures; calls resume in about {reopens.total_seconds():.0f} seconds",
                provider=self.service,
                retry_after=reopens,
            ) from None

    async def _send(self, asked: _Request) -> httpx.Response:
        timeout = httpx.Timeout(self.limits.timeout_seconds)
        try:
            response = await self.client.request(
                asked.method, asked.url, json=asked.json, params=asked.params, headers=asked.headers, timeout=timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # The request never reached the vendor: safe to try again whatever it does.
            raise _Retryable(self._unavailable(f"could not connect ({type(error).__name__})"), None) from None
        except (httpx.TimeoutException, httpx.TransportError) as error:
            # It may have arrived and acted; only a request that is safe to repeat is repeated.
            reason = f"no answer ({type(error).__name__})"
            if asked.retry == "never":
                raise OutcomeUnknownError(
                    f"{reason} after the request was sent; it may or may not have taken effect",
                    provider=self.service,
                ) from None
            raise _Retryable(self._unavailable(reason), None) from None
        if response.status_code in asked.expect:
            return response
        raise self._error_of(response, retry=asked.retry)

    def _unavailable(self, reason: str) -> ProviderUnavailableError:
        return ProviderUnavailableError(scrubbed(reason, self.secrets), provider=self.service)

    def _error_of(self, response: httpx.Response, *, retry: RetryMode) -> Exception:
        status = response.status_code
        code = self._safe_code(response)
        detail = f"HTTP {status}" + (f": {code}" if code else "")
        if status == 429:
            self.health.counters(self.service).throttled += 1
            wait = retry_after_of(response) or self._vendor_wait(response)
            return _Retryable(
                RateLimitedError(f"rate limited ({detail})", provider=self.service, retry_after=wait), wait
            )
        if status in (401, 403):
            return UnauthorizedError(f"credentials refused ({detail}); check the settings", provider=self.service)
        if status == 404:
            return NotFoundError(f"not found ({detail})", provider=self.service)
        if 400 <= status < 500:
            return InvalidRequestError(f"refused the request ({detail})", provider=self.service)
        unavailable = ProviderUnavailableError(f"server error ({detail})", provider=self.service)
        if retry == "never" and status not in _NOT_PROCESSED:
            # A 500/502/504 after a write may come after the write happened.
            return OutcomeUnknownError(
                f"server error ({detail}) after the request was sent; it may or may not have taken effect",
                provider=self.service,
            )
        return _Retryable(unavailable, retry_after_of(response) if status == 503 else None)

    def _vendor_wait(self, response: httpx.Response) -> timedelta | None:
        try:
            return self.throttle_wait(response)
        except Exception:  # a malformed header must not turn a 429 into a crash
            return None

    def _safe_code(self, response: httpx.Response) -> str | None:
        try:
            code = self.error_code(response)
        except Exception:  # a malformed error body must not hide the status behind a parsing error
            return None
        if code is None or not _SAFE_CODE.match(code):
            return None
        return scrubbed(code, self.secrets)


def _not_an_outage(error: BaseException) -> bool:
    """Refusals, throttling and unknown outcomes of single writes do not open the breaker; outages do."""
    return not isinstance(error, ProviderUnavailableError | OutcomeUnknownError)


def _retryable_not_an_outage(error: BaseException) -> bool:
    return isinstance(error, _Retryable) and _not_an_outage(error.error)


DEFAULT_HEALTH = VendorHealth()
"""The process's services, shown by `/readyz`, `/metrics` and `signoff doctor` unless a runtime brings its own."""
