"""The side-by-side report of an evaluation: per case and in total, candidate prompt against baseline.

It is built from pydantic-evals `EvaluationReport`s (one per prompt version): each `ReportCase` carries a
`CaseOutcome` and the evaluators' assertions, and repeated runs of a case are grouped by their source case
name. For each side it gives runs and passes, the pass rate of every evaluator over the cases it applies
to, ledger cost, latency, approvals requested and denials by the simulated approver. With a baseline it
adds the difference of pass rates with a 95% interval (`evals.stats`). When the dataset names a suite,
the suite's section (`evals.suites.SuiteReport`) is under `suite`. The result is plain JSON data: it is
what `--json` prints and what the eval run record stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic_evals.reporting import EvaluationReport, ReportCase

from signoff.evals.case_runner import CaseOutcome
from signoff.evals.evaluators import ALL_EVALUATORS
from signoff.evals.stats import INTERVAL_METHOD, rate_difference
from signoff.evals.suites import SuiteReport

__all__ = ["SideSummary", "build_report", "summarize"]

# Problems listed per case: enough to see what went wrong without printing every repeat's reasons.
_MAX_PROBLEMS_PER_CASE = 5


@dataclass(kw_only=True)
class SideSummary:
    """One prompt version's runs of one case (or of all cases, for totals)."""

    runs: int = 0
    passed: int = 0
    errors: int = 0
    evaluator_counts: dict[str, list[int]] = field(default_factory=dict[str, list[int]])
    """Evaluator name -> [passed, applicable]."""
    model_requests: int = 0
    unpriced_requests: int = 0
    priced_cost_usd: Decimal = Decimal("0")
    seconds: float = 0.0
    approvals_requested: int = 0
    denials: int = 0
    problems: list[str] = field(default_factory=list[str])

    @property
    def pass_rate(self) -> float:
        return self.passed / self.runs if self.runs else 0.0

    @property
    def cost_usd(self) -> Decimal | None:
        """The ledger cost, or None when some model request had no known price."""
        return None if self.unpriced_requests else self.priced_cost_usd

    def evaluator_rate(self, name: str) -> float | None:
        """Pass rate of one evaluator over the runs it applied to (None if it applied to none)."""
        passed, applicable = self.evaluator_counts.get(name, [0, 0])
        return passed / applicable if applicable else None

    def add_case(self, case: ReportCase[Any, CaseOutcome, Any]) -> None:
        outcome = case.output
        case_passed = not case.evaluator_failures and all(result.value for result in case.assertions.values())
        self.runs += 1
        self.passed += int(case_passed)
        for name, result in case.assertions.items():
            counts = self.evaluator_counts.setdefault(name, [0, 0])
            counts[0] += int(result.value)
            counts[1] += 1
            if not result.value:
                self._problem(f"{name}: {result.reason}")
        for failure in case.evaluator_failures:
            self.errors += 1
            self._problem(f"evaluator {failure.name} raised: {failure.error_message}")
        self.model_requests += outcome.model_requests
        self.unpriced_requests += outcome.unpriced_requests
        self.priced_cost_usd += outcome.priced_cost_usd
        self.seconds += outcome.seconds
        self.approvals_requested += outcome.approvals_requested
        self.denials += outcome.approvals_denied

    def add_error(self, message: str) -> None:
        self.runs += 1
        self.errors += 1
        self._problem(f"the case raised: {message}")

    def merge(self, other: SideSummary) -> None:
        self.runs += other.runs
        self.passed += other.passed
        self.errors += other.errors
        for name, (passed, applicable) in other.evaluator_counts.items():
            counts = self.evaluator_counts.setdefault(name, [0, 0])
            counts[0] += passed
            counts[1] += applicable
        self.model_requests += other.model_requests
        self.unpriced_requests += other.unpriced_requests
        self.priced_cost_usd += other.priced_cost_usd
        self.seconds += other.seconds
        self.approvals_requested += other.approvals_requested
        self.denials += other.denials

    def _problem(self, text: str) -> None:
        if text not in self.problems and len(self.problems) < _MAX_PROBLEMS_PER_CASE:
            self.problems.append(text)

    def view(self) -> dict[str, Any]:
        """Plain JSON data (money as strings, rates rounded to 4 places)."""
        return {
            "runs": self.runs,
            "passed": self.passed,
            "pass_rate": round(self.pass_rate, 4),
            "errors": self.errors,
            "evaluators": {
                name: None if (rate := self.evaluator_rate(name)) is None else round(rate, 4)
                for name in ALL_EVALUATORS
                if name in self.evaluator_counts
            },
            "model_requests": self.model_requests,
            "cost_usd": None if self.cost_usd is None else str(self.cost_usd),
            "priced_cost_usd": str(self.priced_cost_usd),
            "unpriced_requests": self.unpriced_requests,
            "mean_seconds": round(self.seconds / self.runs, 3) if self.runs else None,
            "approvals_requested": self.approvals_requested,
            "denials": self.denials,
            "problems": list(self.problems),
        }


def summarize(
    report: EvaluationReport[Any, CaseOutcome, Any], *, case_names: Sequence[str]
) -> tuple[dict[str, SideSummary], SideSummary]:
    """Per-case summaries (in `case_names` order) and the totals of one side."""
    by_case = {name: SideSummary() for name in case_names}
    for case in report.cases:
        by_case.setdefault(case.source_case_name or case.name, SideSummary()).add_case(case)
    for failure in report.failures:
        by_case.setdefault(failure.source_case_name or failure.name, SideSummary()).add_error(failure.error_message)
    totals = SideSummary()
    for summary in by_case.values():
        totals.merge(summary)
    return by_case, totals


def _difference(candidate: SideSummary, baseline: SideSummary) -> dict[str, float]:
    delta = rate_difference(candidate.passed, candidate.runs, baseline.passed, baseline.runs)
    return {"pass_rate": round(delta.difference, 4), "low": round(delta.low, 4), "high": round(delta.high, 4)}


def build_report(
    *,
    case_names: Sequence[str],
    candidate: EvaluationReport[Any, CaseOutcome, Any],
    baseline: EvaluationReport[Any, CaseOutcome, Any] | None,
    suite: SuiteReport | None = None,
) -> dict[str, Any]:
    """The side-by-side report as JSON data: `cases` (per case, each side and the difference), `totals`
    and `suite` (the dataset's suite section, or None)."""
    candidate_cases, candidate_totals = summarize(candidate, case_names=case_names)
    baseline_cases, baseline_totals = (None, None) if baseline is None else summarize(baseline, case_names=case_names)
    cases: list[dict[str, Any]] = []
    for name, summary in candidate_cases.items():
        other = None if baseline_cases is None else baseline_cases.get(name)
        cases.append(
            {
                "case": name,
                "candidate": summary.view(),
                "baseline": None if other is None else other.view(),
                "difference": None if other is None else _difference(summary, other),
            }
        )
    return {
        "cases": cases,
        "totals": {
            "candidate": candidate_totals.view() | {"problems": []},
            "baseline": None if baseline_totals is None else baseline_totals.view() | {"problems": []},
            "difference": None if baseline_totals is None else _difference(candidate_totals, baseline_totals),
        },
        "interval": INTERVAL_METHOD if baseline is not None else None,
        "suite": None if suite is None else suite.view(),
    }
