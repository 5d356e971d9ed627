"""Rate limits, overloads and dropped connections: bounded SDK retries honouring `retry-after`, each
failed attempt a ledger row without tokens, and a clear run failure when the retries run out."""

from __future__ import annotations

import copy
import json
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from signoff.agent.costs import cost_report
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import LedgerRow
from signoff.api.dev.anthropic_double import Fault, MessagesDouble, Reply, ToolUse
from tests.agent.helpers import contacts, crm_contact_count
from tests.anthropic.conftest import ClaudeRuntimeFactory, ServeDouble
from tests.anthropic.support import IGNORE_SONNET_DEPRECATION, answered, hand_priced, ledger_tokens, reported_tokens

pytestmark = IGNORE_SONNET_DEPRECATION

NO_TOKENS = dict.fromkeys(
    (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
    ),
    0,
)


def _with_results_decoded(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages API request body with the text of each tool result parsed as JSON."""
    decoded = copy.deepcopy(body)
    for message in decoded["messages"]:
        for block in message["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                for part in block["content"]:
                    part["text"] = json.loads(part["text"])
    return decoded


async def _ledger(session_factory: SessionFactory) -> list[LedgerRow]:
    async with session_factory() as session:
        return list((await session.execute(select(LedgerRow).order_by(LedgerRow.ledger_id))).scalars())


async def test_a_rate_limited_attempt_is_retried_after_retry_after_and_recorded_without_tokens(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    served = serve(MessagesDouble([Reply(text="Done.")]))
    served.double.add_faults(Fault.rate_limited(retry_after=0.5))
    runtime = claude_runtime(served.base_url)

    started = time.monotonic()
    outcome = await runtime.runner.start("Say done")

    assert outcome.status == "completed" and outcome.output == "Done."
    assert time.monotonic() - started >= 0.5  # the SDK waited as long as `retry-after` said
    limited, success = served.double.message_exchanges
    assert limited.status == 429 and success.status == 200
    failed, succeeded = await _ledger(session_factory)
    assert (failed.attempt_status, failed.step, failed.provider_request_id) == ("failed", 1, limited.request_id)
    assert ledger_tokens(failed) == NO_TOKENS and failed.cost_usd == Decimal(0) and failed.price_data_version is None
    assert failed.error is not None and failed.error.startswith("attempt 1: HTTP 429 rate_limit_error")
    assert failed.error.endswith("(retry-after 0.5)")
    assert (succeeded.attempt_status, succeeded.step, succeeded.error) == ("succeeded", 1, None)
    assert ledger_tokens(succeeded) == reported_tokens(success)  # counted once, on the answered attempt
    assert succeeded.cost_usd == hand_priced(success.usage or {})

    # Reports count the answered request as a request and the failed attempt apart from it.
    async with session_factory() as session:
        [line] = await cost_report(session, group_by="run")
    assert (line.requests, line.failed_attempts, line.unpriced_requests) == (1, 1, 0)
    assert line.input_tokens == succeeded.input_tokens and line.cost_usd == succeeded.cost_usd


async def test_five_overloads_fail_the_run_with_the_reason_and_nothing_half_done(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    script = [
        Reply(tool_uses=[ToolUse("sync_contacts_to_crm", {"contacts": contacts(2)})]),
        Reply(text="Synced."),
    ]
    served = serve(MessagesDouble(script))
    runtime = claude_runtime(served.base_url)
    outcome = await runtime.runner.start("Sync two contacts")
    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="ivan")
    # The approved call runs; the request that reports its result meets five overloads (1 + 4 retries).
    served.double.add_faults(*[Fault.overloaded()] * 5)

    resumed = await runtime.runner.resume(outcome.run_id)

    reason = "Anthropic API overloaded (529) after 5 attempts"
    assert (resumed.status, resumed.failure_reason) == ("failed", reason)
    async with session_factory() as session:
        run = await run_store.get_run(session, run_id=outcome.run_id)
        approvals = await approval_store.list_approvals(session, run_id=outcome.run_id)
    assert run is not None and (run.status, run.failure_reason) == ("failed", reason)
    assert [approval.state for approval in approvals] == ["executed"]  # none left executing or pending
    assert await crm_contact_count(session_factory) == 2  # executed exactly once, not lost
    rows = await _ledger(session_factory)
    assert [(row.step, row.attempt_status) for row in rows] == [(1, "succeeded")] + [(2, "failed")] * 5
    overloaded = served.double.message_exchanges[1:]
    assert [exchange.status for exchange in overloaded] == [529] * 5
    for attempt, (row, exchange) in enumerate(zip(rows[1:], overloaded, strict=True), start=1):
        assert row.error == f"attempt {attempt}: HTTP 529 overloaded_error: Overloaded"
        assert row.provider_request_id == exchange.request_id and ledger_tokens(row) == NO_TOKENS


async def test_a_dropped_plain_response_is_retried(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    served = serve(MessagesDouble([Reply(text="Done.")]))
    served.double.add_faults(Fault.dropped_stream())

    outcome = await claude_runtime(served.base_url).runner.start("Say done")

    assert outcome.status == "completed"
    failed, succeeded = await _ledger(session_factory)
    assert failed.attempt_status == "failed" and ledger_tokens(failed) == NO_TOKENS
    assert failed.error is not None and failed.error.startswith("attempt 1: connection failed (RemoteProtocolError")
    assert ledger_tokens(succeeded) == reported_tokens(answered(served.double.exchanges)[0])


async def test_a_stream_dropped_mid_response_is_asked_again_and_the_approved_call_runs_once(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    # A stream that broke after its 200 and first events is past the SDK's retries: pydantic-ai had begun
    # building the response. Nothing of it was kept, so the runner continues from its last checkpoint.
    script = [
        Reply(tool_uses=[ToolUse("sync_contacts_to_crm", {"contacts": contacts(2)})]),
        Reply(text="Synced two contacts."),
    ]
    served = serve(MessagesDouble(script))
    runtime = claude_runtime(served.base_url, stream=True)
    outcome = await runtime.runner.start("Sync two contacts")
    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="ivan")
    # The approved call runs; the streamed answer to its result breaks off once.
    served.double.add_faults(Fault.dropped_stream())

    resumed = await runtime.runner.resume(outcome.run_id)

    assert (resumed.status, resumed.output) == ("completed", "Synced two contacts.")
    assert await crm_contact_count(session_factory) == 2
    first, broken, asked_again = served.double.message_exchanges
    assert (first.status, broken.fault, asked_again.status) == (200, "dropped_stream", 200)
    # The same request from the same checkpoint; the call's result now comes from the audit record, whose
    # JSON has its keys sorted, so the tool result is compared as data. It says `created: 2` both times: a
    # second sync would have reported the two contacts `unchanged`, so the approved call ran once.
    assert _with_results_decoded(broken.body) == _with_results_decoded(asked_again.body)
    [result] = _with_results_decoded(asked_again.body)["messages"][-1]["content"][0]["content"]
    assert (result["text"]["created"], result["text"]["unchanged"]) == (2, 0)
    rows = await _ledger(session_factory)
    assert [(row.step, row.attempt_status) for row in rows] == [(1, "succeeded"), (2, "failed"), (2, "succeeded")]
    assert rows[1].provider_request_id == broken.request_id and ledger_tokens(rows[1]) == NO_TOKENS
    assert rows[1].error is not None and rows[1].error.startswith("response broke off: peer closed connection")
    assert ledger_tokens(rows[2]) == reported_tokens(asked_again)


async def test_a_stream_that_keeps_breaking_fails_the_run_with_the_reason_and_every_break_recorded(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    served = serve(MessagesDouble([Reply(text="A long answer that never arrives in full.")]))
    served.double.add_faults(*[Fault.dropped_stream()] * 3)  # the first try and both restarts

    outcome = await claude_runtime(served.base_url, stream=True, stream_restarts=2).runner.start("Say something")

    assert outcome.status == "failed"
    assert outcome.failure_reason is not None
    assert outcome.failure_reason.startswith("Anthropic API connection failed (peer closed connection")
    assert outcome.failure_reason.endswith("after 1 attempt; the streamed response broke off 3 times")
    rows = await _ledger(session_factory)
    exchanges = served.double.message_exchanges
    assert [exchange.fault for exchange in exchanges] == ["dropped_stream"] * 3
    assert [(row.step, row.attempt_status) for row in rows] == [(1, "failed")] * 3
    assert [row.provider_request_id for row in rows] == [exchange.request_id for exchange in exchanges]


async def test_with_stream_restarts_off_the_first_break_fails_the_run(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    served = serve(MessagesDouble([Reply(text="Done.")]))
    served.double.add_faults(Fault.dropped_stream())

    outcome = await claude_runtime(served.base_url, stream=True, stream_restarts=0).runner.start("Say done")

    assert outcome.failure_reason is not None
    assert outcome.failure_reason.endswith("after 1 attempt; the streamed response broke off once")
    assert [row.attempt_status for row in await _ledger(session_factory)] == ["failed"]
    assert len(served.double.message_exchanges) == 1


async def test_with_retries_off_the_first_rate_limit_fails_the_run(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    served = serve(MessagesDouble([Reply(text="Done.")]))
    served.double.add_faults(Fault.rate_limited(retry_after=30))

    outcome = await claude_runtime(served.base_url, max_retries=0).runner.start("Say done")

    assert (outcome.status, outcome.failure_reason) == ("failed", "Anthropic API rate limited (429) after 1 attempt")
    assert [row.attempt_status for row in await _ledger(session_factory)] == ["failed"]


async def test_a_call_that_ran_without_approval_is_not_run_again_when_the_next_stream_breaks(
    serve: ServeDouble, claude_runtime: ClaudeRuntimeFactory, session_factory: SessionFactory
) -> None:
    # Enrichment is a paid lookup the policy allows on its own; a second lookup of the same contact would
    # come from the provider's cache (`cache_hit: true`, no paid lookup), so the result shows a rerun.
    script = [
        Reply(tool_uses=[ToolUse("enrich_contacts", {"emails": ["person0@acme.example"]})]),
        Reply(text="Enriched one contact."),
    ]
    served = serve(MessagesDouble(script))
    # Faults hit requests in turn: the first answer comes (a moment late), the second breaks off.
    served.double.add_faults(Fault.slow(0.01), Fault.dropped_stream())

    outcome = await claude_runtime(served.base_url, stream=True).runner.start("Enrich person0@acme.example")

    assert (outcome.status, outcome.output) == ("completed", "Enriched one contact.")
    _, broken, asked_again = served.double.message_exchanges
    assert broken.fault == "dropped_stream"
    assert _with_results_decoded(broken.body) == _with_results_decoded(asked_again.body)
    [result] = _with_results_decoded(asked_again.body)["messages"][-1]["content"][0]["content"]
    assert (result["text"]["paid_lookups"], result["text"]["cache_hits"]) == (1, 0)
