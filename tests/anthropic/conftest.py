"""Fixtures for the Claude path: the real SDK and pydantic-ai's AnthropicModel over HTTP to the local
Messages API double, wired into a runtime on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from logfire.testing import TestExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pydantic_ai import models
from pydantic_ai.models.anthropic import AnthropicModel

from signoff.agent.models import ClaudeOptions, ModelPurpose, ModelRoutes, build_model_routes
from signoff.agent.runs import DEFAULT_STREAM_RESTARTS, RunnerSettings
from signoff.agent.runtime import Runtime
from signoff.agent.telemetry import configure_telemetry
from signoff.api.dev.anthropic_double import MessagesDouble
from signoff.tools.sales.demo_model import sales_offline_model
from tests.conftest import RuntimeFactory

SONNET = "anthropic:claude-sonnet-4-5"
HAIKU = "anthropic:claude-haiku-4-5"
# Any non-empty key: the double checks that one is sent, not which.
TEST_API_KEY = "sk-ant-test-key"


@pytest.fixture(autouse=True)
def requests_only_to_the_double(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model requests are allowed here because every one goes to a double on 127.0.0.1: the SDK gets
    its base URL from the test, and no Anthropic credentials or URL from the environment."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@dataclass(kw_only=True)
class ServedDouble:
    """A running double and its base URL."""

    double: MessagesDouble
    base_url: str


ServeDouble = Callable[[MessagesDouble], ServedDouble]


@pytest.fixture
def serve() -> Iterator[ServeDouble]:
    """Start doubles for the test; all are stopped at its end."""
    stops: list[Any] = []

    def start(double: MessagesDouble) -> ServedDouble:
        context = double.serve()
        base_url = context.__enter__()
        stops.append(context)
        return ServedDouble(double=double, base_url=base_url)

    yield start
    for context in reversed(stops):
        context.__exit__(None, None, None)


ClaudeRuntimeFactory = Callable[..., Runtime]


@pytest.fixture
async def claude_runtime(make_runtime: RuntimeFactory) -> AsyncIterator[ClaudeRuntimeFactory]:
    """A runtime whose models are Claude through the real SDK, pointed at `base_url`. Their HTTP clients
    are closed at the end of the test, while its event loop still runs."""
    built: list[ModelRoutes] = []

    def factory(
        base_url: str,
        *,
        model_id: str = SONNET,
        routes: Mapping[ModelPurpose, str] | None = None,
        stream: bool = False,
        prompt_caching: bool = True,
        max_retries: int = 4,
        stream_restarts: int = DEFAULT_STREAM_RESTARTS,
        **runtime_kwargs: Any,
    ) -> Runtime:
        options = ClaudeOptions(
            api_key=TEST_API_KEY, base_url=base_url, max_retries=max_retries, prompt_caching=prompt_caching
        )
        model_routes = build_model_routes(model_id, routes, claude=options, offline=sales_offline_model)
        built.append(model_routes)
        return make_runtime(
            model_routes.model_for("planning"),
            settings=RunnerSettings(stream_model_responses=stream, stream_restarts=stream_restarts),
            model_routes=model_routes,
            **runtime_kwargs,
        )

    yield factory
    for model_routes in built:
        await close_clients(model_routes)


async def close_clients(model_routes: ModelRoutes) -> None:
    """Close the SDK clients behind the routes' Claude models."""
    for model in {id(m): m for m in (model_routes.default, *model_routes.routes.values())}.values():
        if isinstance(model, AnthropicModel):
            await model.client.close()


@pytest.fixture
def exported_spans() -> Iterator[TestExporter]:
    """Spans and logs (logfire logs are spans) that telemetry exports, configured as production does."""
    exporter = TestExporter()
    configure_telemetry(additional_span_processors=[SimpleSpanProcessor(exporter)], instrument_pydantic_ai=False)
    yield exporter
    configure_telemetry(instrument_pydantic_ai=False)  # local-only again for the tests that follow
