"""Recording model requests as they happen: `LedgerCapability` plugs into pydantic-ai around each one.

It writes one ledger row per answered request (through `agent.ledger.LedgerWriter`), and keeps the
request in flight in a context variable so that the Anthropic SDK's middleware can record each attempt
that got no response (`record_failed_attempt`: a 429, 529 or 500 it retried, a dropped connection) and
hand over the provider's request id (`note_provider_request_id`). A response that breaks off after its
200 is raised as `ResponseBrokeOff` for the runner to ask again; the optional hard cost limit per run
is `RunCostLimitExceeded`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import logfire
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.capabilities.abstract import WrapModelRequestHandler
from pydantic_ai.exceptions import ModelAPIError, UserError
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models import ModelRequestContext
from pydantic_ai.run import AgentRunResult
from pydantic_ai.tools import RunContext

from signoff.agent.ledger import LedgerEntry, LedgerWriter
from signoff.agent.pricing import TokenCounts, price_response
from signoff.agent.run_scope import run_of
from signoff.tools.context import PromptRef, RunDeps

__all__ = [
    "PLANNING",
    "LedgerCapability",
    "ResponseBrokeOff",
    "RunCostLimitExceeded",
    "note_provider_request_id",
    "record_failed_attempt",
]


class RunCostLimitExceeded(Exception):
    """The run reached its optional hard model-cost limit; it fails before the next model request."""

    def __init__(self, *, run_id: str, spent_usd: Decimal, limit_usd: Decimal) -> None:
        self.run_id = run_id
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        super().__init__(f"run {run_id!r} reached its model cost limit: spent ${spent_usd} of ${limit_usd}")


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
