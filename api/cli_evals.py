"""`signoff eval run` and `signoff eval list`: offline evaluation runs from the command line, for CI.

Exit status of `eval run`: 0 when every gate passed, 1 when a gate failed (the failing gates are listed,
the dataset's suite's by name, e.g. `injection gate attack_success: ...`), 2 for bad input (an unknown
dataset, prompt version, model or evaluator), with a one-line message. The run is recorded in the
configured database (`SIGNOFF_DATABASE_URL`, as every command uses), with the policy the configuration
names (`SIGNOFF_POLICY_FILE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from signoff.api.cli import (  # pyright: ignore[reportPrivateUsage]
    SettingsError,
    _async_command,
    _default_principal,
    _emit,
    _runtime,
    _settings,
    cli,
    json_option,
)
from signoff.api.cli_format import render_table, truncate
from signoff.api.runtime import enabled_packs
from signoff.evals.catalog import eval_catalog
from signoff.evals.dataset import DatasetError, list_datasets, load_dataset
from signoff.evals.models import ModelNameError, resolve_model
from signoff.evals.records import list_eval_runs, record_eval_run
from signoff.evals.run import (
    DEFAULT_CONCURRENCY,
    EvalConfig,
    EvalInputError,
    EvalResult,
    eval_cost_parts,
    parse_threshold,
    resolve_prompt,
)
from signoff.evals.run import run_evaluation as run_evaluation_of
from signoff.tools.packs import PackLoadError

__all__ = ["eval_group"]


class BadEvalInput(click.ClickException):
    """Bad input to an evaluation: a one-line message, exit status 2 (as click's usage errors)."""

    exit_code = 2


@cli.group("eval")
def eval_group() -> None:
    """Evaluate prompt versions and models on datasets of cases, offline, with gates for CI."""


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _money(value: str | None, unpriced: int, unaccounted_runs: int = 0) -> str:
    if value is not None:
        return f"${value}"
    reasons = [f"{unpriced} unpriced"] if unpriced or not unaccounted_runs else []
    if unaccounted_runs:
        reasons.append(f"{unaccounted_runs} run(s) raised before their ledger was read")
    return f"unknown ({'; '.join(reasons)})"


def _render(result: EvalResult) -> str:
    report = result.report
    has_baseline = result.baseline is not None
    title = f"{result.dataset.name} ({result.dataset.content_hash[:19]}…) on {result.prompt.ref}"
    if result.baseline is not None:
        title += f" vs baseline {result.baseline.ref}"
    lines = [title + f", model {result.model_name}, repeat {result.config.repeat}", ""]
    headers = ["case", "pass", "requests", "cost", "mean s", "approvals", "denials"]
    if has_baseline:
        headers[2:2] = ["baseline pass", "difference"]
    rows: list[list[Any]] = []
    for entry in [*report["cases"], {"case": "TOTAL", **report["totals"]}]:
        side = entry["candidate"]
        row: list[Any] = [
            entry["case"],
            f"{side['passed']}/{side['runs']}",
            side["model_requests"],
            _money(side["cost_usd"], side["unpriced_requests"]),
            side["mean_seconds"],
            side["approvals_requested"],
            side["denials"],
        ]
        if has_baseline:
            base, difference = entry["baseline"], entry["difference"]
            row[2:2] = [
                f"{base['passed']}/{base['runs']}",
                f"{difference['pass_rate']:+.0%} [{difference['low']:+.0%}, {difference['high']:+.0%}]",
            ]
        rows.append(row)
    lines.append(render_table(headers, rows))
    totals = report["totals"]
    evaluator_names = list(totals["candidate"]["evaluators"])
    lines += ["", "Pass rate per evaluator:"]
    evaluator_rows = [
        [name, _percent(totals["candidate"]["evaluators"].get(name))]
        + ([_percent(totals["baseline"]["evaluators"].get(name))] if has_baseline else [])
        + [_percent(report["gates"]["thresholds"].get(name))]
        for name in evaluator_names
    ]
    lines.append(
        render_table(["evaluator", "candidate", *(["baseline"] if has_baseline else []), "threshold"], evaluator_rows)
    )
    if has_baseline:
        lines += ["", f"Differences are candidate - baseline with a {report['interval']}."]
    if report.get("suite") is not None:
        lines += ["", *_render_suite(report["suite"])]
    problems = [(entry["case"], problem) for entry in report["cases"] for problem in entry["candidate"]["problems"]]
    if problems:
        lines += ["", "Problems:"] + [f"  {case}: {truncate(problem, 200)}" for case, problem in problems]
    parts = eval_cost_parts(report)
    unpriced = sum(part["unpriced_requests"] for part in parts)
    unaccounted = sum(part.get("unaccounted_runs", 0) for part in parts)
    lines += [
        "",
        f"Eval cost (ledger, all runs): {_money(report['eval_cost_usd'], unpriced, unaccounted)}; "
        "judge calls: none (the evaluators are code).",
        f"Recorded as eval run {result.eval_run_id}.",
    ]
    if result.gate_failures:
        lines += ["", "GATES FAILED:"] + [f"  - {failure}" for failure in result.gate_failures]
    else:
        lines += ["", "All gates passed."]
    return "\n".join(lines)


def _suite_value(value: float | int | None, kind: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if kind == "rate" else str(value)


def _render_suite(section: dict[str, Any]) -> list[str]:
    """The dataset's suite section (`evals.suites.SuiteReport.view()`): metrics per arm, gates, notes."""
    arms: list[str] = section["arms"]
    rows = [
        [metric["label"], *(_suite_value(metric[arm], metric["kind"]) for arm in arms)]
        for metric in section["metrics"].values()
    ]
    lines = [f"{section['title']}, model {section['model']}:", render_table(["metric", *arms], rows), ""]
    lines.append("Suite gates:")
    lines += [
        f"  {gate['name']}: {'passed' if gate['passed'] else 'FAILED'} ({truncate(gate['detail'], 300)})"
        for gate in section["gates"]
    ]
    lines += [f"Note: {note}" for note in section["notes"]]
    return lines


@eval_group.command("run")
@click.argument("dataset")
@click.option("--prompt", "prompt_ref", required=True, help="The prompt version to evaluate, NAME@VERSION.")
@click.option(
    "--model",
    "model_name",
    default="offline",
    show_default=True,
    help="offline, obedient, replay:PATH or a pydantic-ai id.",
)
@click.option("--repeat", type=click.IntRange(1, 100), default=1, show_default=True, help="Runs of each case.")
@click.option(
    "--baseline", "baseline_ref", help="A prompt version to compare with, NAME@OTHER (same dataset and model)."
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY, show_default=True)
@click.option("--threshold", "thresholds", multiple=True, help="Gate EVALUATOR=RATE, e.g. trajectory=0.9; repeatable.")
@click.option(
    "--record",
    "record_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Record the model's responses to this file (for replay:PATH).",
)
@json_option
@_async_command
async def eval_run_command(
    dataset: str,
    prompt_ref: str,
    model_name: str,
    repeat: int,
    baseline_ref: str | None,
    concurrency: int,
    thresholds: Sequence[str],
    record_path: Path | None,
    as_json: bool,
) -> None:
    """Run DATASET (a path, or a dataset an enabled pack ships) against a prompt version; exit 1 if a gate fails."""
    try:
        catalog = eval_catalog(enabled_packs(_settings()))
        loaded = load_dataset(dataset, catalog=catalog)
        prompt = resolve_prompt(prompt_ref, packs=catalog.packs)
        baseline = None if baseline_ref is None else resolve_prompt(baseline_ref, packs=catalog.packs)
        model = resolve_model(
            model_name, record_to=record_path, claude=_settings().claude_options(), packs=catalog.packs
        )
        config = EvalConfig(
            repeat=repeat, concurrency=concurrency, thresholds=dict(parse_threshold(t) for t in thresholds)
        )
    except (DatasetError, EvalInputError, ModelNameError, PackLoadError, SettingsError) as error:
        raise BadEvalInput(str(error)) from None
    if baseline is not None and baseline.content_hash == prompt.content_hash:
        raise BadEvalInput(f"the baseline {baseline.ref} is the same file as {prompt.ref}")

    async with _runtime() as runtime:
        result = await run_evaluation_of(
            loaded, prompt=prompt, model=model, policy=runtime.decider.policy, baseline=baseline, config=config
        )
        await record_eval_run(runtime.session_factory, result.to_record(created_by=_default_principal()))
    payload = {
        "eval_run_id": result.eval_run_id,
        "dataset": {"name": loaded.name, "hash": loaded.content_hash, "path": str(loaded.path)},
        "prompt": {"ref": prompt.ref, "hash": prompt.content_hash},
        "baseline": None if baseline is None else {"ref": baseline.ref, "hash": baseline.content_hash},
        "model": model.name,
        "settings": result.settings(),
        "passed": result.passed,
        "report": result.report,
    }
    _emit(as_json, payload, lambda: _render(result))
    if not result.passed:
        raise SystemExit(1)


@eval_group.command("list")
@click.option("--prompt", "prompt_name", help="Only runs of this prompt name.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
@_async_command
async def eval_list_command(prompt_name: str | None, limit: int, as_json: bool) -> None:
    """List recorded evaluation runs, newest first (and the datasets available)."""
    async with _runtime() as runtime:
        records = await list_eval_runs(runtime.session_factory, prompt_name=prompt_name, limit=limit)
    views = [
        {
            "eval_run_id": r.eval_run_id,
            "dataset": r.dataset_name,
            "dataset_hash": r.dataset_hash,
            "prompt": f"{r.prompt_name}@{r.prompt_version}",
            "prompt_hash": r.prompt_hash,
            "baseline": r.baseline,
            "model": r.model_name,
            "repeat": r.repeat,
            "passed": r.passed,
            "gate_failures": r.gate_failures,
            "cost_usd": None if r.cost_usd is None else str(r.cost_usd),
            "finished_at": r.finished_at.isoformat(),
            "created_by": r.created_by,
        }
        for r in records
    ]
    _emit(
        as_json,
        views,
        lambda: render_table(
            ["eval_run_id", "finished", "dataset", "prompt", "baseline", "model", "passed"],
            [
                [
                    v["eval_run_id"],
                    v["finished_at"][:19],
                    v["dataset"],
                    v["prompt"],
                    v["baseline"] or "",
                    v["model"],
                    v["passed"],
                ]
                for v in views
            ],
            empty="no evaluation runs recorded yet; datasets: "
            + (", ".join(list_datasets(eval_catalog(enabled_packs(_settings())))) or "(none)"),
        ),
    )
