"""Guard overhead: one 10-tool-call run through Signoff's full guard against the same run on bare pydantic-ai.

Both arms run in one process, on one SQLite file, with one `FunctionModel` and the same tool functions
(the baseline's toolset is `registry.toolset()` of the guarded runtime, so `get_contact` does the same
provider read on the same database in both arms). What differs is only what Signoff adds:

- baseline: `pydantic_ai.Agent(model, instructions=<same>, toolsets=[registry.toolset()]).run(task)`;
- guarded:  `build_runtime(...).runner.start(task)`: run row, policy decision, audit row per call, ledger
  row per model request, history checkpoint per step, lease renewal, final state.

Shared machines are noisy, so the result is a ratio measured in the same process: after a warm-up, the
two arms alternate (A B, B A, A B, ...), the garbage collector runs before every timed run, and the
report gives medians, p90s, the ratio of medians with a bootstrap 95% interval, and the median of the
per-pair ratios. CPU time (all threads of the process, aiosqlite's included) is shown beside wall time:
it is less sensitive to other tenants of the machine.

After timing, one run of each arm is counted statement by statement (SQL census) and a few guarded runs
are timed section by section (phase breakdown) by wrapping the guard's methods in this process only.
`--profile` adds a cProfile listing of the guarded arm.

Run: `.venv/bin/python -m bench.bench_guard_overhead [--runs N]` (see `--help` and bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import gc
import inspect
import io
import os
import platform
import pstats
import random
import re
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic_ai import Agent, models
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

import signoff.agent.ledger
import signoff.agent.runner
import signoff.agent.store.audit
import signoff.agent.store.runs
from signoff.agent.decider import CallDecider
from signoff.agent.framing import frame_task
from signoff.agent.guard import GuardedToolset
from signoff.agent.ledger import LedgerWriter
from signoff.agent.runner import Runner
from signoff.agent.runtime import Runtime, build_runtime, prepare_database
from signoff.agent.store.engine import create_engine
from signoff.agent.store.tables import LedgerRow, RunRow, ToolCallRow
from signoff.policies import PolicyConfig, PolicyEngine, build_policy_engine
from signoff.tools.sales import providers_of, sales_pack
from signoff.tools.sales.models import Contact

__all__ = ["main"]

# The scenario: ten tool calls, then a final answer.
TOOL_CALLS = 10
# The goal for guarded / baseline.
GOAL_RATIO = 1.3
# A read tool the default policy allows (no batch, no cost, no approval) whose provider work is one
# SELECT on the same table in both arms; the contacts exist, so every lookup returns a full record.
TOOL_NAME = "get_contact"
TASK_TEXT = "Look up these ten contacts in the CRM and tell me what you found."
FINAL_TEXT = "Found all ten contacts in the CRM."
MODEL_NAME = "bench-scripted"

# Defaults sized for under a minute on two busy cores (about 50 s at load average 4): 20 pairs per shape
# give a p90 from two samples above it and a ratio whose bootstrap interval is narrow enough to compare
# with 1.3 while the overhead is several times that; raise --runs to judge a ratio close to the goal.
DEFAULT_RUNS = 20
DEFAULT_WARMUP = 3
DEFAULT_BREAKDOWN_RUNS = 5
DEFAULT_PROFILE_RUNS = 20
# Resamples for the confidence interval of the ratio of medians; 2,000 is the usual floor for a 95% interval.
BOOTSTRAP_RESAMPLES = 2_000

Shape = Literal["sequential", "parallel"]
SHAPES: tuple[Shape, ...] = ("sequential", "parallel")
SHAPE_HELP = {
    "sequential": f"{TOOL_CALLS} model steps with one call each, then the final text ({TOOL_CALLS + 1} requests)",
    "parallel": f"one model step with {TOOL_CALLS} calls, then the final text (2 requests)",
}


# --- the scenario -------------------------------------------------------------------------------------


def contact_email(index: int) -> str:
    return f"person{index}@acme.example"


def scripted_model(shape: Shape) -> FunctionModel:
    """The same model for both arms: `get_contact` ten times (one per step, or all in one step), then text.

    The turn is chosen from the number of responses already in the history, as in tests/support/scripted.py.
    """

    def lookup(index: int) -> ToolCallPart:
        return ToolCallPart(TOOL_NAME, {"email": contact_email(index)}, f"lookup-{index}")

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        steps_done = sum(isinstance(message, ModelResponse) for message in messages)
        if shape == "sequential" and steps_done < TOOL_CALLS:
            return ModelResponse(parts=[lookup(steps_done)])
        if shape == "parallel" and steps_done == 0:
            return ModelResponse(parts=[lookup(index) for index in range(TOOL_CALLS)])
        return ModelResponse(parts=[TextPart(FINAL_TEXT)])

    return FunctionModel(respond, model_name=MODEL_NAME)


@dataclass
class SteppingClock:
    """Wall-clock time plus an offset that moves past the policy's look-back window before each guarded run.

    The default policy allows 30 calls of a tool per 60 s across all runs, so back-to-back 10-call runs
    would be denied from the fourth run on, and the recent-calls query would grow with every run. Moving
    the clock past the window measures the steady state of one such run per window, with the default policy.
    """

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def skip(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass(kw_only=True)
class Scenario:
    """One shape's database, runtime (guarded arm) and bare agent (baseline arm)."""

    shape: Shape
    engine: AsyncEngine
    runtime: Runtime
    policy: PolicyEngine
    clock: SteppingClock
    baseline: Agent[None, str]
    user_content: list[str]

    async def run_baseline(self) -> None:
        result = await self.baseline.run(self.user_content)
        if result.output != FINAL_TEXT:
            raise AssertionError(f"baseline run ended with {result.output!r}")

    def prepare_guarded(self) -> None:
        self.clock.skip(self.policy.lookback + timedelta(seconds=1))

    async def run_guarded(self) -> None:
        outcome = await self.runtime.runner.start(TASK_TEXT)
        if outcome.status != "completed" or outcome.output != FINAL_TEXT:
            raise AssertionError(f"guarded run ended {outcome.status}: {outcome.output or outcome.failure_reason!r}")


async def build_scenario(shape: Shape, directory: Path, *, history_rows: int) -> Scenario:
    """A migrated SQLite file with the ten contacts, a guarded runtime on it, and the bare agent."""
    engine = create_engine(f"sqlite+aiosqlite:///{directory / f'{shape}.db'}")
    session_factory = await prepare_database(engine, [sales_pack()])
    clock = SteppingClock()
    policy = build_policy_engine(PolicyConfig())
    model = scripted_model(shape)
    runtime = build_runtime(
        session_factory=session_factory,
        model=model,
        policy=policy,
        packs=[sales_pack()],
        ledger_spool_path=directory / f"{shape}-ledger-spool.jsonl",
        clock=clock,
    )
    await providers_of(runtime.pack_tools("sales")).crm.upsert_contacts(
        [
            Contact(email=contact_email(index), first_name=f"First{index}", last_name=f"Last{index}", company="Acme")
            for index in range(TOOL_CALLS)
        ]
    )
    if history_rows:
        await seed_history(runtime, rows=history_rows)
    baseline = Agent(
        model,
        output_type=str,
        instructions=Runner.instructions(runtime.runner.prompt),
        toolsets=[runtime.registry.toolset()],
        name="baseline",
    )
    return Scenario(
        shape=shape,
        engine=engine,
        runtime=runtime,
        policy=policy,
        clock=clock,
        baseline=baseline,
        user_content=frame_task(TASK_TEXT),
    )


async def seed_history(runtime: Runtime, *, rows: int) -> None:
    """Old succeeded audit rows (outside every look-back window), as a database in use for a while holds."""
    long_ago = datetime.now(UTC) - timedelta(days=30)
    run_id = "bench-history"
    async with runtime.session_factory.begin() as session:
        session.add(
            RunRow(
                run_id=run_id,
                conversation_id=run_id,
                status="completed",
                task_text="history",
                requested_by="bench",
                model_name=MODEL_NAME,
                prompt_name="sales_agent",
                prompt_version="1",
                prompt_hash="-",
                policy_version="-",
                message_history="[]",
                created_at=long_ago,
                updated_at=long_ago,
            )
        )
        await session.execute(
            insert(ToolCallRow),
            [
                {
                    "run_id": run_id,
                    "tool_call_id": f"history-{index}",
                    "tool_name": TOOL_NAME,
                    "args_json": "{}",
                    "verdict": "allow",
                    "rule": "default_allow",
                    "reason": "",
                    "status": "succeeded",
                    "items": 1,
                    "estimated_cost_usd": 0,
                    "requested_at": long_ago + timedelta(seconds=index),
                }
                for index in range(rows)
            ],
        )


# --- timing -----------------------------------------------------------------------------------------


@dataclass
class Samples:
    wall_ms: list[float] = field(default_factory=list[float])
    cpu_ms: list[float] = field(default_factory=list[float])


@dataclass(frozen=True, kw_only=True)
class Arm:
    name: str
    run: Callable[[], Awaitable[None]]
    prepare: Callable[[], None] = lambda: None


async def timed(arm: Arm, samples: Samples) -> None:
    arm.prepare()
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    await arm.run()
    samples.cpu_ms.append((time.process_time() - cpu) * 1000)
    samples.wall_ms.append((time.perf_counter() - wall) * 1000)


async def measure(arms: Sequence[Arm], *, runs: int, warmup: int) -> dict[str, Samples]:
    """Warm up, then alternate the arms (A B, B A, ...) so drift on the machine hits both alike."""
    for _ in range(warmup):
        for arm in arms:
            await timed(arm, Samples())
    samples = {arm.name: Samples() for arm in arms}
    for repetition in range(runs):
        for arm in arms if repetition % 2 == 0 else reversed(arms):
            await timed(arm, samples[arm.name])
    return samples


def p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def bootstrap_ratio_interval(guarded: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """95% percentile-bootstrap interval of median(guarded) / median(baseline)."""
    rng = random.Random(0)
    ratios = sorted(
        statistics.median(rng.choices(guarded, k=len(guarded)))
        / statistics.median(rng.choices(baseline, k=len(baseline)))
        for _ in range(BOOTSTRAP_RESAMPLES)
    )
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def report_timing(shape: Shape, samples: dict[str, Samples]) -> list[str]:
    base, guard = samples["baseline"], samples["guarded"]
    base_median = statistics.median(base.wall_ms)
    base_cpu = statistics.median(base.cpu_ms)
    rows = []
    for name, arm in samples.items():
        rows.append(
            f"{shape:<10}  {name:<8}  {len(arm.wall_ms):>4}  {statistics.median(arm.wall_ms):>9.1f}  "
            f"{p90(arm.wall_ms):>7.1f}  {statistics.median(arm.wall_ms) / base_median:>5.2f}x  "
            f"{statistics.median(arm.cpu_ms):>8.1f}  {statistics.median(arm.cpu_ms) / base_cpu:>5.2f}x"
        )
    low, high = bootstrap_ratio_interval(guard.wall_ms, base.wall_ms)
    pair_ratio = statistics.median(g / b for g, b in zip(guard.wall_ms, base.wall_ms, strict=True))
    overhead_ms = statistics.median(guard.wall_ms) - base_median
    ratio = statistics.median(guard.wall_ms) / base_median
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    rows.append(
        f"{'':<10}  ratio of medians {ratio:.2f}x (95% CI {low:.2f}-{high:.2f}), median pair ratio "
        f"{pair_ratio:.2f}x; overhead {overhead_ms:.1f} ms/run = {overhead_ms / TOOL_CALLS:.1f} ms per tool call; "
        f"goal <= {GOAL_RATIO}x {verdict}"
    )
    return rows


# --- SQL census -------------------------------------------------------------------------------------


def statement_label(statement: str) -> str:
    """'SELECT tool_calls', 'UPDATE runs', 'BEGIN IMMEDIATE', ... for one SQL statement."""
    text = " ".join(statement.split()).upper()
    if text.startswith("SELECT"):
        tables = re.findall(r"\bFROM\s+\"?(\w+)", text)
        return f"SELECT {tables[0].lower() if tables else '(no table)'}"
    match = re.match(r"(INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)", text)
    if match:
        return f"{match.group(1).split()[0]} {match.group(2).lower()}"
    return " ".join(text.split()[:2])


@dataclass
class SqlCensus:
    statements: Counter[str] = field(default_factory=Counter[str])
    commits: int = 0
    rollbacks: int = 0
    checkouts: int = 0


@contextlib.contextmanager
def sql_census(engine: AsyncEngine) -> Iterator[SqlCensus]:
    """Count statements, commits, rollbacks and pool checkouts on this engine while the block runs."""
    census = SqlCensus()
    sync_engine = engine.sync_engine

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        census.statements[statement_label(statement)] += 1

    def on_commit(_conn: Any) -> None:
        census.commits += 1

    def on_rollback(_conn: Any) -> None:
        census.rollbacks += 1

    def on_checkout(*_args: Any) -> None:
        census.checkouts += 1

    listeners: list[tuple[Any, str, Callable[..., None]]] = [
        (sync_engine, "before_cursor_execute", on_execute),
        (sync_engine, "commit", on_commit),
        (sync_engine, "rollback", on_rollback),
        (sync_engine.pool, "checkout", on_checkout),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield census
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)


async def verify_guarded_rows(scenario: Scenario, run_id: str) -> str:
    """The guarded run really went through the guard: allowed, audited and ledgered, one row each."""
    async with scenario.runtime.session_factory() as session:
        calls = list(
            await session.execute(select(ToolCallRow.verdict, ToolCallRow.status).where(ToolCallRow.run_id == run_id))
        )
        ledger_rows = (
            await session.execute(select(func.count()).select_from(LedgerRow).where(LedgerRow.run_id == run_id))
        ).scalar_one()
    expected_requests = TOOL_CALLS + 1 if scenario.shape == "sequential" else 2
    if calls != [("allow", "succeeded")] * TOOL_CALLS or ledger_rows != expected_requests:
        raise AssertionError(f"guarded run {run_id}: audit rows {calls}, ledger rows {ledger_rows}")
    return f"{len(calls)} audit rows (allow, succeeded), {ledger_rows} ledger rows"


async def report_census(scenario: Scenario) -> list[str]:
    with sql_census(scenario.engine) as base:
        await scenario.run_baseline()
    scenario.prepare_guarded()
    with sql_census(scenario.engine) as guard:
        outcome = await scenario.runtime.runner.start(TASK_TEXT)
    checked = await verify_guarded_rows(scenario, outcome.run_id)
    rows = [f"SQL per run, {scenario.shape} shape (guarded run checked: {checked})"]
    rows.append(f"  {'statement':<28}  {'baseline':>8}  {'guarded':>8}")
    labels = sorted(set(base.statements) | set(guard.statements), key=lambda label: -guard.statements[label])
    for label in labels:
        rows.append(f"  {label:<28}  {base.statements[label]:>8}  {guard.statements[label]:>8}")
    totals = (sum(base.statements.values()), sum(guard.statements.values()))
    rows.append(f"  {'all statements':<28}  {totals[0]:>8}  {totals[1]:>8}")
    rows.append(f"  {'COMMIT':<28}  {base.commits:>8}  {guard.commits:>8}")
    rows.append(f"  {'ROLLBACK (read sessions)':<28}  {base.rollbacks:>8}  {guard.rollbacks:>8}")
    rows.append(f"  {'pool checkouts (sessions)':<28}  {base.checkouts:>8}  {guard.checkouts:>8}")
    return rows


# --- phase breakdown --------------------------------------------------------------------------------


@dataclass
class PhaseTimer:
    """Wall time and call counts per section, summed over one run at a time."""

    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter[str])
    dumped_bytes: int = 0

    def wrap(self, key: str, function: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    self.seconds[key] += time.perf_counter() - started
                    self.calls[key] += 1

            return timed_async

        @functools.wraps(function)
        def timed_sync(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - started
                self.calls[key] += 1
            if key == "dump":
                self.dumped_bytes += len(result)
            return result

        return timed_sync

    def ms(self, key: str) -> float:
        return self.seconds[key] * 1000

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.dumped_bytes = 0


@dataclass(frozen=True)
class Section:
    """One timed piece of the guarded run: a wrapped function, or the remainder of a parent (`derived`)."""

    key: str
    label: str
    depth: int
    owner: Any = None
    attribute: str = ""
    derived: Callable[[PhaseTimer], float] | None = None


# In display order; a section's time includes the sections indented under it.
SECTIONS: tuple[Section, ...] = (
    Section("start", "run total (Runner.start)", 0, Runner, "start"),
    Section(
        "create",
        "create run: INSERT runs (start minus drive)",
        1,
        derived=lambda t: t.ms("start") - t.ms("drive"),
    ),
    Section("drive", "drive (Runner._drive)", 1, Runner, "_drive"),
    Section("deps", "run deps: SELECT ledger (Runner._deps_for)", 2, Runner, "_deps_for"),
    Section("call", "tool calls (GuardedToolset.call_tool)", 2, GuardedToolset, "call_tool"),
    Section(
        "recipients", "known recipients (CRM lookup, outside the transaction)", 3, CallDecider, "known_recipients_for"
    ),
    Section("replay", "replay check: SELECT tool_calls (query only)", 3, signoff.agent.store.audit, "get_tool_call"),
    Section("facts", "policy facts: spend SUM + recent calls SELECT", 3, CallDecider, "context_in"),
    Section("rules", "policy rules (PolicyEngine.evaluate)", 3, PolicyEngine, "evaluate"),
    Section("execute", "execute (GuardedToolset._execute)", 3, GuardedToolset, "_execute"),
    Section("tool", "tool body (FunctionToolset.call_tool)", 4, FunctionToolset, "call_tool"),
    Section("finish", "audit UPDATE finished (GuardedToolset._finish)", 4, GuardedToolset, "_finish"),
    Section(
        "call_rest",
        "rest: the decision transaction (BEGIN, audit INSERT, COMMIT), glue",
        3,
        derived=lambda t: (
            t.ms("call") - sum(t.ms(key) for key in ("recipients", "replay", "facts", "rules", "execute"))
        ),
    ),
    Section("ledger", "ledger row (LedgerWriter.record)", 2, LedgerWriter, "record"),
    Section("price", "price lookup (price_response)", 3, signoff.agent.ledger_capability, "price_response"),
    Section("checkpoint", "checkpoint: history + UPDATE runs (Runner._checkpoint)", 2, Runner, "_checkpoint"),
    Section("dump", "history JSON dump (dump_history, all callers)", 3, signoff.agent.runner, "dump_history"),
    Section("end", "finish: UPDATE runs (run_store.finish_run, query only)", 2, signoff.agent.store.runs, "finish_run"),
    Section(
        "drive_rest",
        "rest of drive: pydantic-ai graph, model function, messages",
        2,
        derived=lambda t: t.ms("drive") - sum(t.ms(key) for key in ("deps", "call", "ledger", "checkpoint", "end")),
    ),
)


@contextlib.contextmanager
def phase_timing() -> Iterator[PhaseTimer]:
    """Wrap the guarded run's functions with timers, in this process only, for the duration of the block."""
    timer = PhaseTimer()
    with contextlib.ExitStack() as stack:
        for section in SECTIONS:
            if section.derived is None:
                original = section.owner.__dict__[section.attribute]
                setattr(section.owner, section.attribute, timer.wrap(section.key, original))
                stack.callback(setattr, section.owner, section.attribute, original)
        yield timer


async def report_breakdown(scenario: Scenario, *, runs: int) -> list[str]:
    """Median per-run wall time of each section of the guarded run, beside the baseline run's."""
    per_run: defaultdict[str, list[float]] = defaultdict(list)
    calls: dict[str, int] = {}
    dumped: list[int] = []
    base_total: list[float] = []
    base_tools: list[float] = []
    with phase_timing() as timer:
        for _ in range(runs):
            timer.reset()
            gc.collect()
            started = time.perf_counter()
            await scenario.run_baseline()
            base_total.append((time.perf_counter() - started) * 1000)
            base_tools.append(timer.ms("tool"))

            timer.reset()
            scenario.prepare_guarded()
            gc.collect()
            await scenario.run_guarded()
            for section in SECTIONS:
                per_run[section.key].append(section.derived(timer) if section.derived else timer.ms(section.key))
            calls = dict(timer.calls)
            dumped.append(timer.dumped_bytes)
    rows = [
        f"Where the guarded time goes, {scenario.shape} shape: median of {runs} runs, wall time, sections timed "
        "by wrapping (a section includes the ones indented under it; medians do not add up exactly)",
        f"  {'section':<66}  {'ms/run':>7}  {'calls/run':>9}  {'ms/call':>7}",
    ]
    for section in SECTIONS:
        median_ms = statistics.median(per_run[section.key])
        count = calls.get(section.key, 0)
        label = "  " * section.depth + section.label
        per_call = f"{median_ms / count:>7.2f}" if count else ""
        rows.append(f"  {label:<66}  {median_ms:>7.1f}  {count or '':>9}  {per_call}")
    rows.append(
        f"  baseline run: {statistics.median(base_total):.1f} ms/run, of which tool bodies "
        f"{statistics.median(base_tools):.1f} ms; history JSON written by the guarded run: "
        f"{statistics.median(dumped) / 1024:.0f} KiB/run"
    )
    return rows


# --- cProfile -----------------------------------------------------------------------------------------


_PROJECT_CODE = re.compile(r"/(agent|tools|policies|prompts)/")


async def report_profile(scenario: Scenario, *, runs: int, dump_to: Path | None) -> list[str]:
    profiler = cProfile.Profile()
    for _ in range(runs):
        scenario.prepare_guarded()
        gc.collect()
        profiler.enable()
        await scenario.run_guarded()
        profiler.disable()
    if dump_to is not None:
        profiler.dump_stats(dump_to)
    rows = [
        f"cProfile of {runs} guarded {scenario.shape} runs (event-loop thread CPU only; waits on aiosqlite's "
        "thread are not in it)"
    ]
    for title, sort_key, restriction, limit in (
        ("top functions by own time", pstats.SortKey.TIME, (), 25),
        ("project functions by cumulative time", pstats.SortKey.CUMULATIVE, (_PROJECT_CODE.pattern,), 25),
    ):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats(sort_key).print_stats(*restriction, limit)
        listing = stream.getvalue()
        body = listing[listing.find("   ncalls") :] if "   ncalls" in listing else listing
        rows.append(f"-- {title} --")
        rows.extend(_shorten_paths(line) for line in body.rstrip().splitlines())
    if dump_to is not None:
        rows.append(f"(full profile written to {dump_to}; open with `python -m pstats {dump_to}`)")
    return rows


def _shorten_paths(line: str) -> str:
    return re.sub(r"\S*/(site-packages|work/main)/", "", line)


# --- main -----------------------------------------------------------------------------------------------


def reproduce_command() -> str:
    executable = Path(sys.executable)
    with contextlib.suppress(ValueError):
        executable = executable.relative_to(Path.cwd())
    return shlex.join([str(executable), "-m", "bench.bench_guard_overhead", *sys.argv[1:]])


def environment_line() -> str:
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"python {platform.python_version()}, pydantic-ai {metadata.version('pydantic-ai-slim')}, "
        f"sqlalchemy {metadata.version('sqlalchemy')}, sqlite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, load average {load}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_guard_overhead",
        description="Time a 10-tool-call run through Signoff's guard against bare pydantic-ai, in one process.",
    )
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs per arm and shape (%(default)s)")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed runs per arm first (%(default)s)")
    parser.add_argument(
        "--shapes",
        nargs="+",
        choices=SHAPES,
        default=list(SHAPES),
        help="; ".join(f"{shape}: {text}" for shape, text in SHAPE_HELP.items()),
    )
    parser.add_argument(
        "--breakdown-runs",
        type=int,
        default=DEFAULT_BREAKDOWN_RUNS,
        help="guarded runs timed section by section, sequential shape; 0 skips (%(default)s)",
    )
    parser.add_argument("--no-census", action="store_true", help="skip the per-run SQL statement census")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=DEFAULT_PROFILE_RUNS,
        default=0,
        metavar="RUNS",
        help=f"also cProfile this many guarded sequential runs ({DEFAULT_PROFILE_RUNS} when given without a number)",
    )
    parser.add_argument("--profile-out", type=Path, help="write the cProfile stats to this file")
    parser.add_argument(
        "--history-rows",
        type=int,
        default=0,
        help="seed this many old audit rows first, as a database in use for a while holds (%(default)s)",
    )
    parser.add_argument(
        "--telemetry",
        action="store_true",
        help="configure logfire as the CLI does (local only, pydantic-ai instrumented in both arms)",
    )
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2 (a p90 needs two samples)")
    return args


async def run_bench(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    print(f"command: {reproduce_command()}")
    print(f"environment: {environment_line()}")
    print(
        f"scenario: {TOOL_CALLS} x {TOOL_NAME} (allowed by the default policy), same FunctionModel and tool functions "
        f"in both arms, SQLite WAL file; {args.runs} timed runs per arm after {args.warmup} warm-up, "
        "alternating A B / B A"
        + (f"; {args.history_rows} old audit rows seeded" if args.history_rows else "")
        + ("; logfire configured" if args.telemetry else "")
    )
    for shape in args.shapes:
        print(f"  {shape}: {SHAPE_HELP[shape]}")
    with tempfile.TemporaryDirectory(prefix="signoff-bench-") as directory:
        scenarios = {
            shape: await build_scenario(shape, Path(directory), history_rows=args.history_rows) for shape in args.shapes
        }
        try:
            table = [
                f"{'shape':<10}  {'arm':<8}  {'runs':>4}  {'median ms':>9}  {'p90 ms':>7}  {'ratio':>6}  "
                f"{'CPU ms':>8}  {'CPU ratio':>6}"
            ]
            for shape, scenario in scenarios.items():
                arms = [
                    Arm(name="baseline", run=scenario.run_baseline),
                    Arm(name="guarded", run=scenario.run_guarded, prepare=scenario.prepare_guarded),
                ]
                samples = await measure(arms, runs=args.runs, warmup=args.warmup)
                table.extend(report_timing(shape, samples))
            print()
            print("\n".join(table))
            if not args.no_census:
                for scenario in scenarios.values():
                    print()
                    print("\n".join(await report_census(scenario)))
            if args.breakdown_runs and "sequential" in scenarios:
                print()
                print("\n".join(await report_breakdown(scenarios["sequential"], runs=args.breakdown_runs)))
            if args.profile and "sequential" in scenarios:
                print()
                rows = await report_profile(scenarios["sequential"], runs=args.profile, dump_to=args.profile_out)
                print("\n".join(rows))
        finally:
            for scenario in scenarios.values():
                await scenario.engine.dispose()
    print()
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"finished in {time.perf_counter() - started:.0f} s; load average after: {load}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    models.ALLOW_MODEL_REQUESTS = False  # both arms use the FunctionModel; nothing may reach a real API
    if args.telemetry:
        from signoff.agent.telemetry import configure_telemetry

        configure_telemetry()
    else:
        # Unconfigured logfire drops spans and logs; its one-time warning about that is noise here.
        warnings.filterwarnings("ignore", message="No logs or spans will be created")
    asyncio.run(run_bench(args))


if __name__ == "__main__":
    main()
