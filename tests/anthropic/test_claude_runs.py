"""End-to-end runs on Claude through the real SDK and pydantic-ai's AnthropicModel, over HTTP to the
Messages API double: a tool call that needs approval, plain and streamed; exact ledger figures; caching."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from sqlalchemy import select

from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.agent.store.migrate import upgrade_database
from signoff.agent.store.tables import LedgerRow
from signoff.api.dev.anthropic_double import MessagesDouble, Reply, ToolUse, build_prompt
from signoff.tools.sales import sales_pack
from tests.agent.helpers import contacts, crm_contact_count
from tests.anthropic.conftest import ClaudeRuntimeFactory, ServeDouble
from tests.anthropic.support import IGNORE_SONNET_DEPRECATION, hand_priced, ledger_tokens, reported_tokens

pytestmark = IGNORE_SONNET_DEPRECATION


def _script() -> list[Reply]:
    return [
        Reply(tool_uses=[ToolUse("get_contact", {"email": "person0@acme.example"})]),
        Reply(
            tool_uses=[ToolUse("discover_leads", {"icp": {"industry": "fintech", "location": "Berlin"}, "limit": 3})]
        ),
        Reply(text="Syncing the two contacts.", tool_uses=[ToolUse("sync_contacts_to_crm", {"contacts": contacts(2)})]),
        Reply(text="Synced both contacts to the CRM."),
    ]


async def _ledger(session_factory: SessionFactory, run_id: str | None = None) -> list[LedgerRow]:
    query = select(LedgerRow).order_by(LedgerRow.ledger_id)
    if run_id is not None:
        query = query.where(LedgerRow.run_id == run_id)
    async with session_factory() as session:
        return list((await session.execute(query)).scalars())


async def _run_with_approval(runtime: Any, task: str) -> str:
    outcome = await runtime.runner.start(task)
    assert outcome.status == "awaiting_approval" and len(outcome.pending_approval_ids) == 1
    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="ivan")
    resumed = await runtime.runner.resume(outcome.run_id)
    assert resumed.status == "completed" and resumed.output == "Synced both contacts to the CRM."
    return outcome.run_id


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
async def test_a_run_with_an_approval_is_ledgered_exactly_as_claude_reported_it(
    stream: bool, serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    served = serve(MessagesDouble(_script()))
    runtime = claude_runtime(served.base_url, stream=stream)

    run_id = await _run_with_approval(runtime, "Sync the two Acme contacts to the CRM (fintech leads in Berlin)")

    assert await crm_contact_count(session_factory) == 2  # the approved call ran, once
    exchanges = served.double.message_exchanges
    assert [exchange.streamed for exchange in exchanges] == [stream] * 4
    rows = await _ledger(session_factory, run_id)
    assert len(rows) == len(exchanges) == 4
    for row, exchange in zip(rows, exchanges, strict=True):
        assert ledger_tokens(row) == reported_tokens(exchange)
        assert row.provider_request_id == exchange.request_id
        assert (row.model_name, row.purpose, row.attempt_status) == ("claude-sonnet-4-5", "planning", "succeeded")
        assert row.cost_usd == hand_priced(exchange.usage or {})
        assert row.price_data_version == f"genai-prices {genai_prices.__version__}"
        # Tools, instructions and the conversation's automatic breakpoint: within Anthropic's limit of 4.
        assert exchange.breakpoints == 3
    assert [row.step for row in rows] == [1, 2, 3, 4]  # numbering continues across the approval pause
    run_cost = sum((row.cost_usd or Decimal(0) for row in rows), start=Decimal(0))
    assert run_cost == sum((hand_priced(exchange.usage or {}) for exchange in exchanges), start=Decimal(0))
    # From the second step on, each request reads the prefix the previous one wrote.
    assert all(row.cache_read_tokens > 0 for row in rows[1:])


async def test_plain_and_streamed_runs_leave_the_same_ledger_rows(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory, tmp_path: Path
) -> None:
    # The streamed run gets a database of its own, so that its tools see the same CRM as the plain one did.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'streamed.db'}")
    await upgrade_database(engine, [sales_pack()])
    databases = {False: session_factory, True: create_session_factory(engine)}
    contents: list[list[tuple[Any, ...]]] = []
    try:
        for stream, sessions in databases.items():
            served = serve(MessagesDouble(_script()))  # a fresh double each: same ids, empty cache
            runtime = claude_runtime(served.base_url, stream=stream, factory_session=sessions)
            run_id = await _run_with_approval(runtime, "Sync the Acme contacts (fintech leads in Berlin)")
            contents.append([_content(row) for row in await _ledger(sessions, run_id)])
    finally:
        await engine.dispose()
    plain, streamed = contents
    assert plain == streamed and len(plain) == 4


def _content(row: LedgerRow) -> tuple[Any, ...]:
    """Everything a ledger row says about its request, except the run it belongs to and how long it took."""
    return (
        row.step,
        row.purpose,
        row.model_name,
        row.provider_name,
        row.provider_request_id,
        *ledger_tokens(row).values(),
        row.cost_usd,
        row.price_data_version,
        row.attempt_status,
        row.error,
    )


async def test_runs_of_one_prompt_version_send_identical_instructions_and_tools_and_share_their_cache(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    served = serve(MessagesDouble([Reply(text="First answer."), Reply(text="Second answer.")]))
    runtime = claude_runtime(served.base_url)

    first = await runtime.runner.start("Find fintech leads in Berlin")
    # A new runtime: nothing in this process carries over from the first run but the provider's cache.
    second = await claude_runtime(served.base_url).runner.start(
        "Enrich person3@acme.example", context={"requested_at": "2026-11-27T09:00:00Z"}
    )

    assert first.status == second.status == "completed"
    one, two = served.double.message_exchanges
    assert one.body["system"] == two.body["system"]  # byte-identical after JSON parsing: same text and markers
    assert one.body["tools"] == two.body["tools"]
    assert one.body["messages"] != two.body["messages"]  # only the task differs
    # The second run reads exactly the tools-and-instructions prefix the first one wrote.
    prompt = build_prompt(two.body)
    stable_prefix = max(block.prefix_tokens for block in prompt.blocks if block.location.startswith("system."))
    assert two.usage is not None and two.usage["cache_read_input_tokens"] == stable_prefix
    # The stable prefix is long enough for Sonnet's minimum cacheable length without lowering it.
    assert stable_prefix >= 1024
    first_rows, second_rows = (
        await _ledger(session_factory, first.run_id),
        await _ledger(session_factory, second.run_id),
    )
    assert second_rows[0].cache_read_tokens == stable_prefix and first_rows[0].cache_read_tokens == 0
