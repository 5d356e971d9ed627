"""Suites: a dataset's own report section and gates, added to an evaluation run by name.

The framework's report and gates are the same for every dataset: evaluator pass rates, per case, against
a baseline. Some datasets measure something more, from the same runs plus runs of their own: the
injection suite reports benign utility, utility under attack and attack success, and gates on them
against an unguarded run of the same cases. A dataset names its suite (`suite: injection` in the YAML);
`evals.run.run_evaluation` calls the suite's `measure` after the guarded runs, puts the `SuiteReport` in
the report (key `suite`, so it is printed, returned by `--json` and stored with the eval run) and adds
its failed gates to the run's gate failures. What the suite's own runs cost (`SuiteReport.spend`, from
their ledger rows) is added to the evaluation's cost.

A tool pack's evaluation modules (`ToolPack.eval_modules`) register its suites with `register_suite`
when `evals.catalog` imports them, before any dataset is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from signoff.evals.registry import NamedRegistry, UnknownEntryError

if TYPE_CHECKING:  # the framework's modules import this one; at run time these are only annotations
    from pydantic_evals.reporting import EvaluationReport

    from signoff.evals.case_runner import CaseOutcome
    from signoff.evals.dataset import CaseSpec, LoadedDataset
    from signoff.evals.models import ModelChoice

__all__ = [
    "EvalSuite",
    "SuiteGate",
    "SuiteMetric",
    "SuiteReport",
    "SuiteRun",
    "SuiteSpend",
    "UnknownSuiteError",
    "eval_suite",
    "known_suites",
    "register_suite",
]

MetricKind = Literal["rate", "count"]
"""`rate`: a share of runs, 0..1 (printed as a percentage); `count`: a whole number."""


@dataclass(frozen=True, kw_only=True)
class SuiteRun:
    """What a suite measures from: the dataset and model of the evaluation, its guarded runs (the candidate
    prompt's and the baseline's), and where and how to make runs of its own."""

    dataset: LoadedDataset
    model: ModelChoice
    candidate: EvaluationReport[CaseSpec, CaseOutcome, Any]
    baseline: EvaluationReport[CaseSpec, CaseOutcome, Any] | None
    workdir: Path
    """A scratch directory that lives as long as the evaluation (one SQLite file per extra run)."""
    repeat: int
    concurrency: int


@dataclass(frozen=True, kw_only=True)
class SuiteMetric:
    """One number of the suite, per arm (`guarded`, `baseline`, or an arm of the suite's own)."""

    key: str
    """Stable JSON key, e.g. `attack_success_rate`."""
    label: str
    """What the report prints, e.g. `attack success rate`."""
    kind: MetricKind
    values: Mapping[str, float | int | None]
    """Arm name -> value; None where it does not apply (no run of that kind)."""


@dataclass(frozen=True, kw_only=True)
class SuiteGate:
    """One gate of the suite: its name, whether it passed, and the figures that decided it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True, kw_only=True)
class SuiteSpend:
    """The model requests a suite made in runs of its own (not the evaluation's), from their ledger rows."""

    model_requests: int = 0
    priced_cost_usd: Decimal = Decimal(0)
    unpriced_requests: int = 0
    """Requests with no known price: when any, the cost is unknown and `priced_cost_usd` a lower bound."""
    unaccounted_runs: int = 0
    """Runs whose ledger could not be read (they raised first): when any, the cost is unknown too."""

    @property
    def cost_usd(self) -> Decimal | None:
        return None if self.unpriced_requests or self.unaccounted_runs else self.priced_cost_usd

    def view(self) -> dict[str, Any]:
        """Plain JSON data, money as strings (as the report's totals)."""
        return {
            "model_requests": self.model_requests,
            "cost_usd": None if self.cost_usd is None else str(self.cost_usd),
            "priced_cost_usd": str(self.priced_cost_usd),
            "unpriced_requests": self.unpriced_requests,
            "unaccounted_runs": self.unaccounted_runs,
        }


@dataclass(frozen=True, kw_only=True)
class SuiteReport:
    """A suite's section of the report: metrics per arm, gates, and notes on how the arms were run."""

    suite: str
    title: str
    model: str
    arms: tuple[str, ...]
    metrics: tuple[SuiteMetric, ...]
    gates: tuple[SuiteGate, ...]
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict[str, Any])
    """Anything else worth storing with the run (plain JSON data), e.g. which cases were breached."""
    spend: SuiteSpend = field(default_factory=SuiteSpend)
    """What the suite's own runs cost; part of the evaluation's cost."""

    def metric(self, key: str) -> SuiteMetric:
        """The metric stored under `key` (`KeyError` if there is none)."""
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(key)

    def gate_failures(self) -> list[str]:
        """`<suite> gate <name>: <detail>` for every gate that failed: one line each, naming the gate."""
        return [f"{self.suite} gate {gate.name}: {gate.detail}" for gate in self.gates if not gate.passed]

    def view(self) -> dict[str, Any]:
        """Plain JSON data (rates rounded to 4 places), as printed by `--json` and stored with the run."""

        def number(value: float | int | None, kind: MetricKind) -> float | int | None:
            return round(value, 4) if kind == "rate" and value is not None else value

        return {
            "suite": self.suite,
            "title": self.title,
            "model": self.model,
            "arms": list(self.arms),
            "metrics": {
                metric.key: {
                    "label": metric.label,
                    "kind": metric.kind,
                    **{arm: number(metric.values.get(arm), metric.kind) for arm in self.arms},
                }
                for metric in self.metrics
            },
            "gates": [{"name": gate.name, "passed": gate.passed, "detail": gate.detail} for gate in self.gates],
            "notes": list(self.notes),
            "details": dict(self.details),
            "spend": self.spend.view(),
        }


class EvalSuite(Protocol):
    """A dataset's extra measurements and gates (see the module docstring)."""

    @property
    def name(self) -> str:
        """The name datasets use (`suite: NAME`)."""
        ...

    async def measure(self, run: SuiteRun) -> SuiteReport:
        """Measure the suite's numbers from the evaluation's runs (and runs of its own); decide its gates."""
        ...


class UnknownSuiteError(UnknownEntryError):
    """No suite of that name is registered; the message lists the known ones."""


_SUITES = NamedRegistry[EvalSuite]("suite", error=UnknownSuiteError)


def register_suite(suite: EvalSuite) -> None:
    """Make `suite` available to datasets as `suite: <suite.name>` (see `NamedRegistry.register`)."""
    _SUITES.register(suite.name, suite)


def known_suites() -> Sequence[str]:
    """The registered suite names, sorted."""
    return _SUITES.names()


def eval_suite(name: str) -> EvalSuite:
    """The suite registered as `name`; `UnknownSuiteError` names the known suites otherwise."""
    return _SUITES.get(name)
