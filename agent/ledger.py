"""The cost ledger: one durable row per model request attempt, with tokens, price and what caused it.

`LedgerCapability` plugs into pydantic-ai around every model request; `LedgerWriter` stores the rows.
A ledger write never fails a run and is never lost: a write that keeps failing goes to a spool file
(one JSON line per row) that the next successful write replays into the database first.

Token columns follow Anthropic's usage fields, which do not overlap: `input_tokens` is the input neither
read from nor written to the prompt cache, `cache_read_tokens` and `cache_write_tokens` the rest, so
their sum is the whole prompt (what pydantic-ai reports as `usage.input_tokens`).

An attempt that got no response (a 429, 529 or 500 the SDK retried, a dropped connection) is a row of its
own with `attempt_status='failed'`, no tokens and a cost of 0: Anthropic does not bill a request it did
not answer, so the price is known and is zero (NULL would claim it is unknown). The SDK reports those
attempts through `record_failed_attempt`, which finds the run and step in a context variable that
`LedgerCapability` sets before each request.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import genai_prices
import logfire
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.capabilities.abstract import WrapModelRequestHandler
from pydantic_ai.exceptions import ModelAPIError, UserError
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models import ModelRequestContext
from pydantic_ai.run import AgentRunResult
from pydantic_ai.tools import RunContext
from sqlalchemy import func, select

from signoff.agent.run_scope import run_of
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import LedgerRow
from signoff.tools.context import PromptRef, RunDeps

__all__ = [
    "HIGH_COST_REQUEST_USD",
    "PLANNING",
    "AttemptStatus",
    "LedgerCapability",
    "LedgerEntry",
    "LedgerWriter",
    "Price",
    "ResponseBrokeOff",
    "RunCostLimitExceeded",
    "TokenCounts",
    "note_provider_request_id",
    "price_response",
    "record_failed_attempt",
]

AttemptStatus = Literal["succeeded", "failed"]

# The seed owner's choice: requests above $1 are logged as a warning, never blocked.
HIGH_COST_REQUEST_USD = Decimal("1.00")

# Attempts at writing one row before it goes to the spool file; a database that fails three quick
# attempts in a row is down, and waiting longer would hold the run up.
_WRITE_ATTEMPTS = 3
_RETRY_DELAY_SECONDS = 0.05


class RunCostLimitExceeded(Exception):
    """The run reached its optional hard model-cost limit; it fails before the next model request."""

    def __init__(self, *, run_id: str, spent_usd: Decimal, limit_usd: Decimal) -> None:
        self.run_id = run_id
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        super().__init__(f"run {run_id!r} reached its model cost limit: spent ${spent_usd} of ${limit_usd}")


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One model request attempt as the ledger records it. `cost_usd` is None when the price is unknown.

    `cache_write_5m_tokens + cache_write_1h_tokens == cache_write_tokens` (one-hour writes cost more).
    A failed attempt has `attempt_status='failed'`, its `error`, no tokens and a cost of 0.
    """

    run_id: str
    step: int
    purpose: str
    model_name: str
    provider_name: str | None
    provider_request_id: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal | None
    prompt_name: str
    prompt_version: str
    prompt_hash: str
    latency_ms: int
    created_at: datetime
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    price_data_version: str | None = None
    attempt_status: AttemptStatus = "succeeded"
    error: str | None = None

    def to_json(self) -> str:
        """One spool line."""
        fields = asdict(self)
        fields["cost_usd"] = None if self.cost_usd is None else str(self.cost_usd)
        fields["created_at"] = self.created_at.isoformat()
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> LedgerEntry:
        """Read one spool line back."""
        fields: dict[str, Any] = json.loads(line)
        fields["cost_usd"] = None if fields["cost_usd"] is None else Decimal(fields["cost_usd"])
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        return cls(**fields)


@dataclass(frozen=True, kw_only=True)
class Price:
    """What a response cost, and which genai-prices data said so."""

    total_usd: Decimal
    data_version: str


def _price_data_version(auto_update_timestamp: datetime | None) -> str:
    """The genai-prices data that priced a response: the bundled data of the installed version, or a
    snapshot it downloaded at run time (`UpdatePrices`), named by when it was fetched."""
    version = f"genai-prices {genai_prices.__version__}"
    if auto_update_timestamp is None:
        return version
    return f"{version}, prices updated {auto_update_timestamp.isoformat()}"


def price_response(response: ModelResponse) -> Price | None:
    """The response's price from genai-prices at the response's time, or None when it is unknown.

    genai-prices prices every usage kind at its own rate: uncached input, cache reads, five-minute and
    one-hour cache writes (`cache_write_1h_tokens` is priced at `cache_write_1h_mtok`, the rest of the
    writes at `cache_write_mtok`), and output.
    """
    if not response.model_name:
        return None
    try:
        calculation = response.cost()
    except (LookupError, ValueError, AssertionError) as error:
        logfire.warn(
            "no price for model {model_name}: cost recorded as unknown",
            model_name=response.model_name,
            error_type=type(error).__name__,
        )
        return None
    return Price(total_usd=calculation.total_price, data_version=_price_data_version(calculation.auto_update_timestamp))


@dataclass(frozen=True, kw_only=True)
class TokenCounts:
    """A response's tokens as the ledger records them: Anthropic's usage fields, plain and streamed alike.

    pydantic-ai's `usage.input_tokens` is the whole prompt, cache reads and writes included; the
    ledger's `input_tokens` is Anthropic's `input_tokens`, the part that was neither. pydantic-ai keeps
    the one-hour share of the cache writes; Anthropic's five-minute share is the rest of them.
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int

    @classmethod
    def of(cls, response: ModelResponse) -> TokenCounts:
        usage = response.usage
        return cls(
            input_tokens=usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_5m_tokens=usage.cache_write_tokens - usage.cache_write_1h_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
        )


@dataclass(kw_only=True)
class _RequestInFlight:
    """The model request being sent in this context: what a failed attempt of it is recorded against,
    and the provider's id of the attempt that was answered."""

    writer: LedgerWriter
    run_id: str
    step: int
    purpose: str
    model_name: str
    provider_name: str | None
    prompt_name: str
    prompt_version: str
    prompt_hash: str
    clock: Callable[[], datetime]
    started: float
    provider_request_id: str | None = None
    # The SDK got a response head (`answered`); the ledger recorded the response (`settled`). Answered
    # but never settled is a stream that broke off after its 200, which the SDK does not retry.
    answered: bool = False
    settled: bool = False


# Set by `LedgerCapability.before_model_request`. pydantic-ai carries values set there into the task
# that consumes a streamed response, which is where the SDK then sends the request.
_request_in_flight: ContextVar[_RequestInFlight | None] = ContextVar("signoff_request_in_flight", default=None)


def note_provider_request_id(provider_request_id: str | None) -> None:
    """Keep the provider's id of the answered attempt (Anthropic's `request-id` header) for its ledger row.

    pydantic-ai keeps the message id (`msg_...`) but not the request id (`req_...`), which is the one
    Anthropic's support and logs go by; the SDK middleware sees it and hands it over here.
    """
    request = _request_in_flight.get()
    if request is not None:
        request.provider_request_id = provider_request_id
        request.answered = True


async def record_failed_attempt(*, error: str, provider_request_id: str | None, latency_ms: int) -> None:
    """Record an attempt of the current model request that got no response (called by the SDK middleware).

    Outside a ledgered request (a client used directly) there is no run to charge: it is logged only.
    """
    request = _request_in_flight.get()
    if request is None:
        logfire.warn("model request attempt failed outside a run: {error}", error=error)
        return
    logfire.warn("model request attempt failed: {error}", error=error, run_id=request.run_id, step=request.step)
    await request.writer.record(
        LedgerEntry(
            run_id=request.run_id,
            step=request.step,
            purpose=request.purpose,
            model_name=request.model_name,
            provider_name=request.provider_name,
            provider_request_id=provider_request_id,
            input_tokens=0,
            output_tokens=0,
            cache_read_tokens=0,
            cache_write_tokens=0,
            cost_usd=Decimal(0),
            prompt_name=request.prompt_name,
            prompt_version=request.prompt_version,
            prompt_hash=request.prompt_hash,
            latency_ms=latency_ms,
            created_at=request.clock(),
            attempt_status="failed",
            error=error,
        )
    )


class ResponseBrokeOff(ModelAPIError):
    """A response that broke off after its 200 (a stream cut mid-way): the SDK does not retry it, since
    pydantic-ai had begun building the response. Nothing of it was kept and no tool call in it ran, so
    the request may be asked again from the run's last checkpoint (`RunnerSettings.stream_restarts`).
    `broken` is the error pydantic-ai raised."""

    def __init__(self, broken: ModelAPIError) -> None:
        super().__init__(
            broken.model_name,
            broken.message,
            body=broken.body,
            provider_error_code=broken.provider_error_code,
            provider_error_type=broken.provider_error_type,
            retry_after=broken.retry_after,
            in_stream=broken.in_stream,
        )
        self.broken = broken


class LedgerWriter:
    """Writes ledger rows durably; logs warnings for costly requests and days."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        spool_path: Path,
        daily_warning_usd: Decimal | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session_factory = session_factory
        self._spool_path = spool_path
        self._daily_warning_usd = daily_warning_usd
        self._clock = clock
        self._lock = asyncio.Lock()

    async def record(self, entry: LedgerEntry) -> None:
        """Store one row. Never raises: after repeated failures the row goes to the spool file."""
        if entry.cost_usd is not None and entry.cost_usd > HIGH_COST_REQUEST_USD:
            logfire.warn(
                "model request cost ${cost} (over ${threshold})",
                cost=str(entry.cost_usd),
                threshold=str(HIGH_COST_REQUEST_USD),
                run_id=entry.run_id,
                model_name=entry.model_name,
            )
        async with self._lock:
            for attempt in range(1, _WRITE_ATTEMPTS + 1):
                try:
                    await self._flush_spool_locked()
                    await self._insert([entry])
                    break
                except Exception as error:
                    if attempt == _WRITE_ATTEMPTS:
                        self._spool(entry, error)
                        return
                    await asyncio.sleep(_RETRY_DELAY_SECONDS * attempt)
        if self._daily_warning_usd is not None:
            await self._warn_if_day_over_budget(entry.created_at.date())

    async def flush_spool(self) -> int:
        """Replay spooled rows into the database; returns how many were written."""
        async with self._lock:
            return await self._flush_spool_locked()

    async def _flush_spool_locked(self) -> int:
        if not self._spool_path.exists():
            return 0
        # Take the file away first (an atomic rename): rows other processes append from now on go to a
        # new spool file, so deleting this one after the replay cannot lose them.
        replaying = self._spool_path.with_name(f"{self._spool_path.name}.replaying-{uuid.uuid4().hex}")
        try:
            self._spool_path.rename(replaying)
        except FileNotFoundError:  # another process took it first
            return 0
        entries: list[LedgerEntry] = []
        torn: list[str] = []
        for line in replaying.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                entries.append(LedgerEntry.from_json(line))
            except (ValueError, KeyError, TypeError):
                torn.append(line)
        if torn:
            # A line cut short by a crash mid-write: keep it for a person, never block the ledger on it.
            corrupt = self._spool_path.with_name(self._spool_path.name + ".corrupt")
            with corrupt.open("a", encoding="utf-8") as kept:
                kept.writelines(line + "\n" for line in torn)
            logfire.error(
                "ledger spool had {count} unreadable lines; kept in {path}", count=len(torn), path=str(corrupt)
            )
        try:
            if entries:
                await self._insert(entries)
        except Exception:
            # Put the rows back for the next attempt (appending, as new rows may have been spooled meanwhile).
            with self._spool_path.open("a", encoding="utf-8") as spool:
                spool.writelines(entry.to_json() + "\n" for entry in entries)
            replaying.unlink()
            raise
        # Only after the rows are committed: a crash in between replays them once more rather than
        # losing them, and the spool is rare enough that a duplicate is the lesser evil.
        replaying.unlink()
        return len(entries)

    async def _insert(self, entries: list[LedgerEntry]) -> None:
        async with self._session_factory.begin() as session:
            session.add_all(LedgerRow(**asdict(entry)) for entry in entries)

    def _spool(self, entry: LedgerEntry, error: Exception) -> None:
        logfire.error(
            "ledger write failed; row kept in the spool file",
            run_id=entry.run_id,
            error_type=type(error).__name__,
            spool=str(self._spool_path),
        )
        try:
            self._spool_path.parent.mkdir(parents=True, exist_ok=True)
            with self._spool_path.open("a", encoding="utf-8") as spool:
                spool.write(entry.to_json() + "\n")
        except OSError as spool_error:
            # Neither the database nor the disk takes the row: the last place left is the log.
            logfire.error(
                "ledger row lost: the spool file cannot be written ({error_type}); row {row}",
                error_type=type(spool_error).__name__,
                row=entry.to_json(),
            )

    async def _warn_if_day_over_budget(self, day: date) -> None:
        assert self._daily_warning_usd is not None
        start = datetime.combine(day, dt_time.min, tzinfo=UTC)
        try:
            async with self._session_factory() as session:
                total = (
                    await session.execute(
                        select(func.sum(LedgerRow.cost_usd)).where(
                            LedgerRow.created_at >= start, LedgerRow.created_at < start + timedelta(days=1)
                        )
                    )
                ).scalar_one()
        except Exception:  # a warning is not worth failing a run over
            return
        if total is not None and total > self._daily_warning_usd:
            logfire.warn(
                "model spend today is ${total} (over ${threshold})",
                total=str(total),
                threshold=str(self._daily_warning_usd),
                day=day.isoformat(),
            )


def _run_of(ctx: RunContext[Any]) -> RunDeps:
    run = run_of(ctx)
    if run is None:
        # Every request is charged to a run; one outside any run would be spend nobody can see.
        raise UserError("this agent's model requests are recorded by Signoff: drive it through its Guard or Runner")
    return run


# The purpose of the agent's own requests: planning the task (other kinds are routed, see agent/models.py).
PLANNING = "planning"


@dataclass(kw_only=True)
class LedgerCapability(AbstractCapability[Any]):
    """Records every model request of a run in the ledger; optionally stops a run at a cost limit.

    `purpose` is the kind of work the requests do (`planning` for the agent, `summary` for a tool's
    routed call), recorded on each row next to the model that answered. `prompt` is the prompt version
    whose instructions the requests carry, when that is not the run's own (a tool's routed call under
    its own versioned prompt); None records the run's prompt, as planning requests do.
    """

    writer: LedgerWriter
    purpose: str = PLANNING
    max_run_cost_usd: Decimal | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    prompt: PromptRef | None = None

    def _prompt_for(self, deps: RunDeps) -> PromptRef:
        return deps.prompt if self.prompt is None else self.prompt

    async def before_model_request(
        self, ctx: RunContext[Any], request_context: ModelRequestContext
    ) -> ModelRequestContext:
        deps = _run_of(ctx)
        if self.max_run_cost_usd is not None and deps.model_cost_usd >= self.max_run_cost_usd:
            raise RunCostLimitExceeded(
                run_id=deps.run_id, spent_usd=deps.model_cost_usd, limit_usd=self.max_run_cost_usd
            )
        model = request_context.model
        prompt = self._prompt_for(deps)
        _request_in_flight.set(
            _RequestInFlight(
                writer=self.writer,
                run_id=deps.run_id,
                # The step `wrap_model_request` numbers the response with: failed attempts share it.
                step=deps.model_requests + 1,
                purpose=self.purpose,
                model_name=model.model_name,
                provider_name=model.system,
                prompt_name=prompt.name,
                prompt_version=prompt.version,
                prompt_hash=prompt.content_hash,
                clock=self.clock,
                started=time.perf_counter(),
            )
        )
        return request_context

    async def on_run_error(self, ctx: RunContext[Any], *, error: BaseException) -> AgentRunResult[Any]:
        """Record a response that broke off after the SDK handed it over (a dropped stream) as a failed
        attempt, and raise it as `ResponseBrokeOff`: no SDK retry covers it, and the SDK middleware saw
        only its successful start."""
        request = _request_in_flight.get()
        if request is not None and request.answered and not request.settled and isinstance(error, ModelAPIError):
            request.settled = True
            await record_failed_attempt(
                error=f"response broke off: {error.message}",
                provider_request_id=request.provider_request_id,
                latency_ms=round((time.perf_counter() - request.started) * 1000),
            )
            raise ResponseBrokeOff(error) from error
        raise error

    async def wrap_model_request(
        self, ctx: RunContext[Any], *, request_context: ModelRequestContext, handler: WrapModelRequestHandler
    ) -> ModelResponse:
        started = time.perf_counter()
        response: ModelResponse = await handler(request_context)
        latency_ms = round((time.perf_counter() - started) * 1000)
        in_flight = _request_in_flight.get()
        if in_flight is not None:
            in_flight.settled = True
        deps = _run_of(ctx)
        price = price_response(response)
        if price is not None:
            deps.model_cost_usd += price.total_usd
        tokens = TokenCounts.of(response)
        prompt = self._prompt_for(deps)
        await self.writer.record(
            LedgerEntry(
                run_id=deps.run_id,
                step=deps.next_step(),
                purpose=self.purpose,
                model_name=response.model_name or "unknown",
                provider_name=response.provider_name,
                # Anthropic's request id when the SDK reported one; else whatever id the provider gave.
                provider_request_id=(in_flight.provider_request_id if in_flight is not None else None)
                or response.provider_response_id,
                input_tokens=tokens.input_tokens,
                output_tokens=tokens.output_tokens,
                cache_read_tokens=tokens.cache_read_tokens,
                cache_write_tokens=tokens.cache_write_tokens,
                cache_write_5m_tokens=tokens.cache_write_5m_tokens,
                cache_write_1h_tokens=tokens.cache_write_1h_tokens,
                cost_usd=None if price is None else price.total_usd,
                price_data_version=None if price is None else price.data_version,
                prompt_name=prompt.name,
                prompt_version=prompt.version,
                prompt_hash=prompt.content_hash,
                latency_ms=latency_ms,
                created_at=self.clock(),
            )
        )
        return response
