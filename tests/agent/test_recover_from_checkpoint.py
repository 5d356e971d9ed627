"""A run taken over from its checkpoint continues correctly: an empty checkpoint (the worker died during
the first model request) starts the task over, and one ending in the final answer is recorded as completed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse

from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import SessionFactory
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.scripted import ScriptedModel, text


class WorkerDied(BaseException):
    """Stands in for the process being killed (not an Exception, so nothing in the runner catches it)."""


async def test_run_orphaned_during_its_first_model_request_is_continued(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    def die(messages: list[ModelMessage]) -> ModelResponse:
        raise WorkerDied

    dying = make_runtime(ScriptedModel([die]).model)
    with pytest.raises(WorkerDied):
        await dying.runner.start("look up person0@acme.example")
    async with session_factory() as session:
        (run,) = await run_store.list_runs(session)
    assert run.status == "running"

    clock.advance(timedelta(hours=1))
    healthy = make_runtime(ScriptedModel([[text("Looked it up.")]]).model)
    outcomes = await healthy.runner.recover()
    assert [(o.status, o.output, o.failure_reason) for o in outcomes] == [("completed", "Looked it up.", None)]


async def test_run_orphaned_after_its_final_answer_is_not_reported_failed(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_finish = run_store.finish_run

    async def die_before_completing(session, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["status"] == "completed":
            raise WorkerDied
        return await real_finish(session, **kwargs)

    runtime = make_runtime(ScriptedModel([[text("All done.")]]).model)
    monkeypatch.setattr(run_store, "finish_run", die_before_completing)
    with pytest.raises(WorkerDied):
        await runtime.runner.start("say hello")
    monkeypatch.setattr(run_store, "finish_run", real_finish)

    clock.advance(timedelta(hours=1))
    outcomes = await runtime.runner.recover()
    assert [(o.status, o.failure_reason) for o in outcomes] == [("completed", None)]
