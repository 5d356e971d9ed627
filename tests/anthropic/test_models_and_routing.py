"""Model choice: an unknown model still runs (cost unknown, a warning), routed calls land on the ledger
with their model and purpose, and settings map onto the SDK the way the SDK itself reads them."""

from __future__ import annotations

import json

import pytest
from logfire.testing import TestExporter
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel
from sqlalchemy import select

from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import LedgerRow
from signoff.api.dev.anthropic_double import MessagesDouble, Reply
from signoff.api.runtime import select_model, select_model_routes
from signoff.api.settings import Settings
from signoff.tools.context import PromptRef, RunDeps
from tests.anthropic.conftest import (
    HAIKU,
    SONNET,
    TEST_API_KEY,
    ClaudeRuntimeFactory,
    ServeDouble,
    close_clients,
)
from tests.anthropic.support import IGNORE_SONNET_DEPRECATION, ledger_tokens, reported_tokens

pytestmark = IGNORE_SONNET_DEPRECATION


async def _ledger(session_factory: SessionFactory) -> list[LedgerRow]:
    async with session_factory() as session:
        return list((await session.execute(select(LedgerRow).order_by(LedgerRow.ledger_id))).scalars())


async def test_an_unknown_model_runs_with_its_cost_unknown_and_a_warning(
    serve: ServeDouble,
    claude_runtime: ClaudeRuntimeFactory,
    session_factory: SessionFactory,
    exported_spans: TestExporter,
) -> None:
    served = serve(MessagesDouble([Reply(text="Done.")]))

    outcome = await claude_runtime(served.base_url, model_id="anthropic:claude-imaginary-9").runner.start("Say done")

    assert outcome.status == "completed" and outcome.output == "Done."
    [row] = await _ledger(session_factory)
    assert row.model_name == "claude-imaginary-9"
    assert row.cost_usd is None and row.price_data_version is None  # unknown, never 0
    assert ledger_tokens(row) == reported_tokens(served.double.message_exchanges[0])  # tokens still exact
    warnings = [
        span for span in exported_spans.exported_spans if (span.attributes or {}).get("logfire.level_num") == 13
    ]
    assert any(
        span.name == "no price for model {model_name}: cost recorded as unknown"
        and (span.attributes or {}).get("model_name") == "claude-imaginary-9"
        for span in warnings
    )


async def test_a_routed_summary_call_is_ledgered_with_its_model_and_purpose(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    served = serve(MessagesDouble([Reply(text="Acme: two contacts, both new.")]))
    runtime = claude_runtime(served.base_url, routes={"summary": HAIKU})
    run, _ = await runtime.runner.create_run("Summarise the Acme account")
    prompt = runtime.runner.prompt
    deps = RunDeps(
        run_id=run.run_id, prompt=PromptRef(name=prompt.name, version=prompt.version, content_hash=prompt.content_hash)
    )

    summary = await runtime.model_calls.complete(
        "summary",
        instructions="Summarise the account notes in one line.",
        content="Notes: two new contacts.",
        deps=deps,
    )

    assert summary == "Acme: two contacts, both new."
    (exchange,) = served.double.message_exchanges
    assert exchange.body["model"] == "claude-haiku-4-5"
    assert exchange.body["messages"][0]["content"][0]["text"] == "Notes: two new contacts."  # data, not instructions
    [row] = await _ledger(session_factory)
    assert (row.run_id, row.step, row.purpose, row.model_name) == (run.run_id, 1, "summary", "claude-haiku-4-5")
    assert ledger_tokens(row) == reported_tokens(exchange) and row.cost_usd is not None
    # Planning stays on the default model.
    assert runtime.runner.model.model_name == "claude-sonnet-4-5"


async def test_settings_route_work_and_leave_key_and_base_url_to_the_sdk(
    serve: ServeDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve(MessagesDouble([Reply(text="From the double.")]))
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", served.base_url)  # read by the SDK, not by Signoff
    monkeypatch.setenv("SIGNOFF_MODEL_ROUTES", json.dumps({"summary": HAIKU}))
    monkeypatch.setenv("SIGNOFF_MAX_RETRIES", "2")
    settings = Settings()

    routes = select_model_routes(settings)
    planning, summary = routes.model_for("planning"), routes.model_for("summary")
    assert isinstance(planning, AnthropicModel) and isinstance(summary, AnthropicModel)
    assert (planning.model_name, summary.model_name) == (SONNET.removeprefix("anthropic:"), "claude-haiku-4-5")
    assert routes.model_for("classification") is summary  # the default route, Haiku: one model per id
    assert isinstance(select_model(settings), AnthropicModel)
    client = planning.client
    assert str(client.base_url).rstrip("/") == served.base_url and client.max_retries == 2

    try:
        result = await Agent(summary).run("hello")
    finally:
        await close_clients(routes)
    assert result.output == "From the double."
    headers = served.double.message_exchanges[0].headers
    assert TEST_API_KEY in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ('{"sumary": "anthropic:claude-haiku-4-5"}', "Input should be 'planning', 'summary' or 'classification'"),
        ('{"summary": "openai:gpt-5"}', "route 'summary': model 'openai:gpt-5' is not supported"),
        ('{"summary": "anthropic:"}', "model 'anthropic:' is not supported"),
        ("not json", "model_routes"),
    ],
)
def test_a_bad_routing_map_is_a_clear_error(routes: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNOFF_MODEL_ROUTES", routes)
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings()


def test_retries_and_timeouts_must_fit_in_a_run_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNOFF_MAX_RETRIES", "9")
    monkeypatch.setenv("SIGNOFF_REQUEST_TIMEOUT_SECONDS", "120")
    with pytest.raises(ValueError, match="10 attempts of 120 s, longer than a run's lease"):
        Settings()


def test_caching_can_be_turned_off_and_the_stable_prefix_kept_for_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("SIGNOFF_CACHE_TTL", "1h")
    hour = select_model(Settings())  # no request is sent: no client to close
    assert hour.settings is not None
    assert {key: value for key, value in hour.settings.items() if "cache" in key} == {
        "anthropic_cache_tool_definitions": "1h",
        "anthropic_cache_instructions": "1h",
        "anthropic_cache": "5m",
    }
    monkeypatch.setenv("SIGNOFF_PROMPT_CACHING", "false")
    off = select_model(Settings())
    assert off.settings is not None and not any(value for key, value in off.settings.items() if "cache" in key)
    monkeypatch.setenv("SIGNOFF_CACHE_TTL", "2h")
    with pytest.raises(ValueError, match="cache_ttl"):
        Settings()
