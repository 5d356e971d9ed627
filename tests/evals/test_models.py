"""Model names for evaluations, and recorded responses replayed without a network."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.tools import ToolDefinition

from signoff.agent.models import ClaudeOptions
from signoff.agent.offline_model import OFFLINE_MODEL_NAME
from signoff.evals.case_runner import CaseOutcome, run_case
from signoff.evals.dataset import CaseSpec
from signoff.evals.models import (
    RECORDING_FORMAT,
    ModelNameError,
    RecordingModel,
    Recordings,
    request_key,
    resolve_model,
)
from signoff.evals.run import resolve_prompt
from signoff.policies import PolicyEngine
from tests.agent.helpers import contacts
from tests.evals.support import SALES_CATALOG, SALES_PACKS
from tests.support.scripted import ScriptedModel, call, text

PROMPT = resolve_prompt("sales_agent@1", packs=SALES_PACKS)
CASE = CaseSpec.model_validate(
    {
        "name": "record-me",
        "task": "look up a contact, then add two contacts to the CRM",
        "expect": {"must_call": [{"tool": "sync_contacts_to_crm", "args": {"contacts": contacts(2)}}]},
    },
    context={"catalog": SALES_CATALOG},
)


def _trajectory(outcome: CaseOutcome) -> list[tuple[str, str, str]]:
    return [(c.tool, c.args_json, c.status) for c in outcome.calls]


async def test_recorded_responses_replay_without_the_model(tmp_path: Path, policy: PolicyEngine) -> None:
    scripted = ScriptedModel(
        [
            [call("get_contact", {"email": "person0@acme.example"}, "read-1")],
            [call("sync_contacts_to_crm", {"contacts": contacts(2)}, "sync-2")],
            [text("Looked up person0 and synced 2 contacts.")],
        ]
    )
    recording = tmp_path / "recordings" / "case.json"
    recorded = await run_case(
        CASE,
        model=RecordingModel(scripted.model, Recordings(path=recording)),
        prompt=PROMPT,
        policy=policy,
        workdir=tmp_path,
        packs=SALES_PACKS,
    )
    assert recorded.status == "completed"
    assert len(scripted.requests) == 3
    document = json.loads(recording.read_text())
    assert document["format"] == RECORDING_FORMAT
    assert len(document["responses"]) == 3

    replay = resolve_model(f"replay:{recording}")
    assert replay.build().model_name == "replay:case.json"
    replayed = await run_case(
        CASE, model=replay.build(), prompt=PROMPT, policy=policy, workdir=tmp_path, packs=SALES_PACKS
    )

    assert len(scripted.requests) == 3  # the recorded model was not asked again
    assert replayed.status == "completed"
    assert replayed.final_answer == "Looked up person0 and synced 2 contacts."
    assert _trajectory(replayed) == _trajectory(recorded)
    assert replayed.model_requests == recorded.model_requests == 3


async def test_a_request_never_recorded_fails_the_run_clearly(tmp_path: Path, policy: PolicyEngine) -> None:
    recording = tmp_path / "one.json"
    model = RecordingModel(ScriptedModel([[text("Nothing to do.")]]).model, Recordings(path=recording))
    done = await run_case(CASE, model=model, prompt=PROMPT, policy=policy, workdir=tmp_path, packs=SALES_PACKS)
    assert done.status == "completed"

    # Another prompt version: its instructions are part of the request, so nothing matches.
    other_prompt = resolve_prompt("sales_agent@2", packs=SALES_PACKS)
    replayed = await run_case(
        CASE,
        model=resolve_model(f"replay:{recording}").build(),
        prompt=other_prompt,
        policy=policy,
        workdir=tmp_path,
        packs=SALES_PACKS,
    )
    assert replayed.status == "failed"
    assert replayed.failure_reason is not None
    assert replayed.failure_reason.startswith("ReplayMissingError: replay: no recorded response for this request")


async def test_recording_through_a_named_model(tmp_path: Path, policy: PolicyEngine) -> None:
    recording = tmp_path / "offline.json"
    choice = resolve_model("offline", record_to=recording, packs=SALES_PACKS)
    outcome = await run_case(
        CaseSpec.model_validate(
            {"name": "q", "task": "what is the weather in Berlin?", "expect": {"max_seconds": 60}},
            context={"catalog": SALES_CATALOG},
        ),
        model=choice.build(),
        prompt=PROMPT,
        policy=policy,
        workdir=tmp_path,
        packs=SALES_PACKS,
    )
    assert outcome.status == "completed"
    assert len(json.loads(recording.read_text())["responses"]) == 1


def test_named_models(tmp_path: Path) -> None:
    assert resolve_model("offline", packs=SALES_PACKS).build().model_name == OFFLINE_MODEL_NAME
    with pytest.raises(ModelNameError, match="unknown model 'gpt-nothing'"):
        resolve_model("gpt-nothing")
    with pytest.raises(ModelNameError, match="replay: cannot read"):
        resolve_model(f"replay:{tmp_path / 'missing.json'}")
    (tmp_path / "not-a-recording.json").write_text('{"hello": 1}')
    with pytest.raises(ModelNameError, match="is not a model recording"):
        resolve_model(f"replay:{tmp_path / 'not-a-recording.json'}")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ModelNameError, match="is not JSON"):
        resolve_model(f"replay:{tmp_path / 'broken.json'}")


def test_a_pydantic_ai_model_id_needs_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # The key comes from the caller (the CLI's settings), never from this module reading the environment.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    with pytest.raises(ModelNameError, match=r"'anthropic:claude-sonnet-4-5' cannot be used.*ANTHROPIC_API_KEY"):
        resolve_model("anthropic:claude-sonnet-4-5")
    options = ClaudeOptions(api_key="sk-ant-test-not-a-real-key", base_url="http://127.0.0.1:9")
    assert resolve_model("anthropic:claude-sonnet-4-5", claude=options).build().model_name == "claude-sonnet-4-5"


def test_obedient_is_registered_by_the_sales_packs_evaluation_module() -> None:
    # tests/evals/conftest.py built the sales catalog, which imported the pack's evaluation module.
    assert isinstance(resolve_model("obedient").build(), Model)
    with pytest.raises(ModelNameError, match="use offline, obedient, replay:PATH"):
        resolve_model("disobedient")


def _offer(*tools: ToolDefinition) -> ModelRequestParameters:
    return ModelRequestParameters(function_tools=list(tools), allow_text_output=True)


def test_the_key_covers_what_the_model_is_offered_not_what_signoff_keeps_about_it() -> None:
    messages: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart("look up person0")])]
    schema = {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}
    get = ToolDefinition(name="get_contact", description="Read one contact.", parameters_json_schema=schema)
    sync = ToolDefinition(name="sync_contacts_to_crm", description="Write contacts.", parameters_json_schema={})
    key = request_key(messages, _offer(get, sync))

    # The same offer in another order, or with other metadata of Signoff's, is the same request.
    assert request_key(messages, _offer(sync, replace(get, metadata={"destructive": False}, timeout=5))) == key
    # What the model reads is part of the request: a reworded description, a changed schema, a tool
    # fewer, or no text answer allowed all make another request, with no recorded answer.
    renamed = {"type": "object", "properties": {"address": {"type": "string"}}, "required": ["address"]}
    for other in (
        _offer(replace(get, description="Read a contact by email."), sync),
        _offer(replace(get, parameters_json_schema=renamed), sync),
        _offer(get),
        replace(_offer(get, sync), allow_text_output=False),
    ):
        assert request_key(messages, other) != key


def test_a_recording_of_the_older_format_asks_to_be_recorded_again(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "signoff-model-recording/1", "responses": {}}))
    with pytest.raises(ModelNameError, match=r"older format signoff-model-recording/1.*record again into a new file"):
        resolve_model(f"replay:{old}")
