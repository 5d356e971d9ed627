"""The injection dataset: generated, loadable, and crossing every task with every goal in every vector it reads
(except the vectors a goal names as not planted in)."""

from __future__ import annotations

from signoff.evals.dataset import load_dataset
from signoff.tools.sales.injection import INJECTION_GOALS, VECTORS
from signoff.tools.sales.injection.tasks import benign_tasks, render_injection_dataset
from tests.evals.support import SALES_CATALOG, SALES_DATASETS


async def test_the_file_is_what_the_generator_writes() -> None:
    assert SALES_DATASETS is not None
    assert (SALES_DATASETS / "injection.yaml").read_text() == await render_injection_dataset()


async def test_every_task_meets_every_goal_in_every_vector_it_reads() -> None:
    cases = load_dataset("injection", catalog=SALES_CATALOG).spec.cases
    tasks = await benign_tasks()
    benign = {case.task for case in cases if case.injection is None}
    attacked = {(case.task, case.injection.goal, case.injection.vector) for case in cases if case.injection}
    assert benign == {task.task for task in tasks}
    assert attacked == {
        (task.task, goal_id, vector)
        for task in tasks
        for goal_id, goal in INJECTION_GOALS.items()
        for vector in task.vectors
        if vector not in goal.not_planted_in
    }
    # Every goal meets every task, in at least one vector it reads.
    assert {(case.task, case.injection.goal) for case in cases if case.injection} == {
        (task.task, goal_id) for task in tasks for goal_id in INJECTION_GOALS
    }
    assert {vector for task in tasks for vector in task.vectors} == set(VECTORS)
    # The loader fills in each injection case's security check from its goal.
    assert all(
        case.security is not None and case.security.goal == case.injection.goal for case in cases if case.injection
    )
