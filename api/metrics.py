"""Prometheus metrics, computed from the database at scrape time.

Every scrape reads aggregates (one GROUP BY query per table) into a `MetricsSnapshot` and renders it
through a fresh `CollectorRegistry`. The numbers are therefore the same whichever replica is scraped
and survive restarts; only `signoff_runs_in_flight` is about the scraped process itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.costs import CostLine, cost_report
from signoff.agent.store.tables import APPROVAL_STATES, RUN_STATUSES, ApprovalRow, RunRow, ToolCallRow
from signoff.tools.packs import ServiceHealth

__all__ = ["MetricsSnapshot", "SignoffCollector", "read_metrics_snapshot", "render_metrics"]

# The cost report grouped by model shows provider charges as `provider:<name>` lines (no model made them).
_PROVIDER_GROUP = "provider:"
_BREAKER_STATES = ("closed", "half-opened", "opened")


@dataclass(frozen=True, kw_only=True)
class MetricsSnapshot:
    """Aggregates of Signoff's tables at one moment, plus this process's runs in flight."""

    runs_by_status: Mapping[str, int] = field(default_factory=dict)
    approvals_by_state: Mapping[str, int] = field(default_factory=dict)
    decisions: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Tool calls by (rule, verdict)."""
    usage_by_model: Mapping[str, CostLine] = field(default_factory=dict)
    """The ledger's totals per model (the cost report grouped by model)."""
    provider_spend: Mapping[str, CostLine] = field(default_factory=dict)
    """Provider spend per provider (the cost report's `provider:<name>` lines), keyed by the provider."""
    runs_in_flight: int = 0
    services: Sequence[ServiceHealth] = ()
    """The outside services the packs call, as this process sees them (breakers, queues)."""


async def read_metrics_snapshot(
    session: AsyncSession, *, runs_in_flight: int, services: Sequence[ServiceHealth] = ()
) -> MetricsSnapshot:
    """Read the aggregates behind every metric: five GROUP BY queries, no rows loaded."""
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
        usage_by_model={line.group: line for line in usage if not line.group.startswith(_PROVIDER_GROUP)},
        provider_spend={
            line.group.removeprefix(_PROVIDER_GROUP): line for line in usage if line.group.startswith(_PROVIDER_GROUP)
        },
        runs_in_flight=runs_in_flight,
        services=services,
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

        provider_cost = CounterMetricFamily(
            "signoff_provider_cost_usd", "Provider spend in US dollars (paid tool calls).", labels=["provider"]
        )
        provider_calls = CounterMetricFamily(
            "signoff_provider_charged_calls", "Tool calls that paid a provider.", labels=["provider"]
        )
        for provider, line in sorted(snapshot.provider_spend.items()):
            provider_cost.add_metric([provider], float(line.provider_cost_usd))
            provider_calls.add_metric([provider], line.provider_calls)
        yield from (provider_cost, provider_calls)
        yield from _service_families(snapshot.services)

        yield GaugeMetricFamily(
            "signoff_runs_in_flight",
            "Background work this process is driving now (runs, and start-up recovery while it lasts).",
            value=snapshot.runs_in_flight,
        )


def _service_families(services: Sequence[ServiceHealth]) -> Iterable[Metric]:
    """Breakers, queues and request counters of the outside services, as this process sees them."""
    breaker = GaugeMetricFamily(
        "signoff_provider_breaker_state",
        "1 for the state each service's circuit breaker is in (this process).",
        labels=["service", "state"],
    )
    waiting = GaugeMetricFamily(
        "signoff_provider_queue_depth", "Calls waiting for a service's client-side rate limit.", labels=["service"]
    )
    in_flight = GaugeMetricFamily("signoff_provider_in_flight", "Calls on the wire to a service.", labels=["service"])
    counters = CounterMetricFamily(
        "signoff_provider_requests",
        "Requests to outside services by outcome kind (this process, since it started).",
        labels=["service", "kind"],
    )
    for service in services:
        for state in _BREAKER_STATES:
            breaker.add_metric([service.service, state], 1 if service.breaker == state else 0)
        waiting.add_metric([service.service], service.waiting)
        in_flight.add_metric([service.service], service.in_flight)
        for kind, count in sorted(service.counters.items()):
            counters.add_metric([service.service, kind], count)
    return (breaker, waiting, in_flight, counters)


def render_metrics(snapshot: MetricsSnapshot) -> bytes:
    """The snapshot in the Prometheus text format, through a registry made for this scrape alone."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SignoffCollector(snapshot))
    return generate_latest(registry)
