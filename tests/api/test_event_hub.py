"""The event hub: one poller per process tells only the streams whose run has news to read."""

from __future__ import annotations

import asyncio

from pydantic_ai.models.test import TestModel

from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.events import append_event
from signoff.api.event_hub import RunEventHub


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _record_event(session_factory: SessionFactory, run_id: str, clock) -> None:
    async with session_factory.begin() as session:
        append_event(session, run_id=run_id, kind="model_text", payload={"text": "hi"}, now=clock())


async def _until(condition, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the condition is a plain function, not an event
            await asyncio.sleep(0.01)


async def test_a_stream_reads_when_its_run_has_news_and_not_for_another_run(make_runtime, clock) -> None:
    runtime = make_runtime(TestModel())
    ours, _ = await runtime.runner.create_run("first task")
    theirs, _ = await runtime.runner.create_run("second task")
    hub = RunEventHub(runtime.session_factory, poll_seconds=0.01, fallback_seconds=30, clock=Ticker())
    try:
        async with hub.subscription(ours.run_id) as our_stream, hub.subscription(theirs.run_id) as their_stream:
            assert our_stream.should_read() and their_stream.should_read()  # each reads its backlog first
            assert not our_stream.should_read() and not their_stream.should_read()
            await asyncio.sleep(0.05)  # the hub notes the newest event id

            await _record_event(runtime.session_factory, ours.run_id, clock)
            await _until(our_stream.should_read)
            await asyncio.sleep(0.05)  # more polls: nothing for the other run, nothing new for ours
            assert not their_stream.should_read() and not our_stream.should_read()
    finally:
        await hub.close()


async def test_without_news_a_stream_reads_anyway_after_the_fallback(make_runtime) -> None:
    runtime = make_runtime(TestModel())
    run, _ = await runtime.runner.create_run("a task")
    ticker = Ticker()
    hub = RunEventHub(runtime.session_factory, poll_seconds=0.01, fallback_seconds=2, clock=ticker)
    try:
        async with hub.subscription(run.run_id) as stream:
            assert stream.should_read()
            ticker.now += 1.9
            assert not stream.should_read()
            ticker.now += 0.1
            assert stream.should_read()  # a commit the hub could not see (see the module docstring) is found
    finally:
        await hub.close()


async def test_the_hub_polls_only_while_someone_listens(make_runtime) -> None:
    runtime = make_runtime(TestModel())
    run, _ = await runtime.runner.create_run("a task")
    hub = RunEventHub(runtime.session_factory, poll_seconds=0.01)
    async with hub.subscription(run.run_id):
        await asyncio.sleep(0.05)
        assert hub._task is not None and not hub._task.done()
    await _until(lambda: hub._task is not None and hub._task.done())
    await hub.close()
