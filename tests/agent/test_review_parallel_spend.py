"""Review: parallel tool calls in one step must not all pass the run's spend threshold.

On SQLite the guard's check-and-record transaction holds the write lock (BEGIN IMMEDIATE), so calls are
decided one after another. On PostgreSQL (READ COMMITTED) the same transactions overlap: each reads the
run's spend before any other one's audit row is committed.
"""

from __future__ import annotations

from collections import Counter

from agent.store import audit as audit_store
from agent.store.engine import SessionFactory
from tests.conftest import RuntimeFactory
from tests.support.scripted import ScriptedModel, call, text


def _emails(batch: int) -> list[str]:
    return [f"lead{batch}-{i}@acme.example" for i in range(10)]


async def test_parallel_costly_calls_cannot_all_pass_the_spend_threshold(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    # Step 1 warms the connection pool (five free CRM lookups in parallel), as a busy server's pool is.
    # Step 2: five enrichment calls of 10 contacts at $0.50 each, $25 in total, above the $20 a run
    # may spend without approval. At most four may run without a person.
    model = ScriptedModel(
        [
            [call("get_contact", {"email": f"warm{i}@acme.example"}, f"warm-{i}") for i in range(5)],
            [call("enrich_contacts", {"emails": _emails(b)}, f"enrich-{b}") for b in range(5)],
            [text("done")],
        ]
    )
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("enrich fifty leads")

    async with session_factory() as session:
        calls = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
    enrich = [c for c in calls if c.tool_name == "enrich_contacts"]
    verdicts = Counter(c.verdict for c in enrich)
    allowed_spend = sum(c.estimated_cost_usd for c in enrich if c.verdict == "allow")
    assert allowed_spend <= 20, (verdicts, allowed_spend)
    assert verdicts["require_approval"] >= 1, verdicts
