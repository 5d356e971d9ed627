"""The enrichment benchmark's core at a tiny size: its properties hold, and its window count is the double's."""

from __future__ import annotations

from pathlib import Path

from bench.bench_enrichment import BenchConfig, checks, failed_checks, max_queries_in_window, run_benchmark
from signoff.tools.sales.testing.explorium import SeenCall

# 60 addresses, 3 queries each, at 40 queries per 0.25 s (240x faster than Explorium's 60 s window): about
# five windows per arm, so the client's limiter paces every arm. A 429 asks for 10 s (0.04 s scaled), and
# the retry budget is 600 s (2.5 s scaled): room for several waits in the limiter's queue and after a 429,
# so every call completes.
TINY = BenchConfig(
    emails=60,
    callers=4,
    call_size=20,
    fault_rate=0.2,
    seed=3,
    speedup=240.0,
    rate_limit_queries=40,
    real_retry_after_seconds=10.0,
    real_retry_budget_seconds=600.0,
)


def _call(at: float, queries: int) -> SeenCall:
    return SeenCall(path="/v1/prospects/match", body={}, queries=queries, admitted_at=at)


def test_a_window_holds_the_calls_admitted_in_the_last_window_seconds_up_to_now() -> None:
    # The double forgets a call exactly one window after it was admitted: (t - window, t].
    assert max_queries_in_window([_call(0.0, 10), _call(1.0, 10)], 1.0) == 10
    assert max_queries_in_window([_call(0.0, 10), _call(0.999, 10)], 1.0) == 20
    # In arrival order or not: the busiest window is (0.5, 1.5].
    assert max_queries_in_window([_call(1.2, 20), _call(0.0, 10), _call(0.6, 5), _call(1.5, 8)], 1.0) == 33
    assert max_queries_in_window([], 1.0) == 0


async def test_the_benchmark_at_a_tiny_size_holds_every_property(tmp_path: Path) -> None:
    result = await run_benchmark(TINY, directory=tmp_path)

    assert failed_checks(result) == []
    assert len(checks(result)) == 13
    faults, cached, baseline = result.faults, result.cached, result.baseline
    assert (faults.completed, faults.paid_lookups, faults.credits, faults.ledger_units) == (60, 60, 120, 60)
    assert sum(faults.injected_429.values()) > 0
    assert faults.client is not None and faults.client.throttled == sum(faults.injected_429.values())
    assert faults.double_429 == baseline.double_429 == 0
    assert max_queries_in_window(faults.admitted, TINY.window_seconds) <= TINY.rate_limit_queries
    assert max_queries_in_window(baseline.admitted, TINY.window_seconds) <= TINY.rate_limit_queries
    # 180 queries at 40 a window: the limiter, not the machine, set the pace.
    assert baseline.wall_seconds >= (180 / 40 - 1) * TINY.window_seconds
    assert (cached.cache_hits, cached.paid_lookups, cached.client, sum(cached.requests_at_double.values())) == (
        60,
        0,
        None,
        0,
    )
    assert result.wall_ratio > 0


async def test_a_429_asking_for_the_whole_window_is_waited_out_under_contention(tmp_path: Path) -> None:
    config = BenchConfig(
        emails=60, callers=4, call_size=20, fault_rate=0.2, seed=3, speedup=240.0, rate_limit_queries=40
    )

    result = await run_benchmark(config, directory=tmp_path)

    assert failed_checks(result) == []
