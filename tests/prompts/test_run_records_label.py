"""Runs record the prompt they used: name, version, hash, and the label they resolved (None when pinned)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import TypeAdapter

from signoff.agent.store import runs as run_store
from signoff.api.schemas import RunDetail
from signoff.api.views import run_detail_view
from signoff.prompts import PromptRegistry
from signoff.prompts.labels import move_label
from tests.conftest import RuntimeFactory
from tests.support.scripted import ScriptedModel, text


def _http_prompt_field(prompt: object) -> object:
    """The run's prompt as `GET /v1/runs/{run_id}` validates it (a pinned run's label is null)."""
    annotation = RunDetail.model_fields["prompt"].annotation
    assert annotation is not None
    return TypeAdapter(annotation).validate_python(prompt)


async def test_a_run_records_the_label_it_resolved(make_runtime: RuntimeFactory, prompts_copy: PromptRegistry) -> None:
    move_label(
        prompts_copy.labels_file,
        prompt="sales_agent",
        label="staging",
        to_version="2",
        moved_by="alice",
        moved_at=datetime(2026, 11, 28, tzinfo=UTC),
        forced=True,
        eval_run_id=None,
    )
    prompt = prompts_copy.load("sales_agent", label="staging")
    model = ScriptedModel([[text("Nothing to do.")]])
    runtime = make_runtime(model.model, prompt=prompt)

    outcome = await runtime.runner.start("say hello")

    async with runtime.session_factory() as session:
        run = await run_store.get_run(session, run_id=outcome.run_id)
        assert run is not None
        assert (run.prompt_name, run.prompt_version, run.prompt_hash, run.prompt_label) == (
            "sales_agent",
            "2",
            prompt.content_hash,
            "staging",
        )
        detail = await run_detail_view(session, run=run)
    # The model got version 2's instructions, and the run's JSON (CLI and HTTP) names the label.
    assert [request.instructions for request in model.requests] == [prompt.render()]
    assert detail["prompt"] == {
        "name": "sales_agent",
        "version": "2",
        "hash": prompt.content_hash,
        "label": "staging",
    }
    assert _http_prompt_field(detail["prompt"]) == detail["prompt"]


async def test_a_pinned_run_records_no_label(make_runtime: RuntimeFactory, prompts_copy: PromptRegistry) -> None:
    prompt = prompts_copy.load("sales_agent", version="1")
    runtime = make_runtime(ScriptedModel([[text("Done.")]]).model, prompt=prompt)

    outcome = await runtime.runner.start("say hello")

    async with runtime.session_factory() as session:
        run = await run_store.get_run(session, run_id=outcome.run_id)
        assert run is not None
        assert (run.prompt_version, run.prompt_label) == ("1", None)
        detail = await run_detail_view(session, run=run)
    assert detail["prompt"]["label"] is None
    assert _http_prompt_field(detail["prompt"]) == detail["prompt"]
