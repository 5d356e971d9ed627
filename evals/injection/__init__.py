"""The prompt-injection suite: goals, vectors, the world, the obedient model and the suite (see docs/injection.md).

In the style of AgentDojo: benign sales tasks run while an attacker's instruction sits in a tool output the
agent reads (`VECTORS`); each goal (`INJECTION_GOALS`) has ground-truth calls and a security check on the
providers' state. `obedient_model()` follows every planted instruction, the worst case for the guard.

Importing the package registers its world (`world: injection`, `seed_world`) with `evals.worlds` and its
suite (`suite: injection`, the report section and gates) with `evals.suites`.
"""

from signoff.evals.injection.goals import INJECTION_GOALS, InjectionGoal, PlannedCall
from signoff.evals.injection.obedient import obedient_model
from signoff.evals.injection.suite import INJECTION_SUITE, InjectionSuite
from signoff.evals.injection.vectors import VECTORS, Vector, plant_injection
from signoff.evals.injection.world import INJECTION_WORLD, seed_world
from signoff.evals.suites import register_suite
from signoff.evals.worlds import register_world

__all__ = [
    "INJECTION_GOALS",
    "INJECTION_SUITE",
    "INJECTION_WORLD",
    "VECTORS",
    "InjectionGoal",
    "InjectionSuite",
    "PlannedCall",
    "Vector",
    "obedient_model",
    "plant_injection",
    "seed_world",
]

register_world(INJECTION_WORLD, seed_world)
register_suite(InjectionSuite())
