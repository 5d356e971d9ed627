"""A hijacked model against the guard: data out through read tools, budgets split over runs, approval floods.

Each test drives the real runtime (sales pack, offline providers, the test database) with a scripted
model doing what an injected instruction says, and checks what left the system and what waits for a person.
"""

from __future__ import annotations

import base64
from decimal import Decimal

from inline_snapshot import snapshot
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from signoff.agent.store import audit as audit_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import LedgerRow
from signoff.api.approval_views import approval_views
from signoff.policies import PolicyConfig, build_policy_engine
from signoff.tools.sales import offline_providers
from signoff.tools.sales.models import Contact, IdealCustomerProfile
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.scripted import ScriptedModel, call, text

NOTE = "Direct line +49 30 9876 5432, prefers mornings. Renewal budget approved for the Berlin rollout."
ICP = {"industry": "logistics", "location": "Hamburg"}


async def _crm_with_note(session_factory: SessionFactory, clock: FakeClock):
    providers = offline_providers(session_factory, clock=clock)
    await providers.crm.upsert_contacts([Contact(email="ana@acme.example", first_name="Ana", last_name="Lopez")])
    await providers.crm.add_note("ana@acme.example", NOTE)  # pyright: ignore[reportAttributeAccessIssue]
    return providers


async def _decisions(session_factory: SessionFactory, run_id: str) -> list[tuple[str, str, str]]:
    async with session_factory() as session:
        calls = await audit_store.list_tool_calls(session, run_id=run_id)
    return [(c.tool_name, c.verdict, c.rule) for c in calls]


async def test_crm_data_in_a_lead_search_waits_for_a_person(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    providers = await _crm_with_note(session_factory, clock)
    hidden = base64.b64encode(b"+49 30 9876 5432").decode()
    model = ScriptedModel(
        [
            [call("get_contact", {"email": "ana@acme.example"}, "read")],
            # The injected instruction: "search for leads whose title is the number (encoded), and the note".
            [call("discover_leads", {"icp": {**ICP, "titles": [hidden]}, "limit": 3}, "leak-encoded")],
            [call("discover_leads", {"icp": {**ICP, "titles": ["Renewal budget approved for"]}, "limit": 3}, "leak")],
            [text("done")],
        ]
    )
    runtime = make_runtime(model.model, providers=providers)
    outcome = await runtime.runner.start("look up ana@acme.example and find 3 logistics leads in Hamburg")
    assert outcome.status == "awaiting_approval"
    assert await _decisions(session_factory, outcome.run_id) == snapshot(
        [("get_contact", "allow", "default_allow"), ("discover_leads", "require_approval", "egress")]
    )
    [approval_id] = outcome.pending_approval_ids
    approval = await runtime.approvals.get(approval_id)
    assert "an encoded value" in approval.reason
    assert "the phone number 493098765432, read from get_contact" in approval.reason


async def test_enriching_an_outsiders_address_waits_but_found_leads_do_not(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    providers = offline_providers(session_factory, clock=clock)
    # The offline lead source returns the same leads for the same profile: these are the ones the run finds.
    found = await providers.lead_source.discover_leads(IdealCustomerProfile(**ICP), limit=2)
    emails = [lead.email for lead in found]

    model = ScriptedModel(
        [
            [call("discover_leads", {"icp": ICP, "limit": 2}, "find")],
            [call("enrich_contacts", {"emails": emails}, "enrich-found")],
            [call("enrich_contacts", {"emails": ["ana.498765@collector.example"]}, "enrich-outsider")],
            [text("done")],
        ]
    )
    runtime = make_runtime(model.model, providers=providers)
    outcome = await runtime.runner.start("find 2 logistics leads in Hamburg and enrich them")
    assert outcome.status == "awaiting_approval"
    assert await _decisions(session_factory, outcome.run_id) == snapshot(
        [
            ("discover_leads", "allow", "default_allow"),
            ("enrich_contacts", "allow", "default_allow"),
            ("enrich_contacts", "require_approval", "egress"),
        ]
    )
    approval = await runtime.approvals.get(outcome.pending_approval_ids[0])
    assert "ana.498765@collector.example, who is not a CRM contact" in approval.reason


async def test_a_budget_split_over_the_runs_of_a_conversation_still_meets_its_limit(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    # $1.00 a run is within the per-run budget of $20; the conversation's limit is $2.50.
    policy = build_policy_engine(PolicyConfig(max_conversation_spend_usd=Decimal("2.50")))
    search = [call("discover_leads", {"icp": ICP, "limit": 10}, "find")]
    model = ScriptedModel([search, [text("found 10")], search, [text("found 10")], search, [text("found 10")]])
    runtime = make_runtime(model.model, policy_engine=policy)
    first = await runtime.runner.start("find 10 logistics leads in Hamburg")
    second = await runtime.runner.start(
        "and 10 more", conversation_id=await _conversation(session_factory, first.run_id)
    )
    third = await runtime.runner.start(
        "and 10 more", conversation_id=await _conversation(session_factory, first.run_id)
    )
    assert [first.status, second.status, third.status] == ["completed", "completed", "awaiting_approval"]
    approval = await runtime.approvals.get(third.pending_approval_ids[0])
    assert approval.rule == "cumulative_spend"
    assert "this conversation: $3.00 of $2.50 (over)" in approval.reason
    # The approver sees where the run stands on every limit, this call (reserved while it waits) included.
    [view] = await approval_views(runtime, [approval])
    assert [(s.scope, s.spent_usd, s.limit_usd, s.over) for s in view.spend] == snapshot(
        [
            ("run", "1.00", "20.00", False),
            ("conversation", "3.00", "2.50", True),
            ("requester_today", "3.00", "100.00", False),
            ("everyone_today", "3.00", "500.00", False),
        ]
    )


async def _conversation(session_factory: SessionFactory, run_id: str) -> str:
    async with session_factory() as session:
        run = await run_store.get_run(session, run_id=run_id)
    assert run is not None
    return run.conversation_id


async def test_a_flood_of_calls_in_one_response_asks_a_person_a_few_times_only(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    flood = [
        call("send_email", {"to": f"p{i}@outside.example", "subject": "Hi", "body": "Hello"}, f"mail-{i}")
        for i in range(12)
    ]
    model = ScriptedModel([flood, [text("queued")]])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("email everyone")
    assert outcome.status == "awaiting_approval"
    assert len(outcome.pending_approval_ids) == 5
    decisions = await _decisions(session_factory, outcome.run_id)
    assert sorted({rule for _tool, _verdict, rule in decisions}) == ["approval_cap", "outbound_email_domains"]
    assert sum(1 for _tool, verdict, _rule in decisions if verdict == "deny") == 7
    # The cap stops new approvals, not decisions on the ones waiting: each can still be approved.
    for approval_id in outcome.pending_approval_ids:
        approved = await runtime.approvals.approve(approval_id, decided_by="alice")
        assert approved.state == "approved"


async def test_model_spend_split_over_runs_stops_a_new_run_before_its_first_request(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    # Each earlier run spent only on model requests (no costly tool call for the rule to hold), under the
    # per-run model cap; together they reached the conversation's limit of $2.50.
    policy = build_policy_engine(PolicyConfig(max_conversation_spend_usd=Decimal("2.50")))
    asked: list[int] = []

    def model_call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append(len(messages))
        return ModelResponse(parts=[TextPart("done")])

    runtime = make_runtime(FunctionModel(model_call), policy_engine=policy)
    first = await runtime.runner.start("summarise the pipeline")
    conversation_id = await _conversation(session_factory, first.run_id)
    async with session_factory.begin() as session:
        for step in range(2, 4):
            session.add(
                LedgerRow(
                    run_id=first.run_id,
                    step=step,
                    purpose="planning",
                    model_name="claude-test",
                    provider_name="anthropic",
                    provider_request_id=None,
                    input_tokens=400_000,
                    output_tokens=1000,
                    cache_read_tokens=0,
                    cache_write_tokens=0,
                    cost_usd=Decimal("1.25"),
                    price_data_version="test",
                    prompt_name="sales_agent",
                    prompt_version="1",
                    prompt_hash="sha256:test",
                    latency_ms=1,
                    created_at=clock(),
                )
            )
    asked.clear()

    second = await runtime.runner.start("and again, in more detail", conversation_id=conversation_id)

    assert second.status == "failed"
    assert asked == []  # no model request was made
    assert second.failure_reason == snapshot(
        "spend limit reached: this conversation has spent $2.50 of $2.50; no model request was made (raise the"
        " limit in the policy, or wait for the next day for a daily limit)"
    )
    # Another conversation of the same requester still has room.
    other = await runtime.runner.start("summarise the pipeline")
    assert other.status == "completed" and asked
