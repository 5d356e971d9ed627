"""Prometheus metrics, computed from the database at scrape time.

Every scrape reads aggregates (one GROUP BY query per table) into a `MetricsSnapshot` and renders it
through a fresh `CollectorRegistry`. The numbers are therefore the same whichever replica is scraped
and survive restarts; only `signoff_runs_in_flight` is about the scraped process itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.costs import CostLine, cost_report
from signoff.agent.store.tables import APPROVAL_STATES, RUN_STATUSES, ApprovalRow, RunRow, ToolCallRow

__all__ = ["MetricsSnapshot", "SignoffCollector", "read_metrics_snapshot", "render_metrics"]


@dataclass(frozen=True, kw_only=True)
class MetricsSnapshot:
    """Aggregates of Signoff's tables at one moment, plus this process's runs in flight."""

    runs_by_status: Mapping[str, int] = field(default_factory=dict)
    approvals_by_state: Mapping[str, int] = field(default_factory=dict)
    decisions: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Tool calls by (rule, verdict)."""
    usage_by_model: Mapping[str, CostLine] = field(default_factory=dict)
    """The ledger's totals per model (the cost report grouped by model)."""
    runs_in_flight: int = 0


async def read_metrics_snapshot(session: AsyncSession, *, runs_in_flight: int) -> MetricsSnapshot:
    """Read the aggregates behind every metric: four GROUP BY queries, no rows loaded."""
    runs = (await session.execute(select(RunRow.status, func.count()).group_by(RunRow.status))).all()
    approvals = (await session.execute(select(ApprovalRow.state, func.count()).group_by(ApprovalRow.state))).all()
    decisions = (
        await session.execute(
            select(ToolCallRow.rule, ToolCallRow.verdict, func.count()).group_by(ToolCallRow.rule, ToolCallRow.verdict)
        )
    ).all()
    usage = await cost_report(session, group_by="model")
    return MetricsSnapshot(
        runs_by_status={status: int(count) for status, count in runs},
        approvals_by_state={state: int(count) for state, count in approvals},
        decisions={(rule, verdict): int(count) for rule, verdict, count in decisions},
        usage_by_model={line.group: line for line in usage},
        runs_in_flight=runs_in_flight,
    )


class SignoffCollector(Collector):
    """Yields one snapshot's metric families; known statuses and states are reported even at zero."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        """The metric families of the snapshot."""
        snapshot = self._snapshot
        runs = GaugeMetricFamily("signoff_runs", "Runs by status.", labels=["status"])
        for status in sorted({*RUN_STATUSES, *snapshot.runs_by_status}):
            runs.add_metric([status], snapshot.runs_by_status.get(status, 0))
        yield runs

        approvals = GaugeMetricFamily("signoff_approvals", "Approvals by state.", labels=["state"])
        for state in sorted({*APPROVAL_STATES, *snapshot.approvals_by_state}):
            approvals.add_metric([state], snapshot.approvals_by_state.get(state, 0))
        yield approvals
        yield GaugeMetricFamily(
            "signoff_approvals_pending",
            "Approvals waiting for a person.",
            value=snapshot.approvals_by_state.get("pending", 0),
        )

        decisions = CounterMetricFamily(
            "signoff_tool_call_decisions",
            "Tool calls by the policy rule that decided them and the verdict.",
            labels=["rule", "verdict"],
        )
        for (rule, verdict), count in sorted(snapshot.decisions.items()):
            decisions.add_metric([rule, verdict], count)
        yield decisions

        requests = CounterMetricFamily(
            "signoff_model_requests", "Model requests that got a response.", labels=["model"]
        )
        failed = CounterMetricFamily(
            "signoff_model_failed_attempts",
            "Model request attempts that got no response (429, 529, dropped connections).",
            labels=["model"],
        )
        unpriced = CounterMetricFamily(
            "signoff_model_unpriced_requests", "Model requests whose price is unknown.", labels=["model"]
        )
        tokens = CounterMetricFamily("signoff_model_tokens", "Tokens by model and kind.", labels=["model", "kind"])
        cost = CounterMetricFamily(
            "signoff_model_cost_usd", "Model spend in US dollars (priced requests only).", labels=["model"]
        )
        for model, usage in sorted(snapshot.usage_by_model.items()):
            requests.add_metric([model], usage.requests)
            unpriced.add_metric([model], usage.unpriced_requests)
            failed.add_metric([model], usage.failed_attempts)
            tokens.add_metric([model, "input"], usage.input_tokens)
            tokens.add_metric([model, "output"], usage.output_tokens)
            tokens.add_metric([model, "cache_read"], usage.cache_read_tokens)
            tokens.add_metric([model, "cache_write"], usage.cache_write_tokens)
            cost.add_metric([model], float(usage.cost_usd or 0))
        yield from (requests, failed, unpriced, tokens, cost)

        yield GaugeMetricFamily(
            "signoff_runs_in_flight",
            "Background work this process is driving now (runs, and start-up recovery while it lasts).",
            value=snapshot.runs_in_flight,
        )


def render_metrics(snapshot: MetricsSnapshot) -> bytes:
    """The snapshot in the Prometheus text format, through a registry made for this scrape alone."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SignoffCollector(snapshot))
    return generate_latest(registry)
