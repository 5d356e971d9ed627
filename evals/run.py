"""An evaluation run: a dataset against a prompt version and a model (and optionally a baseline version),
its side-by-side report, its gates and its record.

Cases run concurrently through pydantic-evals (`Dataset.evaluate` with `max_concurrency` and `repeat`),
each on a database of its own (`evals.case_runner`). The baseline, when given, runs the same dataset with
the same model. Gates, all of which must pass:

- every evaluator with a threshold passes on at least that share of the runs it applies to (default:
  100% for the guard evaluators; `thresholds` adds or overrides);
- no case that passed on the baseline (every repeat passed) fails on the candidate (any repeat failed);
- no case raised instead of producing an outcome;
- the gates of the dataset's suite, when it names one (`evals.suites`): the suite measures after the
  guarded runs (and may make runs of its own, such as the injection suite's unguarded arm) and adds its
  section to the report.

The cost of an evaluation is the ledger cost of all its runs, baseline included. The evaluators here are
code, not an LLM judge, so an offline evaluation makes no judge calls and its judge cost is zero.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import logfire
from pydantic_evals.reporting import EvaluationReport

from signoff.agent.runtime import prompt_registry_for
from signoff.evals.case_runner import DEFAULT_MAX_ROUNDS, CaseOutcome, run_case
from signoff.evals.dataset import CaseSpec, LoadedDataset
from signoff.evals.evaluators import ALL_EVALUATORS, GUARD_EVALUATORS, default_evaluators
from signoff.evals.models import ModelChoice
from signoff.evals.records import EvalRunRecord
from signoff.evals.report import build_report, summarize
from signoff.evals.suites import SuiteReport, SuiteRun
from signoff.policies import PolicyEngine
from signoff.prompts import PromptError, PromptRegistry, PromptTemplate, parse_prompt_ref
from signoff.tools.packs import ToolPack

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_THRESHOLDS",
    "EvalConfig",
    "EvalInputError",
    "EvalResult",
    "eval_cost_parts",
    "parse_threshold",
    "resolve_prompt",
    "run_evaluation",
]

# Cases at once: each is a run with its own SQLite file; four keep a laptop busy without starving it.
DEFAULT_CONCURRENCY = 4
DEFAULT_THRESHOLDS: Mapping[str, float] = {name: 1.0 for name in GUARD_EVALUATORS}
"""The guard's guarantees hold in every run, or the gate fails."""


class EvalInputError(ValueError):
    """Bad input to an evaluation (prompt reference, threshold); the message is one line."""


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """How to run: repeats per case, cases at once, gate thresholds, approval rounds per run."""

    repeat: int = 1
    concurrency: int = DEFAULT_CONCURRENCY
    thresholds: Mapping[str, float] = field(default_factory=dict[str, float])
    max_rounds: int = DEFAULT_MAX_ROUNDS

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise EvalInputError(f"repeat must be at least 1, got {self.repeat}")
        if self.concurrency < 1:
            raise EvalInputError(f"concurrency must be at least 1, got {self.concurrency}")
        for name, value in self.thresholds.items():
            if name not in ALL_EVALUATORS:
                raise EvalInputError(f"no evaluator named {name!r}; evaluators: {', '.join(ALL_EVALUATORS)}")
            if not 0.0 <= value <= 1.0:
                raise EvalInputError(f"threshold {name}={value} is not between 0 and 1")

    def effective_thresholds(self) -> dict[str, float]:
        """Defaults overridden by the configured thresholds, in report order."""
        merged = {**DEFAULT_THRESHOLDS, **self.thresholds}
        return {name: merged[name] for name in ALL_EVALUATORS if name in merged}


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    """A finished evaluation: the pydantic-evals reports, the side-by-side report and the gates."""

    eval_run_id: str
    dataset: LoadedDataset
    prompt: PromptTemplate
    baseline: PromptTemplate | None
    model_name: str
    config: EvalConfig
    candidate_report: EvaluationReport[CaseSpec, CaseOutcome, Any]
    baseline_report: EvaluationReport[CaseSpec, CaseOutcome, Any] | None
    report: dict[str, Any]
    gate_failures: list[str]
    cost_usd: Decimal | None
    started_at: datetime
    finished_at: datetime
    suite_report: SuiteReport | None = None
    """The dataset's suite section (also in `report["suite"]`), or None when the dataset names no suite."""

    @property
    def passed(self) -> bool:
        return not self.gate_failures

    def settings(self) -> dict[str, Any]:
        """What the run was configured with, as stored in its record."""
        return {
            "repeat": self.config.repeat,
            "concurrency": self.config.concurrency,
            "thresholds": self.config.effective_thresholds(),
            "max_rounds": self.config.max_rounds,
            "baseline_hash": None if self.baseline is None else self.baseline.content_hash,
            "world": self.dataset.spec.world,
            "suite": self.dataset.spec.suite,
        }

    def to_record(self, *, created_by: str) -> EvalRunRecord:
        """The record stored by `evals.records.record_eval_run`."""
        return EvalRunRecord(
            eval_run_id=self.eval_run_id,
            dataset_name=self.dataset.name,
            dataset_hash=self.dataset.content_hash,
            prompt_name=self.prompt.name,
            prompt_version=self.prompt.version,
            prompt_hash=self.prompt.content_hash,
            baseline=None if self.baseline is None else self.baseline.ref,
            model_name=self.model_name,
            settings=self.settings(),
            repeat=self.config.repeat,
            passed=self.passed,
            gate_failures=list(self.gate_failures),
            report=self.report,
            cost_usd=self.cost_usd,
            judge_cost_usd=Decimal("0"),
            started_at=self.started_at,
            finished_at=self.finished_at,
            created_by=created_by,
        )


def resolve_prompt(
    ref: str, *, registry: PromptRegistry | None = None, packs: Sequence[ToolPack] = ()
) -> PromptTemplate:
    """The prompt `NAME@VERSION` (or `NAME@LABEL`) names, from `registry` (default: the prompts folder of
    the enabled pack in `packs` that ships it)."""
    if "@" not in ref:
        raise EvalInputError(f"{ref!r} is not NAME@VERSION (for example sales_agent@1)")
    try:
        parsed = parse_prompt_ref(ref)
        return (registry or prompt_registry_for(parsed.name, packs)).resolve(parsed)
    except PromptError as error:
        raise EvalInputError(str(error)) from None


def parse_threshold(text: str) -> tuple[str, float]:
    """`evaluator=0.9` (or `evaluator=90%`) -> ("evaluator", 0.9)."""
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        number = float(value.strip().removesuffix("%")) / (100 if value.strip().endswith("%") else 1)
    except ValueError:
        raise EvalInputError(f"threshold {text!r} is not EVALUATOR=RATE, such as trajectory=0.9") from None
    return name.strip(), number


async def run_evaluation(
    dataset: LoadedDataset,
    *,
    prompt: PromptTemplate,
    model: ModelChoice,
    policy: PolicyEngine,
    baseline: PromptTemplate | None = None,
    config: EvalConfig | None = None,
) -> EvalResult:
    """Run the dataset against `prompt` (and `baseline`), let its suite measure, build the report and
    evaluate the gates."""
    config = config or EvalConfig()
    suite = dataset.suite
    started_at = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="signoff-eval-") as scratch,
        logfire.span("eval {dataset} on {prompt}", dataset=dataset.name, prompt=prompt.ref, model=model.name),
    ):
        workdir = Path(scratch)
        candidate_report = await _evaluate(dataset, prompt, model=model, policy=policy, config=config, workdir=workdir)
        baseline_report = (
            None
            if baseline is None
            else await _evaluate(dataset, baseline, model=model, policy=policy, config=config, workdir=workdir)
        )
        suite_report = (
            None
            if suite is None
            else await suite.measure(
                SuiteRun(
                    dataset=dataset,
                    model=model,
                    candidate=candidate_report,
                    baseline=baseline_report,
                    workdir=workdir,
                    repeat=config.repeat,
                    concurrency=config.concurrency,
                )
            )
        )
    finished_at = datetime.now(UTC)
    case_names = [case.name for case in dataset.spec.cases]
    report = build_report(
        case_names=case_names, candidate=candidate_report, baseline=baseline_report, suite=suite_report
    )
    gate_failures = _gates(candidate_report, baseline_report, case_names=case_names, config=config, baseline=baseline)
    if suite_report is not None:
        gate_failures += suite_report.gate_failures()
    report["gates"] = {"thresholds": config.effective_thresholds(), "failures": gate_failures}
    report["judge"] = {"calls": 0, "cost_usd": "0", "note": "the evaluators are code; no LLM judge was called"}
    cost = _eval_cost(report)
    report["eval_cost_usd"] = None if cost is None else str(cost)
    return EvalResult(
        eval_run_id=str(uuid.uuid4()),
        dataset=dataset,
        prompt=prompt,
        baseline=baseline,
        model_name=model.name,
        config=config,
        candidate_report=candidate_report,
        baseline_report=baseline_report,
        report=report,
        gate_failures=gate_failures,
        cost_usd=cost,
        started_at=started_at,
        finished_at=finished_at,
        suite_report=suite_report,
    )


async def _evaluate(
    dataset: LoadedDataset,
    prompt: PromptTemplate,
    *,
    model: ModelChoice,
    policy: PolicyEngine,
    config: EvalConfig,
    workdir: Path,
) -> EvaluationReport[CaseSpec, CaseOutcome, Any]:
    world = dataset.world

    async def task(case: CaseSpec) -> CaseOutcome:
        return await run_case(
            case,
            model=model.build(),
            prompt=prompt,
            policy=policy,
            workdir=workdir,
            packs=dataset.packs,
            world=world,
            max_rounds=config.max_rounds,
        )

    return await dataset.to_pydantic_evals(default_evaluators()).evaluate(
        task,
        name=f"{dataset.name} on {prompt.ref} with {model.name}",
        task_name="signoff_case",
        max_concurrency=config.concurrency,
        repeat=config.repeat,
        progress=False,
    )


def _gates(
    candidate: EvaluationReport[CaseSpec, CaseOutcome, Any],
    baseline_report: EvaluationReport[CaseSpec, CaseOutcome, Any] | None,
    *,
    case_names: list[str],
    config: EvalConfig,
    baseline: PromptTemplate | None,
) -> list[str]:
    failures: list[str] = []
    candidate_cases, totals = summarize(candidate, case_names=case_names)
    for name, threshold in config.effective_thresholds().items():
        rate = totals.evaluator_rate(name)
        if rate is not None and rate < threshold:
            failures.append(f"{name}: {rate:.1%} of runs passed; the threshold is {threshold:.1%}")
    for name, summary in candidate_cases.items():
        if summary.errors:
            failures.append(f"case {name}: {summary.errors} run(s) raised instead of finishing")
    if baseline_report is not None and baseline is not None:
        baseline_cases, _ = summarize(baseline_report, case_names=case_names)
        for name, before in baseline_cases.items():
            after = candidate_cases.get(name)
            if before.runs and before.passed == before.runs and after is not None and after.passed < after.runs:
                reasons = "; ".join(after.problems) or "failed"
                failures.append(f"case {name} passed on the baseline {baseline.ref} but failed: {reasons}")
    return failures


def eval_cost_parts(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The parts of the report whose ledger cost makes up the evaluation's: the candidate's runs, the
    baseline's, and the suite's own (its `spend`), each with `cost_usd` and `unpriced_requests`."""
    totals = report["totals"]
    parts = [totals["candidate"]] + ([totals["baseline"]] if totals["baseline"] is not None else [])
    if report.get("suite") is not None:
        parts.append(report["suite"]["spend"])
    return parts


def _eval_cost(report: dict[str, Any]) -> Decimal | None:
    """The ledger cost of every run of the evaluation, the suite's own runs included (None when some
    request had no known price)."""
    sides = eval_cost_parts(report)
    if any(side["cost_usd"] is None for side in sides):
        return None
    return sum((Decimal(side["cost_usd"]) for side in sides), Decimal("0"))
