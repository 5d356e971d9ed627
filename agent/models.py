"""Which model does which kind of work: Claude through the official SDK, or the offline model.

Everything here takes explicit arguments; `api/` maps settings onto them. Claude is pydantic-ai's
`AnthropicModel` over an `AsyncAnthropic` client built here, so that the SDK's own machinery does the
work: it reads `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL` itself when they are not passed, retries
429, 529, 500 and dropped connections with backoff honouring `retry-after`, and runs `AttemptLedger`,
a client middleware that sees every HTTP attempt and records the failed ones in the ledger.

Prompt caching is on by default: breakpoints on the tool definitions and the instructions (the stable
prefix every run of a prompt version shares) and Anthropic's automatic breakpoint on the end of the
growing conversation, which moves forward with each step. That is three of Anthropic's four.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from anthropic import APIConnectionError, APIRequest, AsyncAnthropic, AsyncAPIResponse, AsyncCallNext, Middleware
from pydantic_ai.exceptions import ModelAPIError, ModelConnectionError, ModelHTTPError
from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel, AnthropicModelSettings
from pydantic_ai.providers.anthropic import AnthropicProvider

from signoff.agent.ledger_capability import note_provider_request_id, record_failed_attempt
from signoff.agent.offline_classifier import offline_classifier_model
from signoff.tools.context import ModelPurpose

__all__ = [
    "ANTHROPIC_PREFIX",
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MODEL_ROUTES",
    "DEFAULT_REQUEST_TIMEOUT_SECONDS",
    "MODEL_PURPOSES",
    "OFFLINE_MODEL_ID",
    "AttemptLedger",
    "CacheTtl",
    "ClaudeOptions",
    "ModelPurpose",
    "ModelRoutes",
    "build_model_routes",
    "claude_model",
    "claude_model_settings",
    "describe_model_failure",
    "validate_model_id",
]

ANTHROPIC_PREFIX = "anthropic:"
OFFLINE_MODEL_ID = "offline"

CacheTtl = Literal["5m", "1h"]

MODEL_PURPOSES: tuple[ModelPurpose, ...] = get_args(ModelPurpose)

DEFAULT_MODEL_ROUTES: Mapping[ModelPurpose, str] = {"classification": "anthropic:claude-haiku-4-5"}
"""Routes that apply unless configured otherwise (api/settings.py merges them under the configured map).
Labelling a batch of short replies is what Haiku is for: a fifth of Sonnet's input price and a third
of its output price, and quick. genai-prices knows it, so these rows are priced."""

# One attempt may stream a long plan; two minutes is several times what a planning step takes, and
# short enough that all attempts (1 + DEFAULT_MAX_RETRIES) fit well inside a run's 15-minute lease.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 120.0
# A planning step writes a short plan and tool calls; 8,192 output tokens is room for a batch of 25
# contacts several times over. It also keeps requests non-streaming when asked: the SDK insists on
# streaming a request whose `max_tokens` could take over ten minutes to generate.
DEFAULT_MAX_OUTPUT_TOKENS = 8192
# Five attempts in all: the SDK waits 0.5, 1, 2 and 4 seconds between them (or what `retry-after`
# says), which rides out a short overload without holding a run for long.
DEFAULT_MAX_RETRIES = 4


@dataclass(frozen=True, kw_only=True)
class ClaudeOptions:
    """How to reach Claude. `api_key` and `base_url` left None are read by the SDK from
    `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL` (the base URL defaults to Anthropic's API)."""

    api_key: str | None = None
    base_url: str | None = None
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    max_retries: int = DEFAULT_MAX_RETRIES
    prompt_caching: bool = True
    cache_ttl: CacheTtl = "5m"
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS

    def __post_init__(self) -> None:
        if self.request_timeout_seconds <= 0:
            raise ValueError(f"request_timeout_seconds must be positive, not {self.request_timeout_seconds!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {self.max_retries!r}")
        if self.max_output_tokens <= 0:
            raise ValueError(f"max_output_tokens must be positive, not {self.max_output_tokens!r}")
        if self.cache_ttl not in get_args(CacheTtl):
            raise ValueError(f"cache_ttl must be '5m' or '1h', not {self.cache_ttl!r}")


def validate_model_id(model_id: str) -> str:
    """`anthropic:<model>` or `offline`; anything else is a clear error."""
    if model_id == OFFLINE_MODEL_ID:
        return model_id
    if not model_id.startswith(ANTHROPIC_PREFIX) or not model_id.removeprefix(ANTHROPIC_PREFIX).strip():
        raise ValueError(f"model {model_id!r} is not supported: use 'anthropic:<model id>' or {OFFLINE_MODEL_ID!r}")
    return model_id


def claude_model_settings(options: ClaudeOptions) -> AnthropicModelSettings:
    """The output cap and the cache breakpoints every request carries.

    The tool definitions and the instructions get `cache_ttl`: they are the prefix runs share, and a
    one-hour TTL keeps it across quiet spells. The conversation gets five minutes whatever the TTL:
    its steps follow each other within seconds, and a one-hour write costs 2x the input price against
    1.25x. Explicit `anthropic_cache*` settings (rather than pydantic-ai's unified `cache`) so that
    turning caching off sends no breakpoint at all.
    """
    if not options.prompt_caching:
        return AnthropicModelSettings(
            max_tokens=options.max_output_tokens,
            anthropic_cache_tool_definitions=False,
            anthropic_cache_instructions=False,
            anthropic_cache=False,
        )
    return AnthropicModelSettings(
        max_tokens=options.max_output_tokens,
        anthropic_cache_tool_definitions=options.cache_ttl,
        anthropic_cache_instructions=options.cache_ttl,
        anthropic_cache="5m",
    )


class AttemptLedger(Middleware):
    """SDK middleware: records each HTTP attempt that got no usable response as a failed ledger attempt.

    The SDK runs middleware once per attempt inside its retry loop, so a 429 followed by a success is
    one failed row (here) and one row with tokens (from `LedgerCapability`). A stream that breaks
    after its 200 is past the middleware; `LedgerCapability` records that one.
    """

    async def handle_async(self, request: APIRequest, call_next: AsyncCallNext) -> AsyncAPIResponse[Any]:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except APIConnectionError as error:
            await record_failed_attempt(
                error=f"attempt {request.retries_taken + 1}: {_connection_error_text(error)}",
                provider_request_id=None,
                latency_ms=_elapsed_ms(started),
            )
            raise
        if response.status_code >= 400:
            await record_failed_attempt(
                error=f"attempt {request.retries_taken + 1}: {await _error_response_text(response)}",
                provider_request_id=response.request_id,
                latency_ms=_elapsed_ms(started),
            )
        else:
            note_provider_request_id(response.request_id)
        return response


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _connection_error_text(error: APIConnectionError) -> str:
    kind = "timed out" if "timeout" in type(error).__name__.lower() else "connection failed"
    cause = error.__cause__
    detail = f"{type(cause).__name__}: {cause}" if cause is not None else error.message
    return f"{kind} ({detail})"


async def _error_response_text(response: AsyncAPIResponse[Any]) -> str:
    """`HTTP 429 rate_limit_error: <message> (retry-after 1)`, from the error body Anthropic sends."""
    text = f"HTTP {response.status_code}"
    try:
        await response.read()  # small, and kept by httpx for the SDK's own error afterwards
        body: object = response.http_response.json()
    except Exception:  # an unreadable error body still leaves the status to report
        body = None
    error = cast("dict[str, object]", body).get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        fields = cast("dict[str, object]", error)
        text += f" {fields.get('type', 'error')}: {fields.get('message', '')}".rstrip(": ")
    if retry_after := response.headers.get("retry-after"):
        text += f" (retry-after {retry_after})"
    return text


def claude_model(model_id: str, *, options: ClaudeOptions) -> AnthropicModel:
    """Claude as a pydantic-ai model: `anthropic:claude-sonnet-4-5` or a bare `claude-sonnet-4-5`."""
    client = AsyncAnthropic(
        api_key=options.api_key,
        # None lets the SDK read ANTHROPIC_BASE_URL; AnthropicProvider then keeps the client as built.
        base_url=options.base_url,
        max_retries=options.max_retries,
        timeout=options.request_timeout_seconds,
        middleware=[AttemptLedger()],
    )
    return AnthropicModel(
        model_id.removeprefix(ANTHROPIC_PREFIX),
        provider=AnthropicProvider(anthropic_client=client),
        settings=claude_model_settings(options),
    )


@dataclass(frozen=True, kw_only=True)
class ModelRoutes:
    """The model for each kind of work; kinds without a route use `default`."""

    default: Model
    routes: Mapping[ModelPurpose, Model] = field(default_factory=dict[ModelPurpose, Model])

    def model_for(self, purpose: ModelPurpose) -> Model:
        """The model that does `purpose`."""
        return self.routes.get(purpose, self.default)


def build_model_routes(
    default_model_id: str,
    routes: Mapping[ModelPurpose, str] | None = None,
    *,
    claude: ClaudeOptions | None,
    offline: Callable[[], Model],
    offline_classifier: Callable[[], Model] = offline_classifier_model,
) -> ModelRoutes:
    """Models for the default id and each routed kind of work, one model per distinct id.

    Without `claude` options (no key configured) every id falls back to the offline model, which
    says so in its answers: the offline model stays the default on a machine without a key. Offline
    `classification` goes to `offline_classifier` instead, a keyword classifier, so that tools that
    classify work without a key too (the scripted planning model cannot label text).
    """
    configured = dict(routes or {})
    built: dict[str, Model] = {}

    def model(model_id: str) -> Model:
        validate_model_id(model_id)
        if model_id not in built:
            built[model_id] = (
                offline() if model_id == OFFLINE_MODEL_ID or claude is None else claude_model(model_id, options=claude)
            )
        return built[model_id]

    default = model(default_model_id)
    routed: dict[ModelPurpose, Model] = {purpose: model(model_id) for purpose, model_id in configured.items()}
    if claude is None or configured.get("classification", default_model_id) == OFFLINE_MODEL_ID:
        routed["classification"] = offline_classifier()
    return ModelRoutes(default=default, routes=routed)


_STATUS_NAMES = {
    429: "rate limited",
    500: "server error",
    529: "overloaded",
    503: "unavailable",
    504: "timed out",
}


def describe_model_failure(error: ModelAPIError) -> str:
    """A one-line reason for a run that failed on a model request, e.g.
    `Anthropic API overloaded (529) after 5 attempts`.

    The attempt count comes from the request the SDK last sent (`retries_taken`, which it also puts in
    the `x-stainless-retry-count` header), so it is exact whether or not the SDK gave up early.
    """
    provider = "Anthropic API" if "claude" in error.model_name else f"model API ({error.model_name})"
    attempts = _attempts(error)
    after = "" if attempts is None else f" after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(error, ModelHTTPError):
        name = _STATUS_NAMES.get(error.status_code, "rejected the request")
        return f"{provider} {name} ({error.status_code}){after}"
    if isinstance(error, ModelConnectionError):
        return f"{provider} connection failed ({error.message}){after}"
    return f"{provider} failed ({error.message}){after}"


def _attempts(error: BaseException) -> int | None:
    """How many attempts the SDK made, from the retry counter on the last request it sent."""
    cause = error.__cause__
    request = getattr(getattr(cause, "response", None), "request", None) or getattr(cause, "request", None)
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    retries = headers.get("x-stainless-retry-count")
    return int(retries) + 1 if retries is not None and str(retries).isdigit() else None
