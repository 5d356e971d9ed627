"""Enrichment at volume: 1,000 addresses through the cache and the Explorium client against its double,
with 5% of requests answered 429.

The path is the one `enrich_contacts` takes with Explorium configured: `CachingEnricher` (on a migrated
SQLite file) -> `ExploriumEnrichment` -> `VendorHttp` (rolling-window rate limit, breaker, retries) ->
the Explorium double (`tools.sales.testing.explorium`) served by uvicorn on 127.0.0.1. Several callers
(4 by default) run enrichment calls of at most 50 addresses each (the tool's per-call maximum) at once,
so the client's one shared rate window is contended, as when a few runs enrich at the same time.

Time is scaled. Explorium allows 200 queries per key in any 60-second window, each row of a match or
bulk call counting as a query; an enrichment costs three (match, profile, contact information), so
1,000 addresses need about 15 minutes at the real rate. The double and the client both run at the same
scaled rate (`--speedup`, 30 by default: 200 queries per 2 s), and so do the injected `Retry-After`
and the client's bounded retry time. Whether a window ever holds more than the limit does not depend on
the rate (both sides count the same windows, only shorter); what does not scale is the network and
Python's own latency, which is therefore a larger share of each window here than at the real rate.

Three arms, in this order, in one process:

1. `429s 5%`: the 1,000 addresses against a double whose fault plan answers 5% of requests (seeded)
   with a 429 before processing anything, `Retry-After` as the docs' example (60 s, scaled);
2. `cached`: the same 1,000 again, through a fresh client and cache object on the same database and
   double: every address must be a cache hit, with nothing paid and no request sent. It starts one
   window after arm 1 ended: its client's rate window is new, and the double's must be empty too, or
   requests re-sent after failures of arm 1 would meet arm 1's last window (two clients, one key);
3. `no faults`: the same 1,000 against a fresh double without faults, on a fresh database: the
   baseline for the wall time of arm 1.

What is checked (the exit status is 1 when any check fails): every address enriched; each address bought
at most once (the double's per-prospect billing, read back by address); credits = 2 per address; zero
429s from the double's own rate limit (the client stayed within it); the most queries the double admitted
in any sliding window (computed from the arrival time it records for each admitted call) at most the
limit; and arm 2 all hits, nothing paid, nothing sent.

`--retry-after` and `--retry-budget` (real seconds, scaled like the rest) set an injected 429's wait and
the client's total retry time per request, to see which budget lets every call complete.

Run: `.venv/bin/python -m bench.bench_enrichment [--emails N] [--callers N] [--speedup X]` (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import shlex
import sqlite3
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.agent.runtime import prepare_database
from signoff.agent.store.engine import create_engine
from signoff.tools.charges import ProviderCharge, charge_tab
from signoff.tools.sales import sales_pack
from signoff.tools.sales.enrichment_cache import CachingEnricher
from signoff.tools.sales.errors import ProviderError
from signoff.tools.sales.models import EnrichmentReport
from signoff.tools.sales.pack import ENRICH_MAX_BATCH
from signoff.tools.sales.testing.explorium import ExploriumState, SeenCall, create_explorium_app
from signoff.tools.sales.testing.faults import Fault, FaultPlan
from signoff.tools.sales.testing.serving import serve_app
from signoff.tools.sales.vendors.explorium import EXPLORIUM_LIMITS, ExploriumEnrichment
from signoff.tools.sales.vendors.http import ServiceStatus, VendorHealth, VendorLimits

__all__ = ["ArmResult", "BenchConfig", "BenchResult", "failed_checks", "main", "max_queries_in_window", "run_benchmark"]

API_KEY = "expl-bench-key-5d1c"
# The docs' example of a 429 (reference/rate-limit) says `Retry-After: 60`: the whole window.
DOCS_RETRY_AFTER_SECONDS = 60.0
# Explorium bills each enrichment row with data: a profile and the contact information per address.
CREDITS_PER_ADDRESS = 2
ENRICHMENT_KINDS = ("profiles", "contacts_information")


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """The scenario's sizes, faults and time scale."""

    emails: int = 1_000
    callers: int = 4
    call_size: int = ENRICH_MAX_BATCH
    """Addresses per `enrich` call (the tool's per-call maximum)."""
    fault_rate: float = 0.05
    seed: int = 1
    speedup: float = 30.0
    """How much faster than real time the rate window, `Retry-After` and the retry budget run."""
    rate_limit_queries: int = EXPLORIUM_LIMITS.requests
    real_window_seconds: float = EXPLORIUM_LIMITS.per_seconds
    real_retry_after_seconds: float = DOCS_RETRY_AFTER_SECONDS
    real_retry_budget_seconds: float = EXPLORIUM_LIMITS.max_retry_seconds

    @property
    def window_seconds(self) -> float:
        """The scaled rate window, for the double and the client alike."""
        return self.real_window_seconds / self.speedup

    @property
    def retry_after_seconds(self) -> float:
        """The scaled `Retry-After` of an injected 429."""
        return self.real_retry_after_seconds / self.speedup

    def client_limits(self) -> VendorLimits:
        """Explorium's limits with the window and the retry budget scaled; timeouts stay real (the network is)."""
        return replace(
            EXPLORIUM_LIMITS,
            requests=self.rate_limit_queries,
            per_seconds=self.window_seconds,
            max_retry_seconds=self.real_retry_budget_seconds / self.speedup,
        )


@dataclass(frozen=True, kw_only=True)
class ArmResult:
    """What one arm did, seen from the caller, the client and the double."""

    name: str
    wall_seconds: float
    calls: int
    failures: tuple[str, ...]
    """The message of each `enrich` call that raised."""
    enriched: frozenset[str]
    """Distinct addresses returned with the vendor's facts (a title: every address here is known to it)."""
    paid_lookups: int
    cache_hits: int
    ledger: tuple[ProviderCharge, ...]
    """What the calls put on the ledger's tab (provider spend)."""
    client: ServiceStatus | None
    """The client's counters (requests sent, 429s received, retries); None when no request was made."""
    admitted: tuple[SeenCall, ...]
    """Calls the double admitted during the arm, with their arrival times."""
    requests_at_double: Counter[str]
    """Requests that reached the double's app (past the fault plan), by path."""
    injected_429: Counter[str]
    """429s the fault plan answered, by path."""
    double_429: int
    """429s the double's own rate limit answered."""
    credits: int
    """Rows the double billed during the arm."""
    billed: dict[str, dict[str, int]]
    """Per address, rows the double has billed per enrichment kind by the end of the arm (all arms so far)."""

    @property
    def completed(self) -> int:
        return len(self.enriched)

    @property
    def bought_not_kept(self) -> int:
        """Addresses the vendor billed that no successful call returned: paid for, then the call failed."""
        return len(set(self.billed) - self.enriched)

    @property
    def ledger_units(self) -> int:
        return sum(charge.units for charge in self.ledger)

    @property
    def ledger_usd(self) -> Decimal:
        return sum((charge.cost_usd for charge in self.ledger), start=Decimal(0))

    @property
    def queries(self) -> int:
        return sum(call.queries for call in self.admitted)


@dataclass(frozen=True, kw_only=True)
class BenchResult:
    """The three arms of one run."""

    config: BenchConfig
    emails: tuple[str, ...]
    faults: ArmResult
    cached: ArmResult
    baseline: ArmResult

    @property
    def wall_ratio(self) -> float:
        return self.faults.wall_seconds / self.baseline.wall_seconds


def max_queries_in_window(calls: Sequence[SeenCall], window_seconds: float) -> int:
    """The most queries admitted in any sliding window, counted as the double counts one.

    The double's window at time t holds the calls admitted in (t - window, t]; a window holds the most
    when it ends at an arrival, so each arrival is tried as the end (two pointers over arrival order).
    """
    ordered = sorted(calls, key=lambda call: call.admitted_at)
    most = 0
    inside = 0
    first = 0
    for call in ordered:
        inside += call.queries
        while ordered[first].admitted_at <= call.admitted_at - window_seconds:
            inside -= ordered[first].queries
            first += 1
        most = max(most, inside)
    return most


def known_addresses(state: ExploriumState, count: int) -> list[str]:
    """The first `count` distinct professional addresses of the double's directory."""
    emails = list(dict.fromkeys(p.professional_email for p in state.prospects if p.professional_email))
    if len(emails) < count:
        raise ValueError(f"the double's directory has {len(emails)} distinct addresses, fewer than {count}")
    return emails[:count]


def _double_state(config: BenchConfig) -> ExploriumState:
    return ExploriumState(rate_limit_queries=config.rate_limit_queries, rate_window_seconds=config.window_seconds)


def _fault_plan(config: BenchConfig) -> FaultPlan:
    retry_after = config.retry_after_seconds
    plan = FaultPlan()
    plan.at_rate(
        config.fault_rate,
        # Explorium's 429 body (reference/rate-limit), with the scaled wait.
        Fault.throttled(
            retry_after=retry_after,
            body={
                "error": "rate_limit_exceeded",
                "message": f"API rate limit exceeded. Please retry after {retry_after:g} seconds.",
                "retry_after": retry_after,
            },
        ),
        seed=config.seed,
    )
    return plan


@contextlib.asynccontextmanager
async def _served(state: ExploriumState, plan: FaultPlan | None) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(create_explorium_app(state, api_key=API_KEY, plan=plan)) as served,
        # Enough connections for every caller's request at once: a pool wait would hide in the timings.
        httpx.AsyncClient(base_url=served.base_url, limits=httpx.Limits(max_connections=32)) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def _database(path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A SQLite file migrated to the core's and the sales pack's schema, as a deployment has it."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield await prepare_database(engine, [sales_pack()])
    finally:
        await engine.dispose()


async def _run_arm(
    name: str,
    *,
    config: BenchConfig,
    emails: Sequence[str],
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    state: ExploriumState,
    plan: FaultPlan | None,
) -> ArmResult:
    # A fresh client, cache object and counters per arm: what carries over between arms is the database
    # and the double, nothing in this process.
    health = VendorHealth()
    source = ExploriumEnrichment(client, api_key=API_KEY, health=health, limits=config.client_limits())
    enricher = CachingEnricher(source=source, sessionmaker=sessionmaker)
    pending = deque(emails[start : start + config.call_size] for start in range(0, len(emails), config.call_size))
    calls = len(pending)
    reports: list[EnrichmentReport] = []
    failures: list[str] = []
    ledger: list[ProviderCharge] = []

    async def caller() -> None:
        while pending:
            batch = pending.popleft()
            # The guard opens a tab around each tool call; the cache charges each paid lookup to it.
            with charge_tab() as tab:
                try:
                    report = await enricher.enrich(batch)
                except ProviderError as error:
                    failures.append(str(error))
                    continue
            reports.append(report)
            ledger.extend(tab)

    requests_before = len(state.requests)
    calls_before = len(state.calls)
    injected_before = len(plan.injected) if plan is not None else 0
    throttled_before = state.throttled
    credits_before = state.credits_used
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(config.callers):
            group.create_task(caller())
    wall = time.perf_counter() - started

    statuses = await health.statuses()
    injected = plan.injected[injected_before:] if plan is not None else []
    return ArmResult(
        name=name,
        wall_seconds=wall,
        calls=calls,
        failures=tuple(failures),
        enriched=frozenset(c.email for report in reports for c in report.contacts if c.title is not None),
        paid_lookups=sum(report.paid_lookups for report in reports),
        cache_hits=sum(report.cache_hits for report in reports),
        ledger=tuple(ledger),
        client=statuses[0] if statuses and statuses[0].requests else None,
        admitted=tuple(state.calls[calls_before:]),
        requests_at_double=Counter(request.path for request in state.requests[requests_before:]),
        injected_429=Counter(fault.path for fault in injected if fault.fault.status == 429),
        double_429=state.throttled - throttled_before,
        credits=state.credits_used - credits_before,
        billed={
            email: {str(kind): count for kind, count in kinds.items()}
            for email, kinds in state.charges_by_email().items()
        },
    )


async def run_benchmark(config: BenchConfig, *, directory: Path) -> BenchResult:
    """The three arms (see the module docstring), with databases under `directory`."""
    with_faults = _double_state(config)
    emails = known_addresses(with_faults, config.emails)
    plan = _fault_plan(config)
    async with _database(directory / "faults.db") as sessionmaker, _served(with_faults, plan) as client:
        faults = await _run_arm(
            f"429s {config.fault_rate:.0%}",
            config=config,
            emails=emails,
            client=client,
            sessionmaker=sessionmaker,
            state=with_faults,
            plan=plan,
        )
        # The double's window for the key empties first: the next arm's client starts a window of its own.
        await asyncio.sleep(config.window_seconds)
        cached = await _run_arm(
            "cached",
            config=config,
            emails=emails,
            client=client,
            sessionmaker=sessionmaker,
            state=with_faults,
            plan=plan,
        )
    baseline_state = _double_state(config)
    async with _database(directory / "baseline.db") as sessionmaker, _served(baseline_state, None) as client:
        baseline = await _run_arm(
            "no faults",
            config=config,
            emails=emails,
            client=client,
            sessionmaker=sessionmaker,
            state=baseline_state,
            plan=None,
        )
    return BenchResult(
        config=config,
        emails=tuple(emails),
        faults=faults,
        cached=cached,
        baseline=baseline,
    )


# --- checks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Check:
    """One property, what was measured, and whether it held."""

    name: str
    measured: str
    ok: bool


def _bought_once(billed: dict[str, dict[str, int]], emails: Sequence[str]) -> tuple[int, int, bool]:
    """(addresses billed, most rows billed for one address and kind, each address bought exactly once)."""
    most = max((count for kinds in billed.values() for count in kinds.values()), default=0)
    exact = set(billed) == set(emails) and all(kinds == dict.fromkeys(ENRICHMENT_KINDS, 1) for kinds in billed.values())
    return len(billed), most, exact


def checks(result: BenchResult) -> list[Check]:
    """Every property the benchmark asserts, measured."""
    config = result.config
    count = len(result.emails)
    limit = config.rate_limit_queries
    found: list[Check] = []
    for arm in (result.faults, result.baseline):
        found.append(
            Check(
                name=f"{arm.name}: every address enriched",
                measured=f"{arm.completed} of {count}, {len(arm.failures)} failed calls",
                ok=arm.completed == count and not arm.failures,
            )
        )
        addresses, most, exact = _bought_once(arm.billed, result.emails)
        found.append(
            Check(
                name=f"{arm.name}: each address bought once",
                measured=(
                    f"{addresses} addresses billed, at most {most} per address and enrichment, "
                    f"{arm.bought_not_kept} billed but lost to a failed call"
                ),
                ok=exact and arm.paid_lookups == count,
            )
        )
        found.append(
            Check(
                name=f"{arm.name}: credits = {CREDITS_PER_ADDRESS} per address",
                measured=f"{arm.credits} credits",
                ok=arm.credits == CREDITS_PER_ADDRESS * count,
            )
        )
        found.append(
            Check(
                name=f"{arm.name}: no 429 from the double's own limit",
                measured=f"{arm.double_429}",
                ok=arm.double_429 == 0,
            )
        )
        peak = max_queries_in_window(arm.admitted, config.window_seconds)
        found.append(
            Check(
                name=f"{arm.name}: queries in any {config.window_seconds:g} s window <= {limit}",
                measured=f"at most {peak}",
                ok=peak <= limit,
            )
        )
    found.append(
        Check(
            name=f"{result.faults.name}: 429s were injected",
            measured=f"{sum(result.faults.injected_429.values())}",
            ok=config.fault_rate == 0 or sum(result.faults.injected_429.values()) > 0,
        )
    )
    cached = result.cached
    sent = cached.client.requests if cached.client is not None else 0
    addresses, most, exact = _bought_once(cached.billed, result.emails)
    found.append(
        Check(
            name="cached: still none bought twice",
            measured=f"{addresses} addresses billed, at most {most} per address and enrichment",
            ok=exact,
        )
    )
    found.append(
        Check(
            name="cached: all hits, nothing paid, nothing sent",
            measured=(
                f"{cached.cache_hits} hits, {cached.paid_lookups} paid, {cached.credits} credits, "
                f"{sent} requests sent, {sum(cached.requests_at_double.values())} at the double"
            ),
            ok=(
                cached.cache_hits == count
                and cached.completed == count
                and cached.paid_lookups == 0
                and cached.credits == 0
                and cached.ledger_units == 0
                and sent == 0
                and not cached.requests_at_double
                and not cached.failures
            ),
        )
    )
    return found


def failed_checks(result: BenchResult) -> list[Check]:
    """The checks that did not hold (empty when the benchmark passes)."""
    return [check for check in checks(result) if not check.ok]


# --- report ---------------------------------------------------------------------------------------------


def _arm_rows(result: BenchResult) -> list[str]:
    config = result.config
    header = (
        f"{'arm':<10} {'calls':>5} {'completed':>9} {'paid':>5} {'hits':>5} {'sent':>5} {'429 inj':>7} "
        f"{'429 dbl':>7} {'retries':>7} {'credits':>7} {'ledger $':>9} {'max q/win':>9} "
        f"{'wall s':>7} {'real min':>8} {'ratio':>6}"
    )
    rows = [header]
    for arm in (result.faults, result.cached, result.baseline):
        client = arm.client
        peak = max_queries_in_window(arm.admitted, config.window_seconds)
        rows.append(
            f"{arm.name:<10} {arm.calls:>5} {arm.completed:>9} {arm.paid_lookups:>5} {arm.cache_hits:>5} "
            f"{client.requests if client else 0:>5} {sum(arm.injected_429.values()):>7} {arm.double_429:>7} "
            f"{client.retries if client else 0:>7} {arm.credits:>7} {arm.ledger_usd:>9.2f} "
            f"{f'{peak}/{config.rate_limit_queries}':>9} {arm.wall_seconds:>7.2f} "
            f"{arm.wall_seconds * config.speedup / 60:>8.1f} {arm.wall_seconds / result.baseline.wall_seconds:>5.2f}x"
        )
    return rows


def _census(arm: ArmResult) -> list[str]:
    if arm.client is None:
        return [f"{arm.name}: no request sent; the double saw {sum(arm.requests_at_double.values())}"]
    queries = Counter[str]()
    for call in arm.admitted:
        queries[call.path] += call.queries
    paths = sorted(set(arm.requests_at_double) | set(arm.injected_429))
    rows = [
        f"{arm.name}: client sent {arm.client.requests} requests ({arm.client.retries} retries), received "
        f"{arm.client.throttled} 429s; the double saw {sum(arm.requests_at_double.values())} and admitted "
        f"{arm.queries} queries; ledger {arm.ledger_units} enrichments, ${arm.ledger_usd:.2f}"
    ]
    rows.extend(
        f"  {path:<48} at double {arm.requests_at_double[path]:>4}  queries {queries[path]:>5}  "
        f"429 injected {arm.injected_429[path]:>3}"
        for path in paths
    )
    return rows


def report(result: BenchResult) -> list[str]:
    """The result table, the census and the checks, as printed."""
    config = result.config
    queries = result.baseline.queries
    # With a sliding window, the limit's worth goes through at once and each further window lets in as much.
    floor = max(0.0, queries / config.rate_limit_queries - 1) * config.window_seconds
    rows = [
        *_arm_rows(result),
        "",
        f"wall time with {config.fault_rate:.0%} 429s / without: {result.wall_ratio:.2f}x "
        f"({result.faults.wall_seconds:.2f} s / {result.baseline.wall_seconds:.2f} s); the limit's floor for "
        f"{queries} queries is {floor:.1f} s ({floor * config.speedup / 60:.1f} min at the real rate)",
        "",
        "census:",
        *(line for arm in (result.faults, result.cached, result.baseline) for line in _census(arm)),
        "",
        "checks:",
        *(f"  {'OK  ' if check.ok else 'FAIL'} {check.name}: {check.measured}" for check in checks(result)),
    ]
    arms = (result.faults, result.cached, result.baseline)
    if any(arm.failures for arm in arms):
        rows.append("failed calls:")
        for arm in arms:
            rows.extend(f"  {arm.name}: {message}" for message, _ in Counter(arm.failures).most_common())
    return rows


def reproduce_command() -> str:
    executable = Path(sys.executable)
    with contextlib.suppress(ValueError):
        executable = executable.relative_to(Path.cwd())
    return shlex.join([str(executable), "-m", "bench.bench_enrichment", *sys.argv[1:]])


def environment_line() -> str:
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"python {platform.python_version()}, httpx {metadata.version('httpx')}, "
        f"uvicorn {metadata.version('uvicorn')}, fastapi {metadata.version('fastapi')}, "
        f"stamina {metadata.version('stamina')}, "
        f"sqlalchemy {metadata.version('sqlalchemy')}, sqlite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, load average {load}"
    )


def scenario_lines(config: BenchConfig) -> list[str]:
    limits = config.client_limits()
    return [
        f"scenario: {config.emails} distinct addresses known to the double; {config.callers} concurrent callers, "
        f"enrich calls of {config.call_size} (CachingEnricher -> ExploriumEnrichment -> Explorium double on "
        "127.0.0.1), migrated SQLite file per database",
        f"rate: Explorium's {config.rate_limit_queries} queries / {config.real_window_seconds:g} s per key (a row of a "
        f"match or bulk call is a query), scaled {config.speedup:g}x: {config.rate_limit_queries} queries / "
        f"{config.window_seconds:g} s in the client and the double alike; client retry budget "
        f"{config.real_retry_budget_seconds:g} s -> {limits.max_retry_seconds:g} s",
        "  whether any window holds more than the limit does not depend on the rate: both sides count the same "
        "windows, only shorter",
        f"faults: {config.fault_rate:.0%} of requests answered 429 before processing (seed {config.seed}), "
        f"Retry-After {config.real_retry_after_seconds:g} s -> {config.retry_after_seconds:g} s",
        "arms: '429s 5%' (cold cache), 'cached' (the same addresses again, same database and double), "
        "'no faults' (fresh double and database)",
        "columns: sent = requests the client sent; 429 inj = injected by the fault plan; 429 dbl = answered by the "
        "double's own rate limit; max q/win = most queries the double admitted in any sliding window / limit; "
        "real min = wall time at the real rate",
    ]


def parse_args(argv: Sequence[str] | None) -> BenchConfig:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_enrichment",
        description="Enrich addresses through the cache and the Explorium client against its double, with 429s.",
    )
    parser.add_argument("--emails", type=int, default=defaults.emails, help="distinct addresses (%(default)s)")
    parser.add_argument("--callers", type=int, default=defaults.callers, help="concurrent callers (%(default)s)")
    parser.add_argument(
        "--call-size", type=int, default=defaults.call_size, help="addresses per enrich call (%(default)s)"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=defaults.fault_rate, help="share of requests answered 429 (%(default)s)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the fault plan's seed (%(default)s)")
    parser.add_argument(
        "--speedup", type=float, default=defaults.speedup, help="time runs this much faster (%(default)s)"
    )
    parser.add_argument(
        "--retry-after",
        type=float,
        default=defaults.real_retry_after_seconds,
        help="Retry-After of an injected 429, in real seconds before scaling (%(default)s: the docs' example)",
    )
    parser.add_argument(
        "--retry-budget",
        type=float,
        default=defaults.real_retry_budget_seconds,
        help="the client's total retry time per request, in real seconds before scaling (%(default)s: the client's)",
    )
    args = parser.parse_args(argv)
    if args.emails < 1 or args.callers < 1 or not 1 <= args.call_size <= ENRICH_MAX_BATCH or args.speedup <= 0:
        parser.error(f"--emails and --callers must be positive, --call-size 1..{ENRICH_MAX_BATCH}, --speedup > 0")
    return BenchConfig(
        emails=args.emails,
        callers=args.callers,
        call_size=args.call_size,
        fault_rate=args.fault_rate,
        seed=args.seed,
        speedup=args.speedup,
        real_retry_after_seconds=args.retry_after,
        real_retry_budget_seconds=args.retry_budget,
    )


async def _main(config: BenchConfig) -> int:
    started = time.perf_counter()
    print(f"command: {reproduce_command()}")
    print(f"environment: {environment_line()}")
    print("\n".join(scenario_lines(config)))
    with tempfile.TemporaryDirectory(prefix="signoff-bench-") as directory:
        result = await run_benchmark(config, directory=Path(directory))
    print()
    print("\n".join(report(result)))
    failed = failed_checks(result)
    print()
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    verdict = "all checks hold" if not failed else f"{len(failed)} check(s) FAILED"
    print(f"{verdict}; finished in {time.perf_counter() - started:.0f} s; load average after: {load}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    # stamina logs every scheduled retry to stderr; the census counts them instead.
    logging.getLogger("stamina").setLevel(logging.ERROR)
    sys.exit(asyncio.run(_main(parse_args(argv))))


if __name__ == "__main__":
    main()
