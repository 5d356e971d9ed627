"""The HTTP API under load, and deciding one approval when many are pending.

Two benchmarks, each a ratio measured in one invocation, on SQLite files in a temporary directory:

- `throughput`: a three-step task (read a CRM contact, sync one contact to the CRM after a person
  approves, answer) run by `--clients` concurrent clients for `--seconds` per arm. The `http` arm goes
  through the real service: uvicorn serving `create_app(...)` in a subprocess on 127.0.0.1, requesters
  that `POST /v1/tasks` and follow the run's event stream until it completes (or poll
  `GET /v1/runs/{run_id}` with `--wait poll`), and one approver client that polls `GET /v1/approvals`
  and approves what it finds. The `in-process` arm runs the same tasks on the same wiring
  (`open_runtime`, same model, policy and prompt) without HTTP: `runner.start`, `approvals.approve`,
  `runner.resume`. Measurement windows alternate between the arms (A B, B A, ...), each after an
  uncounted ramp.
- `decisions`: the time to decide one approval (`POST /v1/approvals/{id}/decision`, in-process ASGI)
  and to see its run complete, with 100 pending approvals in the database against 100,000. The rows
  (runs, approvals, audit rows, events, ledger rows, histories) are clones of one real paused run,
  bulk-inserted. A third database, a copy of the large one plus two proposed indexes, shows what the
  indexes change. Decisions alternate between the databases. Every SQL statement of one decision and
  its resume (and of one page of the queue) is then explained (EXPLAIN QUERY PLAN) and timed on each
  database.

Run: `.venv/bin/python -m bench.bench_api throughput` and `.venv/bin/python -m bench.bench_api decisions`
(see `--help` and bench/README.md). The `serve` command is the server process of `throughput`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import itertools
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic_ai import models
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import Table, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.runtime import Runtime, prepare_database
from signoff.agent.store.engine import create_engine
from signoff.agent.store.tables import ApprovalRow, LedgerRow, RunEventRow, RunRow, ToolCallRow
from signoff.api.app import create_app
from signoff.api.keys import create_api_key
from signoff.api.runtime import open_runtime
from signoff.api.settings import Settings
from signoff.tools.sales import offline_providers, sales_pack
from signoff.tools.sales.models import Contact
from signoff.tools.sales.tables import CrmContactRow

__all__ = ["main"]

REPO_ROOT = Path(__file__).resolve().parents[1]

MODEL_NAME = "bench-scripted"
REQUESTER = "bench-requester"
APPROVER = "bench-approver"
FINAL_TEXT = "Looked the contact up and added the new one to the CRM."
# Contacts that exist before the benchmark, for the read step; tasks cycle through them.
LOOKUP_CONTACTS = 100
EMAIL = re.compile(r"[a-z0-9.+-]+@[a-z0-9-]+\.[a-z.]+", re.IGNORECASE)

# The goals.
THROUGHPUT_GOAL = 0.6  # http tasks/s over in-process tasks/s, at least
DECISION_GOAL = 2.0  # decision time with 100,000 pending over 100 pending, at most

# Throughput defaults: the 50 clients for 30 s per arm, in two windows per arm (A B B A).
DEFAULT_SECONDS = 30.0
DEFAULT_CLIENTS = 50
DEFAULT_ROUNDS = 2
# Uncounted time at full load before each window: the first tasks of a window all start together.
DEFAULT_RAMP_SECONDS = 3.0
# How often a requester asks whether its run has finished. Run events (SSE) would make this unnecessary;
# until then every poll is a request the server serves, so this trades latency resolution for load.
DEFAULT_POLL_SECONDS = 0.25
# How long the approver waits when the queue was empty.
APPROVER_IDLE_SECONDS = 0.02
APPROVER_PAGE = 200
SERVER_START_TIMEOUT_SECONDS = 60.0

# Decisions defaults: the 100 and 100,000 pending approvals, 30 timed decisions on each database.
DEFAULT_PENDING_SMALL = 100
DEFAULT_PENDING_LARGE = 100_000
DEFAULT_SAMPLES = 30
DEFAULT_STATEMENT_REPEATS = 15
# A statement is reported as growing with the table when it takes this much longer on a large database
# than on the small one, and long enough to matter next to a decision's ~20 ms.
GROWTH_FLAG_RATIO = 10
GROWTH_FLAG_MS = 1.0
SEED_CHUNK = 2_000
# Cloned rows are spread over this much past time, one clone a few seconds older than the next, so that
# they are old history to the policy's look-back window (60 s) and the queue is ordered as in real use.
SEED_SPAN = timedelta(days=30)
# The indexes migration 0004 added, after this benchmark showed them missing (re-applied to a copy, as a no-op): expiry
# sweeps find due approvals without reading every pending one, and a run's pending approvals are found
# through the run (SQLite otherwise plans `run_id = ? AND state = ?` on the state index).
PROPOSED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_approvals_state_expires ON approvals (state, expires_at)",
    "CREATE INDEX IF NOT EXISTS ix_approvals_run_state ON approvals (run_id, state)",
)

# Rate limits off: the default 30 calls per minute would refuse most tasks of a load test, and a limit
# high enough to pass them makes every decision load the last minute's calls (a cost of the load, the
# same in both arms, not of HTTP).
THROUGHPUT_POLICY = "rate_limits = {}\n"
# Per-key request limits out of the way: all requesters share one key, and the default (120 a minute)
# would refuse a load test in its first second. The limiter still runs on every request.
KEY_RATE_LIMIT = 1_000_000_000
# The decisions benchmark keeps a rate limit, so the decision path includes its recent-calls query.
DECISIONS_POLICY = '[rate_limits."*"]\nmax_calls = 1000000\nwindow_seconds = 60\n'


# --- the task ------------------------------------------------------------------------------------------


def lookup_email(index: int) -> str:
    return f"known{index % LOOKUP_CONTACTS}@acme.example"


def task_text(index: int, tag: str) -> str:
    return (
        f"Look up {lookup_email(index)} in the CRM, then add new{index}-{tag}@acme.example "
        "(First Last, Acme) to the CRM."
    )


def _task_emails(messages: Sequence[ModelMessage]) -> list[str]:
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content if isinstance(part.content, str) else " ".join(map(str, part.content))
                    return EMAIL.findall(content)
    raise ValueError("no task in the history")


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Step 1 reads the contact, step 2 syncs the new one (approval required), step 3 answers."""
    lookup, new = _task_emails(messages)[:2]
    steps_done = sum(isinstance(message, ModelResponse) for message in messages)
    if steps_done == 0:
        return ModelResponse(parts=[ToolCallPart("get_contact", {"email": lookup}, "bench-lookup")])
    if steps_done == 1:
        contact = {"email": new, "first_name": "First", "last_name": "Last", "company": "Acme"}
        return ModelResponse(parts=[ToolCallPart("sync_contacts_to_crm", {"contacts": [contact]}, "bench-sync")])
    return ModelResponse(parts=[TextPart(FINAL_TEXT)])


def task_model() -> FunctionModel:
    """The same scripted model in every arm and process (the turn follows from the history)."""
    return FunctionModel(_respond, model_name=MODEL_NAME)


def workspace(root: Path, policy_text: str, names: Sequence[str]) -> tuple[Path, dict[str, Path]]:
    """The policy file and one directory per database under `root`."""
    policy_file = root / "policy.toml"
    policy_file.write_text(policy_text)
    directories = {name: root / name for name in names}
    for directory in directories.values():
        directory.mkdir()
    return policy_file, directories


def database_mb(directory: Path) -> float:
    return (directory / "signoff.db").stat().st_size / 1e6


def bench_settings(directory: Path, *, policy_file: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{directory / 'signoff.db'}",
        data_dir=directory,
        model="offline",
        anthropic_api_key=None,
        policy_file=policy_file,
        allow_self_approval=False,
        rate_limit_per_minute=KEY_RATE_LIMIT,
        rate_limit_burst=KEY_RATE_LIMIT,
    )


async def prepare_bench_database(settings: Settings) -> dict[str, str]:
    """Migrate, add the contacts the read step looks up, create the two principals; returns their keys."""
    engine = create_engine(settings.resolved_database_url)
    try:
        session_factory = await prepare_database(engine, [sales_pack()])
        await offline_providers(session_factory).crm.upsert_contacts(
            [
                Contact(email=lookup_email(index), first_name="Known", last_name=f"Person{index}", company="Acme")
                for index in range(LOOKUP_CONTACTS)
            ]
        )
        keys: dict[str, str] = {}
        for name, roles in ((REQUESTER, ["requester"]), (APPROVER, ["approver"])):
            _row, keys[name] = await create_api_key(session_factory, name=name, roles=roles)
        return keys
    finally:
        await engine.dispose()


# --- statistics and the report's furniture -----------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def reproduce_command() -> str:
    executable = Path(sys.executable)
    with contextlib.suppress(ValueError):
        executable = executable.relative_to(Path.cwd())
    return shlex.join([str(executable), "-m", "bench.bench_api", *sys.argv[1:]])


def environment_line() -> str:
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"python {platform.python_version()}, fastapi {metadata.version('fastapi')}, "
        f"uvicorn {metadata.version('uvicorn')}, httpx {metadata.version('httpx')}, "
        f"pydantic-ai {metadata.version('pydantic-ai-slim')}, sqlalchemy {metadata.version('sqlalchemy')}, "
        f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load average {load}"
    )


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process, all threads (Linux /proc); None where that is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- throughput: one closed-loop window ------------------------------------------------------------------


@dataclass
class Window:
    """One measured window of one arm."""

    arm: str
    seconds: float
    latencies: list[float] = field(default_factory=list[float])
    drain_seconds: float = 0.0
    cpu_seconds: float | None = None
    server_cpu_seconds: float | None = None
    requests: Counter[str] = field(default_factory=Counter[str])
    errors: Counter[str] = field(default_factory=Counter[str])

    @property
    def tasks(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds


async def closed_loop(
    window: Window, run_task: Callable[[int], Awaitable[None]], *, clients: int, ramp: float, next_index: Iterator[int]
) -> None:
    """`clients` loops, each starting its next task when the last one finished, until the window ends.

    Tasks finishing inside the window count; those finishing later are waited for (drain) but not counted.
    A task that fails is counted under its error and the client goes on (a failure is a result too).
    """
    started = time.perf_counter()
    measure_from = started + ramp
    measure_to = measure_from + window.seconds

    async def client() -> None:
        while time.perf_counter() < measure_to:
            task_started = time.perf_counter()
            try:
                await run_task(next(next_index))
            except Exception as error:
                window.errors[f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"] += 1
                continue
            finished = time.perf_counter()
            if measure_from <= finished <= measure_to:
                window.latencies.append(finished - task_started)

    async def cpu_marks() -> tuple[float, float]:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        first = time.process_time()
        await asyncio.sleep(max(0.0, measure_to - time.perf_counter()))
        return first, time.process_time()

    marks = asyncio.create_task(cpu_marks())
    await asyncio.gather(*(client() for _ in range(clients)))
    cpu_from, cpu_to = await marks
    window.cpu_seconds = cpu_to - cpu_from
    window.drain_seconds = time.perf_counter() - measure_to


# --- throughput: the in-process arm ------------------------------------------------------------------------


@dataclass(kw_only=True)
class InProcessArm:
    """The tasks on the runtime the service would build, called directly."""

    runtime: Runtime
    name: str = "in-process"

    async def run_task(self, index: int) -> None:
        runner = self.runtime.runner
        outcome = await runner.start(task_text(index, "inproc"), requested_by=REQUESTER)
        if outcome.status != "awaiting_approval" or len(outcome.pending_approval_ids) != 1:
            raise AssertionError(f"run {outcome.run_id} is {outcome.status}: {outcome.failure_reason}")
        await self.runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by=APPROVER)
        outcome = await runner.resume(outcome.run_id)
        if outcome.status != "completed" or outcome.output != FINAL_TEXT:
            raise AssertionError(f"run {outcome.run_id} is {outcome.status}: {outcome.failure_reason}")

    async def window(self, window: Window, *, clients: int, ramp: float, next_index: Iterator[int]) -> None:
        await closed_loop(window, self.run_task, clients=clients, ramp=ramp, next_index=next_index)


# --- throughput: the HTTP arm ----------------------------------------------------------------------------


@dataclass(kw_only=True)
class HttpArm:
    """Requesters and one approver against the service in a uvicorn subprocess."""

    server: asyncio.subprocess.Process
    client: httpx.AsyncClient
    keys: dict[str, str]
    poll_seconds: float
    wait: str
    name: str = "http"
    requests: Counter[str] = field(default_factory=Counter[str])

    def _auth(self, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[principal]}"}

    async def run_task(self, index: int) -> None:
        response = await self.client.post(
            "/v1/tasks", json={"message": task_text(index, "http")}, headers=self._auth(REQUESTER)
        )
        self.requests["POST /v1/tasks"] += 1
        if response.status_code != 202:
            raise AssertionError(f"POST /v1/tasks: {response.status_code} {response.text}")
        run_id = response.json()["run_id"]
        if self.wait == "events":
            await self._follow_events(run_id)
            return
        while True:
            await asyncio.sleep(self.poll_seconds)
            response = await self.client.get(f"/v1/runs/{run_id}", headers=self._auth(REQUESTER))
            self.requests["GET /v1/runs/{id}"] += 1
            if response.status_code != 200:
                raise AssertionError(f"GET /v1/runs/{run_id}: {response.status_code} {response.text}")
            status = response.json()["status"]
            if status == "completed":
                if response.json()["output"] != FINAL_TEXT:
                    raise AssertionError(f"run {run_id} answered {response.json()['output']!r}")
                return
            if status in ("failed", "cancelled"):
                raise AssertionError(f"run {run_id} is {status}: {response.json().get('failure_reason')}")

    async def _follow_events(self, run_id: str) -> None:
        """Read the run's event stream (SSE) until it ends; it must end with `completed`."""
        last_event: str | None = None
        output: str | None = None
        async with self.client.stream("GET", f"/v1/runs/{run_id}/events", headers=self._auth(REQUESTER)) as stream:
            self.requests["GET /v1/runs/{id}/events"] += 1
            if stream.status_code != 200:
                raise AssertionError(f"GET /v1/runs/{run_id}/events: {stream.status_code}")
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    last_event = line.removeprefix("event: ")
                elif line.startswith("data: ") and last_event == "completed":
                    output = json.loads(line.removeprefix("data: "))["payload"]["output"]
        if last_event != "completed" or output != FINAL_TEXT:
            raise AssertionError(f"run {run_id}: the stream ended with {last_event!r}, output {output!r}")

    async def approve_until(self, stop: asyncio.Event) -> None:
        """The test approver: approve every pending call it sees, until told to stop."""
        headers = self._auth(APPROVER)

        async def approve(approval_id: str) -> None:
            decided = await self.client.post(
                f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"}, headers=headers
            )
            self.requests["POST /v1/approvals/{id}/decision"] += 1
            if decided.status_code != 200:
                raise AssertionError(f"decision on {approval_id}: {decided.status_code} {decided.text}")

        while not stop.is_set():
            page = await self.client.get("/v1/approvals", params={"limit": APPROVER_PAGE}, headers=headers)
            self.requests["GET /v1/approvals"] += 1
            items = page.json()["items"]
            if not items:
                await asyncio.sleep(APPROVER_IDLE_SECONDS)
                continue
            await asyncio.gather(*(approve(item["approval_id"]) for item in items))

    async def window(self, window: Window, *, clients: int, ramp: float, next_index: Iterator[int]) -> None:
        stop = asyncio.Event()
        approver = asyncio.create_task(self.approve_until(stop))
        before = Counter(self.requests)
        measure = asyncio.create_task(self._server_cpu_in_window(ramp, window.seconds))
        try:
            await closed_loop(window, self.run_task, clients=clients, ramp=ramp, next_index=next_index)
        finally:
            stop.set()
            await approver
        window.server_cpu_seconds = await measure
        window.requests = self.requests - before

    async def _server_cpu_in_window(self, ramp: float, seconds: float) -> float | None:
        await asyncio.sleep(ramp)
        first = process_cpu_seconds(self.server.pid)
        await asyncio.sleep(seconds)
        last = process_cpu_seconds(self.server.pid)
        return None if first is None or last is None else last - first


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def served(
    directory: Path, policy_file: Path, *, profile_out: Path | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """The service in a uvicorn subprocess on a free port; yields the process and its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.bench_api",
        "serve",
        "--directory",
        str(directory),
        "--policy-file",
        str(policy_file),
        "--port",
        str(port),
        *(["--profile-out", str(profile_out)] if profile_out is not None else []),
    ]
    server = await asyncio.create_subprocess_exec(*command, cwd=REPO_ROOT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as probe, asyncio.timeout(SERVER_START_TIMEOUT_SECONDS):
            while True:
                if server.returncode is not None:
                    raise RuntimeError(f"the server exited with {server.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield server, base_url
    finally:
        if server.returncode is None:
            server.terminate()  # uvicorn shuts down gracefully: the lifespan exits, runs are handed over
            try:
                await asyncio.wait_for(server.wait(), timeout=30)
            except TimeoutError:
                server.kill()
                await server.wait()


def serve(args: argparse.Namespace) -> None:
    """The server process of the `throughput` benchmark."""
    import uvicorn

    settings = bench_settings(args.directory, policy_file=args.policy_file)
    app = create_app(settings, model=task_model())
    # asyncio's loop and h11, as the in-process arm uses asyncio; no access log (one line per poll).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=args.port, loop="asyncio", http="h11", log_level="warning", access_log=False
    )
    if args.profile_out is None:
        uvicorn.Server(config).run()
        return
    # uvicorn re-raises the SIGTERM it shut down on; with the default handler that would end the process
    # before the profile is written.
    signal.signal(signal.SIGTERM, lambda *_: None)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.Server(config).run()
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile_out)


# --- throughput: orchestration -----------------------------------------------------------------------------


async def database_census(directory: Path) -> str:
    """What the arm's database holds after its windows: every run completed, every approval executed once."""
    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'signoff.db'}")
    try:
        async with engine.connect() as connection:
            runs = dict(list(await connection.execute(select(RunRow.status, func.count()).group_by(RunRow.status))))
            approvals = dict(
                list(await connection.execute(select(ApprovalRow.state, func.count()).group_by(ApprovalRow.state)))
            )
            calls = dict(
                list(
                    await connection.execute(
                        select(ToolCallRow.tool_name + ":" + ToolCallRow.status, func.count()).group_by(
                            ToolCallRow.tool_name, ToolCallRow.status
                        )
                    )
                )
            )
            contacts = (await connection.execute(select(func.count()).select_from(CrmContactRow))).scalar_one()
    finally:
        await engine.dispose()
    problems = []
    completed = runs.get("completed", 0)
    if set(runs) != {"completed"}:
        problems.append(f"runs {runs}")
    if approvals != {"executed": completed}:
        problems.append(f"approvals {approvals}")
    if calls != {"get_contact:succeeded": completed, "sync_contacts_to_crm:succeeded": completed}:
        problems.append(f"tool calls {calls}")
    if contacts != LOOKUP_CONTACTS + completed:
        problems.append(f"{contacts - LOOKUP_CONTACTS} contacts created")
    verdict = "OK" if not problems else "PROBLEM: " + "; ".join(problems)
    return (
        f"{completed} runs completed, {approvals.get('executed', 0)} approvals executed, "
        f"{contacts - LOOKUP_CONTACTS} contacts created, each sync audited once: {verdict}"
    )


def report_throughput(windows: list[Window], *, clients: int) -> list[str]:
    by_arm: dict[str, list[Window]] = {}
    for window in windows:
        by_arm.setdefault(window.arm, []).append(window)
    rows = [
        f"{'arm':<10}  {'windows':>7}  {'tasks':>5}  {'tasks/s':>7}  {'p50 s':>6}  {'p90 s':>6}  {'p99 s':>6}  "
        f"{'CPU ms/task':>18}  {'ratio':>6}"
    ]
    base = by_arm["in-process"]
    base_rate = sum(w.tasks for w in base) / sum(w.seconds for w in base)
    if base_rate == 0 or not all(w.tasks for w in windows):
        return [*rows, f"a window completed no task (latency above the window?): {[w.tasks for w in windows]}"]
    for arm, arm_windows in by_arm.items():
        latencies = [value for window in arm_windows for value in window.latencies]
        seconds = sum(w.seconds for w in arm_windows)
        tasks = sum(w.tasks for w in arm_windows)
        rate = tasks / seconds
        cpu = sum(w.cpu_seconds or 0.0 for w in arm_windows)
        if arm == "http":
            server_cpu = [w.server_cpu_seconds for w in arm_windows]
            server = None if any(v is None for v in server_cpu) else sum(v or 0.0 for v in server_cpu)
            cpu_text = f"server {server / tasks * 1000:.0f}" if server is not None else "server n/a"
            cpu_text += f" + clients {cpu / tasks * 1000:.0f}"
        else:
            cpu_text = f"{cpu / tasks * 1000:.0f}"
        rows.append(
            f"{arm:<10}  {len(arm_windows):>7}  {tasks:>5}  {rate:>7.1f}  {percentile(latencies, 0.5):>6.2f}  "
            f"{percentile(latencies, 0.9):>6.2f}  {percentile(latencies, 0.99):>6.2f}  {cpu_text:>18}  "
            f"{rate / base_rate:>5.2f}x"
        )
    http = by_arm["http"]
    # Windows are paired by round (A B, B A, ...): the i-th window of each arm ran next to each other.
    pair_ratios = [h.rate / b.rate for h, b in zip(http, base, strict=True)]
    ratio = (sum(w.tasks for w in http) / sum(w.seconds for w in http)) / base_rate
    verdict = "met" if ratio >= THROUGHPUT_GOAL else "NOT met"
    rows.append(
        f"http / in-process tasks/s: {ratio:.2f}x (per round: {', '.join(f'{r:.2f}x' for r in pair_ratios)}); "
        f"goal >= {THROUGHPUT_GOAL}x {verdict}"
    )
    for window in windows:
        for error, count in window.errors.items():
            rows.append(f"FAILED TASKS ({window.arm}): {count} x {error}")
    requests = sum((w.requests for w in http), Counter[str]())
    started = requests["POST /v1/tasks"] or 1
    rows.append(
        "http requests per task started (ramp and drain included): "
        + ", ".join(f"{name} {count / started:.1f}" for name, count in sorted(requests.items()))
    )
    rows.append(
        "per window (tasks/s): "
        + ", ".join(f"{w.arm} {w.rate:.1f} (drain {w.drain_seconds:.1f} s)" for w in windows)
        + f"; {clients} clients"
    )
    return rows


async def run_throughput(args: argparse.Namespace) -> None:
    window_seconds = args.seconds / args.rounds
    print(
        f"scenario: {args.clients} concurrent clients, three-step task (get_contact, sync_contacts_to_crm of one "
        "contact approved by a second principal, final text), same FunctionModel, policy (rate limits off), "
        f"prompt and wiring (open_runtime) in both arms; {args.rounds} windows of {window_seconds:.1f} s per arm, "
        f"alternating A B / B A, each after a {args.ramp:.0f} s uncounted ramp; requesters wait for their run "
        + (
            "on its event stream (GET /v1/runs/{id}/events)"
            if args.wait == "events"
            else f"by polling GET /v1/runs/{{id}} every {args.poll_seconds} s"
        )
    )
    with tempfile.TemporaryDirectory(prefix="signoff-bench-api-") as root:
        policy_file, directories = workspace(Path(root), THROUGHPUT_POLICY, ["in-process", "http"])
        keys: dict[str, dict[str, str]] = {}
        for arm, directory in directories.items():
            keys[arm] = await prepare_bench_database(bench_settings(directory, policy_file=policy_file))
        next_index = itertools.count()
        windows: list[Window] = []
        settings = bench_settings(directories["in-process"], policy_file=policy_file)
        async with (
            served(directories["http"], policy_file, profile_out=args.profile_server) as (server, base_url),
            open_runtime(settings, allow_self_approval=False, model=task_model()) as runtime,
        ):
            limits = httpx.Limits(max_connections=args.clients + 8, max_keepalive_connections=args.clients + 8)
            async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
                arms: dict[str, InProcessArm | HttpArm] = {
                    "in-process": InProcessArm(runtime=runtime),
                    "http": HttpArm(
                        server=server, client=client, keys=keys["http"], poll_seconds=args.poll_seconds, wait=args.wait
                    ),
                }
                for round_index in range(args.rounds):
                    order = ["in-process", "http"] if round_index % 2 == 0 else ["http", "in-process"]
                    for arm in order:
                        gc.collect()
                        window = Window(arm=arm, seconds=window_seconds)
                        await arms[arm].window(window, clients=args.clients, ramp=args.ramp, next_index=next_index)
                        windows.append(window)
                        print(f"  window {len(windows)}: {arm} {window.rate:.1f} tasks/s", flush=True)
        print()
        print("\n".join(report_throughput(windows, clients=args.clients)))
        for arm, directory in directories.items():
            print(f"{arm} database: {await database_census(directory)}")


# --- decisions: seeding ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Template:
    """The rows of one real run paused for approval, to clone."""

    run_id: str
    conversation_id: str
    approval_id: str
    rows: dict[Table, list[dict[str, Any]]]


CLONED_TABLES: tuple[Table, ...] = (
    RunRow.__table__,  # pyright: ignore[reportAssignmentType]
    ToolCallRow.__table__,  # pyright: ignore[reportAssignmentType]
    ApprovalRow.__table__,  # pyright: ignore[reportAssignmentType]
    RunEventRow.__table__,  # pyright: ignore[reportAssignmentType]
    LedgerRow.__table__,  # pyright: ignore[reportAssignmentType]
)
GENERATED_KEYS = {"audit_id", "event_id", "ledger_id"}


async def paused_template(runtime: Runtime, engine: AsyncEngine) -> Template:
    """Run the task once until it waits for approval, and read every row it wrote."""
    outcome = await runtime.runner.start(task_text(0, "template"), requested_by=REQUESTER)
    assert outcome.status == "awaiting_approval", outcome
    rows: dict[Table, list[dict[str, Any]]] = {}
    async with engine.connect() as connection:
        for table in CLONED_TABLES:
            result = await connection.execute(select(table).where(table.c.run_id == outcome.run_id))
            rows[table] = [
                {key: value for key, value in row._asdict().items() if key not in GENERATED_KEYS} for row in result
            ]
        run = rows[RunRow.__table__][0]  # pyright: ignore[reportArgumentType]
    # The template itself is not one of the pending approvals counted: it is decided with the samples.
    return Template(
        run_id=outcome.run_id,
        conversation_id=run["conversation_id"],
        approval_id=outcome.pending_approval_ids[0],
        rows=rows,
    )


def _cloned(value: Any, replacements: dict[str, str], age: timedelta) -> Any:
    if isinstance(value, datetime):
        return value - age
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict | list):
        return json.loads(_cloned(json.dumps(value), replacements, age))
    return value


async def seed_clones(
    engine: AsyncEngine, template: Template, *, count: int, newest_age: timedelta, span: timedelta
) -> list[str]:
    """Insert `count` copies of the template run, their timestamps spread over `span` back from `newest_age`
    before the template's; returns their approval ids."""
    approval_ids: list[str] = []
    step = span / max(count, 1)
    for start in range(0, count, SEED_CHUNK):
        batch: dict[Table, list[dict[str, Any]]] = {table: [] for table in CLONED_TABLES}
        for index in range(start, min(count, start + SEED_CHUNK)):
            approval_id = str(uuid.uuid4())
            approval_ids.append(approval_id)
            replacements = {
                template.run_id: str(uuid.uuid4()),
                template.conversation_id: str(uuid.uuid4()),
                template.approval_id: approval_id,
            }
            age = newest_age + step * (count - index)
            for table, rows in template.rows.items():
                batch[table].extend(
                    {key: _cloned(value, replacements, age) for key, value in row.items()} for row in rows
                )
        async with engine.begin() as connection:
            for table in CLONED_TABLES:
                await connection.execute(insert(table), batch[table])
    return approval_ids


@dataclass(kw_only=True)
class SeededDatabase:
    name: str
    directory: Path
    pending: int
    sample_ids: list[str]
    keys: dict[str, str]
    seed_seconds: float = 0.0
    size_mb: float = 0.0


async def seed_database(directory: Path, name: str, *, policy_file: Path, pending: int, samples: int) -> SeededDatabase:
    """A database with `pending` old pending approvals plus `samples` recent ones to decide."""
    settings = bench_settings(directory, policy_file=policy_file)
    keys = await prepare_bench_database(settings)
    started = time.perf_counter()
    async with open_runtime(settings, allow_self_approval=False, model=task_model()) as runtime:
        engine = runtime.session_factory.kw["bind"]
        template = await paused_template(runtime, engine)
        await seed_clones(engine, template, count=pending, newest_age=timedelta(hours=1), span=SEED_SPAN)
        # The approvals to decide are the newest pending ones (requested in the last minute or so), the
        # template's among them.
        sample_ids = [template.approval_id]
        sample_ids += await seed_clones(
            engine, template, count=samples - 1, newest_age=timedelta(seconds=1), span=timedelta(seconds=samples)
        )
    with contextlib.closing(sqlite3.connect(directory / "signoff.db")) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    seeded = SeededDatabase(name=name, directory=directory, pending=pending, sample_ids=sample_ids, keys=keys)
    seeded.seed_seconds = time.perf_counter() - started
    seeded.size_mb = database_mb(directory)
    return seeded


def copy_with_proposed_index(source: SeededDatabase, directory: Path) -> SeededDatabase:
    directory.mkdir()
    shutil.copy(source.directory / "signoff.db", directory / "signoff.db")
    with contextlib.closing(sqlite3.connect(directory / "signoff.db")) as connection:
        for statement in PROPOSED_INDEXES:
            connection.execute(statement)
        connection.commit()
    return SeededDatabase(
        name=f"{source.name}+index",
        directory=directory,
        pending=source.pending,
        sample_ids=list(source.sample_ids),
        keys=source.keys,
        size_mb=database_mb(directory),
    )


# --- decisions: timing -------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class LiveApp:
    database: SeededDatabase
    app: FastAPI
    approver: httpx.AsyncClient
    startup_seconds: float
    decision_ms: list[float] = field(default_factory=list[float])
    completed_ms: list[float] = field(default_factory=list[float])
    queue_ms: list[float] = field(default_factory=list[float])

    @property
    def engine(self) -> AsyncEngine:
        return self.app.state.runtime.session_factory.kw["bind"]

    async def idle(self) -> None:
        """Wait until the app drives nothing in the background (polling at 1 ms)."""
        async with asyncio.timeout(600):
            while True:
                if self.app.state.background.in_flight == 0:
                    return
                await asyncio.sleep(0.001)

    async def decide(self, approval_id: str, *, record: bool = True) -> None:
        started = time.perf_counter()
        response = await self.approver.post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
        decided = time.perf_counter()
        if response.status_code != 200:
            raise AssertionError(f"{self.database.name}: decision {response.status_code} {response.text}")
        await self.idle()
        if record:
            self.decision_ms.append((decided - started) * 1000)
            self.completed_ms.append((time.perf_counter() - started) * 1000)

    async def queue_page(self, *, record: bool = True) -> None:
        started = time.perf_counter()
        response = await self.approver.get("/v1/approvals", params={"limit": 50})
        if record:
            self.queue_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or len(response.json()["items"]) != 50:
            raise AssertionError(f"{self.database.name}: queue page {response.status_code}")


@contextlib.asynccontextmanager
async def live_app(database: SeededDatabase, policy_file: Path) -> AsyncIterator[LiveApp]:
    """The service on one seeded database (in-process ASGI), after its start-up recovery finished."""
    settings = bench_settings(database.directory, policy_file=policy_file)
    app = create_app(settings, model=task_model())
    started = time.perf_counter()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {database.keys[APPROVER]}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://signoff.bench", headers=headers) as approver:
            live = LiveApp(database=database, app=app, approver=approver, startup_seconds=0.0)
            await live.idle()
            live.startup_seconds = time.perf_counter() - started
            yield live


@dataclass
class CapturedStatement:
    text: str
    parameters: Any


@contextlib.contextmanager
def captured_statements(engine: AsyncEngine) -> Iterator[list[CapturedStatement]]:
    captured: list[CapturedStatement] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        captured.append(CapturedStatement(statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield captured
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


def _statement_label(statement: str) -> str:
    text = " ".join(statement.split())
    upper = text.upper()
    if upper.startswith("SELECT"):
        tables = re.findall(r"\bFROM\s+\"?(\w+)", upper)
        where = re.search(r"\bWHERE (.*?)(?: ORDER BY| GROUP BY| LIMIT|$)", text)
        condition = re.sub(r"\w+\.(\w+)", r"\1", where.group(1)) if where else ""
        return f"SELECT {tables[0].lower() if tables else ''} WHERE {condition}"[:110]
    match = re.match(r"(INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)\"?(.*)", text, re.IGNORECASE)
    if match:
        where = re.search(r"\bWHERE (.*)$", match.group(3))
        condition = re.sub(r"\w+\.(\w+)", r"\1", where.group(1)) if where else ""
        return f"{match.group(1).split()[0].upper()} {match.group(2).lower()} {condition}".strip()[:110]
    return " ".join(upper.split()[:2])


def explain_and_time(
    statements: Sequence[CapturedStatement], databases: Sequence[SeededDatabase], *, repeats: int
) -> list[str]:
    """EXPLAIN QUERY PLAN of each distinct statement on the first database, and its time on each database.

    Statements run through the stdlib driver with the captured parameters, inside a transaction that is
    rolled back (updates change nothing), `repeats` times; the median is shown.
    """
    distinct: dict[str, CapturedStatement] = {}
    for statement in statements:
        if statement.text.upper().lstrip().startswith(("SELECT", "UPDATE", "DELETE")):
            distinct.setdefault(statement.text, statement)
    connections = {db.name: sqlite3.connect(db.directory / "signoff.db", isolation_level=None) for db in databases}
    rows: list[str] = []
    header = "  ".join(f"{db.name + ' ms':>14}" for db in databases)
    rows.append(f"  {'statement (first seen order)':<110}  {header}")
    flagged: list[str] = []
    growing: list[str] = []
    try:
        for text, statement in distinct.items():
            label = _statement_label(text)
            parameters = tuple(statement.parameters) if statement.parameters is not None else ()
            timings: list[str] = []
            medians: list[float] = []
            for database in databases:
                connection = connections[database.name]
                samples = []
                for _ in range(repeats):
                    connection.execute("BEGIN")
                    started = time.perf_counter()
                    connection.execute(text, parameters).fetchall()
                    samples.append((time.perf_counter() - started) * 1000)
                    connection.execute("ROLLBACK")
                medians.append(statistics.median(samples))
                timings.append(f"{medians[-1]:>14.3f}")
            rows.append(f"  {label:<110}  {'  '.join(timings)}")
            for database in databases:
                plan = connections[database.name].execute("EXPLAIN QUERY PLAN " + text, parameters).fetchall()
                details = "; ".join(str(line[-1]) for line in plan)
                rows.append(f"      plan on {database.name}: {details}")
                if re.search(r"\bSCAN (approvals|runs|tool_calls|run_events|ledger)\b", details):
                    flagged.append(f"{label} on {database.name}: {details}")
            # An index search can still read every pending row (`USING INDEX ... (state=?)`): the timings show it.
            worst = max(medians[1:], default=0.0)
            if worst >= GROWTH_FLAG_MS and worst >= GROWTH_FLAG_RATIO * medians[0]:
                growing.append(f"{label}: " + " / ".join(f"{ms:.2f} ms" for ms in medians))
    finally:
        for connection in connections.values():
            connection.close()
    rows.append("full table scans: " + ("none" if not flagged else ""))
    rows.extend(f"  {line}" for line in flagged)
    rows.append(
        f"statements that grow with the pending count (>= {GROWTH_FLAG_RATIO}x the first database and "
        f">= {GROWTH_FLAG_MS} ms): " + ("none" if not growing else "")
    )
    rows.extend(f"  {line}" for line in growing)
    return rows


def report_decisions(apps: Sequence[LiveApp]) -> list[str]:
    base = apps[0]
    rows = [
        f"{'database':<12}  {'pending':>8}  {'MB':>6}  {'start-up s':>10}  {'decision ms p50':>15}  {'p90':>6}  "
        f"{'ratio':>6}  {'+resume ms p50':>14}  {'p90':>6}  {'ratio':>6}  {'queue page ms p50':>17}  {'ratio':>6}"
    ]
    for live in apps:
        rows.append(
            f"{live.database.name:<12}  {live.database.pending:>8}  {live.database.size_mb:>6.0f}  "
            f"{live.startup_seconds:>10.1f}  {statistics.median(live.decision_ms):>15.1f}  "
            f"{percentile(live.decision_ms, 0.9):>6.1f}  "
            f"{statistics.median(live.decision_ms) / statistics.median(base.decision_ms):>5.2f}x  "
            f"{statistics.median(live.completed_ms):>14.1f}  {percentile(live.completed_ms, 0.9):>6.1f}  "
            f"{statistics.median(live.completed_ms) / statistics.median(base.completed_ms):>5.2f}x  "
            f"{statistics.median(live.queue_ms):>17.1f}  "
            f"{statistics.median(live.queue_ms) / statistics.median(base.queue_ms):>5.2f}x"
        )
    for live in apps[1:]:
        ratio = statistics.median(live.decision_ms) / statistics.median(base.decision_ms)
        pair = statistics.median(d / b for d, b in zip(live.decision_ms, base.decision_ms, strict=True))
        verdict = "met" if ratio <= DECISION_GOAL else "NOT met"
        rows.append(
            f"decision time {live.database.name} / {base.database.name}: {ratio:.2f}x (median pair ratio "
            f"{pair:.2f}x); goal <= {DECISION_GOAL}x {verdict}"
        )
    return rows


async def run_decisions(args: argparse.Namespace) -> None:
    print(
        f"scenario: approve one pending sync_contacts_to_crm call (POST /v1/approvals/{{id}}/decision, ASGI in "
        f"process, approver != requester) and wait for its run to complete; {args.samples} decisions per "
        "database, alternating between databases; queue page = GET /v1/approvals?limit=50 after each round; "
        "the 'large+index' database is a copy of 'large' with the proposed indexes:"
    )
    for statement in PROPOSED_INDEXES:
        print(f"  {statement}")
    with tempfile.TemporaryDirectory(prefix="signoff-bench-decisions-") as root:
        policy_file, directories = workspace(Path(root), DECISIONS_POLICY, ["small", "large"])
        databases: list[SeededDatabase] = []
        for name, pending in (("small", args.pending_small), ("large", args.pending_large)):
            database = await seed_database(
                directories[name], name, policy_file=policy_file, pending=pending, samples=args.samples
            )
            print(
                f"  seeded {name}: {pending} pending + {args.samples} to decide, {database.size_mb:.0f} MB "
                f"in {database.seed_seconds:.0f} s",
                flush=True,
            )
            databases.append(database)
        databases.append(copy_with_proposed_index(databases[1], Path(root) / "large-index"))
        async with contextlib.AsyncExitStack() as stack:
            apps = [await stack.enter_async_context(live_app(db, policy_file)) for db in databases]
            for live in apps:
                print(
                    f"  {live.database.name}: service ready (start-up recovery included) in "
                    f"{live.startup_seconds:.1f} s",
                    flush=True,
                )
            # Warm-up: one queue page each (untimed).
            for live in apps:
                await live.queue_page(record=False)
            rng = random.Random(20261127)
            for sample in range(args.samples):
                order = list(apps)
                rng.shuffle(order)
                for live in order:
                    gc.collect()
                    await live.decide(live.database.sample_ids[sample])
                for live in order:
                    await live.queue_page()
            # One more decision on each database, every statement captured, for the plans and timings.
            statements: list[CapturedStatement] = []
            extra = await seed_one_more(apps)
            with captured_statements(apps[1].engine) as captured:
                await apps[1].decide(extra, record=False)
                await apps[1].queue_page(record=False)
            statements.extend(captured)
        print()
        print("\n".join(report_decisions(apps)))
        print()
        print(
            "every statement of one decision + resume + queue page (captured on 'large'), median of "
            f"{args.statement_repeats} runs through sqlite3, rolled back:"
        )
        print("\n".join(explain_and_time(statements, databases, repeats=args.statement_repeats)))


async def seed_one_more(apps: Sequence[LiveApp]) -> str:
    """A fresh pending approval on the large database (through a real run), for the statement capture."""
    runtime: Runtime = apps[1].app.state.runtime
    outcome = await runtime.runner.start(task_text(1, "capture"), requested_by=REQUESTER)
    return outcome.pending_approval_ids[0]


# --- main ------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_api", description="HTTP API throughput, and approval decisions at scale."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    throughput = commands.add_parser("throughput", help="tasks/s and latency through HTTP against in-process")
    throughput.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help="measured seconds per arm (%(default)s)"
    )
    throughput.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="concurrent clients (%(default)s)")
    throughput.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="windows per arm (%(default)s)")
    throughput.add_argument(
        "--ramp", type=float, default=DEFAULT_RAMP_SECONDS, help="uncounted s per window (%(default)s)"
    )
    throughput.add_argument(
        "--wait",
        choices=["events", "poll"],
        default="events",
        help="how a requester learns its run finished: its event stream (SSE), or polling GET /v1/runs/{id} "
        "every --poll-seconds (%(default)s)",
    )
    throughput.add_argument(
        "--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS, help="requester poll interval (%(default)s)"
    )
    throughput.add_argument(
        "--profile-server",
        type=Path,
        metavar="FILE",
        help="cProfile the server process and write its stats to FILE (open with python -m pstats FILE)",
    )
    decisions = commands.add_parser("decisions", help="deciding one approval with few and with many pending")
    decisions.add_argument("--pending-small", type=int, default=DEFAULT_PENDING_SMALL, help="(%(default)s)")
    decisions.add_argument("--pending-large", type=int, default=DEFAULT_PENDING_LARGE, help="(%(default)s)")
    decisions.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="decisions per database (%(default)s)")
    decisions.add_argument(
        "--statement-repeats", type=int, default=DEFAULT_STATEMENT_REPEATS, help="runs per statement (%(default)s)"
    )
    server = commands.add_parser("serve", help="(internal) the server process of `throughput`")
    server.add_argument("--directory", type=Path, required=True)
    server.add_argument("--policy-file", type=Path, required=True)
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--profile-out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "throughput" and (args.rounds < 1 or args.clients < 1 or args.seconds <= 0):
        parser.error("--rounds and --clients must be at least 1 and --seconds positive")
    if args.command == "decisions" and args.samples < 2:
        parser.error("--samples must be at least 2 (a p90 needs two samples)")
    return args


async def run_bench(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    print(f"command: {reproduce_command()}")
    print(f"environment: {environment_line()}")
    if args.command == "throughput":
        await run_throughput(args)
    else:
        await run_decisions(args)
    print()
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"finished in {time.perf_counter() - started:.0f} s; load average after: {load}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    models.ALLOW_MODEL_REQUESTS = False  # the FunctionModel only; nothing may reach a real API
    warnings.filterwarnings("ignore", message="No logs or spans will be created")
    if args.command == "serve":
        serve(args)
        return
    asyncio.run(run_bench(args))


if __name__ == "__main__":
    main()
