"""The prompt-injection suite: goals, vectors, the world, the obedient model and the suite (see docs/injection.md).

In the style of AgentDojo: benign sales tasks run while an attacker's instruction sits in a tool output the
agent reads (`VECTORS`); each goal (`INJECTION_GOALS`) has ground-truth calls and a security check on the
providers' state. `obedient_model()` follows every planted instruction, the worst case for the guard.

It is the sales pack's evaluation module (`ToolPack.eval_modules`): importing it registers its world
(`world: injection`, `seed_world`) with `evals.worlds`, its suite (`suite: injection`, the report section
and gates) with `evals.suites`, each goal with `evals.attacks` (planting and the security check, over
the sales pack's providers) and the obedient model as `--model obedient` with `evals.models`.
"""

from signoff.evals.attacks import register_attack_goal
from signoff.evals.models import register_eval_model
from signoff.evals.suites import register_suite
from signoff.evals.worlds import register_world
from signoff.tools.sales.injection.attacks import attack_goals
from signoff.tools.sales.injection.goals import INJECTION_GOALS, InjectionGoal, PlannedCall
from signoff.tools.sales.injection.obedient import obedient_model
from signoff.tools.sales.injection.suite import INJECTION_SUITE, InjectionSuite
from signoff.tools.sales.injection.vectors import VECTORS, Vector, plant_injection
from signoff.tools.sales.injection.world import INJECTION_WORLD, seed_world

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
register_eval_model("obedient", obedient_model)
for _goal in attack_goals():
    register_attack_goal(_goal)
