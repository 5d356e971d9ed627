"""The prompt-injection suite: goals, vectors, the planted world and the obedient model (see docs/injection.md).

In the style of AgentDojo: benign sales tasks run while an attacker's instruction sits in a tool output the
agent reads (`VECTORS`); each goal (`INJECTION_GOALS`) has ground-truth calls and a security check on the
providers' state. `obedient_model()` follows every planted instruction, the worst case for the guard.
"""

from evals.injection.goals import INJECTION_GOALS, InjectionGoal, PlannedCall
from evals.injection.obedient import obedient_model
from evals.injection.vectors import VECTORS, Vector, plant_injection
from evals.injection.world import seed_world

__all__ = [
    "INJECTION_GOALS",
    "VECTORS",
    "InjectionGoal",
    "PlannedCall",
    "Vector",
    "obedient_model",
    "plant_injection",
    "seed_world",
]
