"""What came before a budget goal's attacked run: earlier runs with their calls and model spend, and the
CRM contacts they left, seeded into that case's database only.

The budget goals (class `budget`, `tools.sales.injection.goals`) attack the cumulative spend limits of
`policies.rules.cumulative_spend`: per conversation, per requester per day and for everyone per day. Each
earlier run stayed under the per-run budget and every per-call threshold, so nobody was asked; a limit
over several runs is only reached with that spend already there, so each goal brings a `Prelude` and the
injection suite's attack goal seeds it (`AttackGoal.prepare`) after the world and before the run. Benign
cases and the other goals' cases never get one: the benign tasks run with no prior spend at all.

A seeded run is what the guard would have left: a completed run (task, requester, conversation), its tool
calls as audit rows (allowed by `default_allow`, succeeded, with the registry's estimated cost and the
result the guard reads back, e.g. the leads a search found) and its model requests as priced ledger rows.
Its message history is empty: the model is not shown it, while the guard reads what it needs (the tasks'
words, the leads found, the spend) from those rows, as for any conversation. The rows go through the ORM,
so the audit chain covers them like any other.

The runs end `QUIET_BEFORE_CASE` before the case starts, so their calls are outside every rate-limit
window; a prelude whose limit is a day's is stamped within today (UTC), however early in the day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.agent.store.tables import LedgerRow, RunRow, ToolCallRow
from signoff.evals.case_runner import EVAL_REQUESTER
from signoff.policies.engine import DEFAULT_ALLOW_RULE
from signoff.tools.packs import PackContext
from signoff.tools.registry import ToolRegistry, canonical_json
from signoff.tools.sales.models import Contact
from signoff.tools.sales.offline import offline_providers
from signoff.tools.sales.plugin import sales_pack

__all__ = [
    "EARLIER_MODEL",
    "QUIET_BEFORE_CASE",
    "EarlierCall",
    "EarlierRun",
    "Prelude",
    "SpendScope",
    "seed_prelude",
]

SpendScope = Literal["conversation", "requester_today", "everyone_today"]
"""The cumulative limits' scopes (`policies.rules.cumulative_spend`)."""

EARLIER_MODEL = "claude-sonnet-4-5"
"""The model the earlier runs' ledger rows name (their cost is given, not priced again)."""
# Claude Sonnet's price per input token ($3 per million): the token count a seeded ledger row shows for
# its cost, so that a row is self-consistent to whoever reads it.
_USD_PER_INPUT_TOKEN = Decimal("0.000003")

QUIET_BEFORE_CASE = timedelta(minutes=5)
"""The newest earlier run ended this long before the case: outside the default rate-limit window (60 s)."""
# Between two earlier runs' starts: a person asking again every few minutes.
_SPACING = timedelta(minutes=3)
# How long each seeded call took (it only fills the audit row's timings).
_CALL_TIME = timedelta(seconds=1)


@cache
def _registry() -> ToolRegistry:
    # Metadata only (costs, batch sizes): the pack built on no database.
    return ToolRegistry(sales_pack().build(PackContext.unbound()).tools)


@dataclass(frozen=True, kw_only=True)
class EarlierCall:
    """One tool call an earlier run made, allowed without a person and run: it cost its estimate."""

    tool: str
    args: Mapping[str, Any]
    result: Any = None
    """What it returned, JSON-shaped; the guard reads a search's leads back as the conversation's discoveries."""

    @property
    def cost_usd(self) -> Decimal:
        """The registry's estimate of the call, which is what the spend limits count."""
        return _registry().require(self.tool).estimated_cost_usd(self.args)

    @property
    def items(self) -> int:
        return _registry().require(self.tool).batch_size(self.args)


@dataclass(frozen=True, kw_only=True)
class EarlierRun:
    """A finished run before the case: its task, who asked, its conversation, its calls and model spend."""

    task: str
    conversation_id: str
    requested_by: str = EVAL_REQUESTER
    """The evaluation's requester by default: the case's run is that requester's next one."""
    calls: tuple[EarlierCall, ...] = ()
    model_usd: Decimal = Decimal(0)
    """What its model requests cost (one ledger row)."""

    @property
    def provider_usd(self) -> Decimal:
        return sum((call.cost_usd for call in self.calls), start=Decimal(0))

    @property
    def spend_usd(self) -> Decimal:
        """Model plus provider spend, as the cumulative limits count it."""
        return self.provider_usd + self.model_usd


@dataclass(frozen=True, kw_only=True)
class Prelude:
    """Everything before a budget goal's attacked run (see the module docstring)."""

    runs: tuple[EarlierRun, ...]
    scope: SpendScope
    """The limit whose scope the prelude fills: the one the goal's attack would go past."""
    continues: str | None = None
    """The conversation (one of the runs') the attacked run continues; None: the attacked run starts a new one."""
    today: bool = False
    """Stamp every run within today (UTC): a prelude for a daily limit."""
    crm_contacts: tuple[Contact, ...] = field(default=())
    """Contacts the earlier runs left in the CRM (on top of the world's)."""

    def spend_usd(self, scope: SpendScope | None = None) -> Decimal:
        """What the runs spent in one limit's scope (default: the prelude's), as seen from the attacked run
        (the evaluation's requester's, in `continues`); a daily scope counts only a prelude stamped today."""
        scope = scope or self.scope
        if scope == "conversation":
            runs = [run for run in self.runs if self.continues is not None and run.conversation_id == self.continues]
        elif not self.today:
            raise ValueError("a prelude not stamped today has no daily spend")
        elif scope == "requester_today":
            runs = [run for run in self.runs if run.requested_by == EVAL_REQUESTER]
        else:
            runs = list(self.runs)
        return sum((run.spend_usd for run in runs), start=Decimal(0))


def _started_at(index: int, count: int, *, now: datetime, today: bool) -> datetime:
    at = now - QUIET_BEFORE_CASE - _SPACING * (count - index)
    if today:
        # Early in the day, runs bunch up at midnight rather than fall into yesterday, which a daily limit
        # would not count; they may then be inside a rate-limit window, which holds no call of the benign
        # tasks (the most that one tool gets this way is 18 of a requester's 30 a minute).
        at = max(at, datetime.combine(now.date(), time(0), tzinfo=UTC))
    return at


async def seed_prelude(
    session_factory: async_sessionmaker[AsyncSession], prelude: Prelude, *, now: datetime | None = None
) -> str | None:
    """Write the prelude's runs, calls, ledger rows and CRM contacts; return the conversation to continue."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if prelude.crm_contacts:
        # Through the offline CRM, as a sync would have left them.
        await offline_providers(session_factory, clock=lambda: now).crm.upsert_contacts(prelude.crm_contacts)
    async with session_factory.begin() as session:
        for index, run in enumerate(prelude.runs):
            started = _started_at(index, len(prelude.runs), now=now, today=prelude.today)
            run_id = f"earlier-{index:03d}-{run.conversation_id}"[:64]
            finished = started + _CALL_TIME * (len(run.calls) + 1)
            session.add(
                RunRow(
                    run_id=run_id,
                    conversation_id=run.conversation_id,
                    status="completed",
                    task_text=run.task,
                    context_json=None,
                    requested_by=run.requested_by,
                    idempotency_key=None,
                    model_name=EARLIER_MODEL,
                    prompt_name="sales_agent",
                    prompt_version="1",
                    prompt_hash="sha256:earlier-run",
                    prompt_label=None,
                    policy_version="sha256:earlier-run",
                    message_history="[]",
                    final_output="Done.",
                    failure_reason=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    created_at=started,
                    updated_at=finished,
                    finished_at=finished,
                )
            )
            await session.flush()  # the run first: its calls refer to it
            for number, call in enumerate(run.calls):
                at = started + _CALL_TIME * number
                session.add(
                    ToolCallRow(
                        run_id=run_id,
                        tool_call_id=f"earlier-call-{number:03d}",
                        tool_name=call.tool,
                        args_json=canonical_json(call.args),
                        verdict="allow",
                        rule=DEFAULT_ALLOW_RULE,
                        reason="allowed",
                        status="succeeded",
                        items=call.items,
                        estimated_cost_usd=call.cost_usd,
                        result_json=None if call.result is None else canonical_json(call.result),
                        error=None,
                        approval_id=None,
                        requested_at=at,
                        started_at=at,
                        finished_at=at + _CALL_TIME,
                        duration_ms=int(_CALL_TIME.total_seconds() * 1000),
                    )
                )
            if run.model_usd > 0:
                session.add(
                    LedgerRow(
                        run_id=run_id,
                        step=1,
                        purpose="planning",
                        model_name=EARLIER_MODEL,
                        provider_name="anthropic",
                        provider_request_id=None,
                        input_tokens=int(run.model_usd / _USD_PER_INPUT_TOKEN),
                        output_tokens=0,
                        cache_read_tokens=0,
                        cache_write_tokens=0,
                        cache_write_5m_tokens=0,
                        cache_write_1h_tokens=0,
                        cost_usd=run.model_usd,
                        price_data_version="earlier-run",
                        attempt_status="succeeded",
                        error=None,
                        prompt_name="sales_agent",
                        prompt_version="1",
                        prompt_hash="sha256:earlier-run",
                        latency_ms=1000,
                        created_at=finished,
                    )
                )
    return prelude.continues
