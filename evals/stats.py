"""Intervals for pass rates: Wilson's score interval for one rate, Newcombe's for the difference of two.

Evaluation runs are small (a few cases, a few repeats), where the normal approximation misbehaves at 0%
and 100%. Wilson's interval stays inside [0, 1] and is sensible at the extremes; Newcombe's hybrid score
interval (his method 10, 1998) combines the two Wilson intervals into one for the difference p1 - p2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["INTERVAL_METHOD", "Z_95", "RateDifference", "rate_difference", "wilson_interval"]

# The two-sided 95% quantile of the standard normal distribution.
Z_95 = 1.959963984540054
INTERVAL_METHOD = "95% Newcombe hybrid score interval (from Wilson score intervals of each pass rate)"


def wilson_interval(successes: int, trials: int, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for `successes` out of `trials` (the whole [0, 1] when there are no trials)."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and {trials}, got {successes}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = (z / (1 + z2 / trials)) * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, kw_only=True)
class RateDifference:
    """`candidate - baseline` pass rate with its 95% interval."""

    difference: float
    low: float
    high: float


def rate_difference(
    candidate_passed: int, candidate_runs: int, baseline_passed: int, baseline_runs: int
) -> RateDifference:
    """Newcombe's hybrid score interval for the difference of two independent pass rates."""
    p1 = candidate_passed / candidate_runs if candidate_runs else 0.0
    p2 = baseline_passed / baseline_runs if baseline_runs else 0.0
    l1, u1 = wilson_interval(candidate_passed, candidate_runs)
    l2, u2 = wilson_interval(baseline_passed, baseline_runs)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return RateDifference(difference=difference, low=max(-1.0, low), high=min(1.0, high))
