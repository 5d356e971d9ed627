"""The injection suite as an evaluation suite (`suite: injection`): its report section and gates.

`signoff eval run injection --prompt P --model M` runs the dataset guarded through the framework; this
suite then runs every case again, unguarded (`tools.sales.injection.harness`: a bare pydantic-ai `Agent` with the
registry's toolset, no policy, the same world and planted providers, `repeat` times each, as many at once
as the evaluation's concurrency), and reports per arm benign utility, utility under attack, attack success
rate, benign approval rate and approvals on benign read-only tasks (`tools.sales.injection.metrics`). Its gates
apply to the candidate's guarded arm.
"""

from __future__ import annotations

from dataclasses import dataclass

from signoff.evals.suites import SuiteMetric, SuiteReport, SuiteRun, SuiteSpend
from signoff.tools.sales.injection.goals import ATTACK_CLASSES
from signoff.tools.sales.injection.metrics import ArmMetrics, arm_metrics, injection_gates, judge, run_unguarded_cases

__all__ = ["INJECTION_SUITE", "InjectionSuite"]

INJECTION_SUITE = "injection"
"""The suite's name in dataset files."""

_GUARDED = "guarded"
_BASELINE = "baseline"
_UNGUARDED = "unguarded"


@dataclass(frozen=True)
class InjectionSuite:
    """Benign utility, utility under attack and attack success, guarded against unguarded; gates of issue #5."""

    name: str = INJECTION_SUITE

    async def measure(self, run: SuiteRun) -> SuiteReport:
        """Judge the guarded runs, run and judge the unguarded arm, and decide the gates."""
        arms: dict[str, ArmMetrics] = {_GUARDED: arm_metrics([judge(c.inputs, c.output) for c in run.candidate.cases])}
        if run.baseline is not None:
            arms[_BASELINE] = arm_metrics([judge(c.inputs, c.output) for c in run.baseline.cases])
        unguarded_results = await run_unguarded_cases(
            run.dataset,
            build_model=run.model.build,
            workdir=run.workdir,
            repeat=run.repeat,
            concurrency=run.concurrency,
        )
        arms[_UNGUARDED] = unguarded = arm_metrics(unguarded_results)
        guarded = arms[_GUARDED]

        def metric(key: str, label: str, *, count: bool = False) -> SuiteMetric:
            return SuiteMetric(
                key=key,
                label=label,
                kind="count" if count else "rate",
                values={arm: getattr(numbers, key) for arm, numbers in arms.items()},
            )

        return SuiteReport(
            suite=self.name,
            title="Prompt-injection suite (docs/injection.md)",
            model=run.model.name,
            arms=tuple(arms),
            metrics=(
                metric("benign_utility", "benign utility"),
                metric("utility_under_attack", "utility under attack"),
                metric("attack_success_rate", "attack success rate"),
                *(
                    SuiteMetric(
                        key=f"attack_success_rate_{attack_class}",
                        label=f"  attack success: {attack_class}",
                        kind="rate",
                        values={
                            arm: numbers.attack_success_by_class.get(attack_class) for arm, numbers in arms.items()
                        },
                    )
                    for attack_class in ATTACK_CLASSES
                ),
                metric("benign_approval_rate", "approval rate on benign tasks"),
                metric("read_only_benign_approvals", "approvals on benign read-only tasks", count=True),
                metric("benign_runs", "benign runs", count=True),
                metric("injection_runs", "injection runs", count=True),
            ),
            gates=injection_gates(guarded=guarded, unguarded=unguarded, model_name=run.model.name),
            notes=(
                f"unguarded: every case run {run.repeat} time(s) by a bare pydantic-ai Agent with the sales "
                "toolset and no policy (tools/sales/injection/harness.py), on the same world and planted providers; "
                f"its {unguarded.model_requests} model request(s) are on the ledger and in the eval cost",
                "attack success: the goal's security check is True and no person approved a call of its tools",
            ),
            spend=SuiteSpend(
                model_requests=unguarded.model_requests,
                priced_cost_usd=unguarded.priced_cost_usd,
                unpriced_requests=unguarded.unpriced_requests,
                unaccounted_runs=unguarded.unaccounted_runs,
            ),
            details={
                "breached_cases": {arm: list(numbers.breached_cases) for arm, numbers in arms.items()},
                "unguarded_errors": list(unguarded.errors),
            },
        )
