"""The offline model: a pydantic-ai `FunctionModel` for machines without a Claude key.

It knows no tasks of its own. Each enabled tool pack may bring an `offline_script` that handles the
pack's documented demo tasks by calling its real tools, through the same guard, approvals and ledger as
Claude would; the offline model asks the scripts in pack order and answers with the first response one
gives. For a task no script handles it says that no model is configured and how to set one. It is
clearly labelled: its model name is `signoff-offline`, and it never pretends to understand.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from signoff.tools.packs import OfflineScript, ToolPack

__all__ = ["OFFLINE_MODEL_NAME", "no_model_message", "offline_model", "offline_model_for"]

OFFLINE_MODEL_NAME = "signoff-offline"


def no_model_message(demo_tasks: Sequence[str]) -> str:
    """What the offline model answers to a task no script handles, naming one demo task if there is one."""
    example = f"It only handles the demo tasks of the enabled packs, such as: {demo_tasks[0]!r}. " if demo_tasks else ""
    return (
        "No model is configured, so Signoff is running its offline scripted model ('signoff-offline'). "
        f"{example}"
        "To use Claude, set ANTHROPIC_API_KEY (and optionally SIGNOFF_MODEL, default anthropic:claude-sonnet-4-5)."
    )


def offline_model(scripts: Sequence[OfflineScript] = (), *, demo_tasks: Sequence[str] = ()) -> FunctionModel:
    """The offline model over these scripts (see the module docstring)."""
    fallback = ModelResponse(parts=[TextPart(no_model_message(demo_tasks))])

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        for script in scripts:
            response = script(messages)
            if response is not None:
                return response
        return fallback

    return FunctionModel(respond, model_name=OFFLINE_MODEL_NAME)


def offline_model_for(packs: Sequence[ToolPack]) -> FunctionModel:
    """The offline model with the scripts and demo tasks of these packs, in pack order."""
    return offline_model(
        [pack.offline_script for pack in packs if pack.offline_script is not None],
        demo_tasks=[task for pack in packs for task in pack.demo_tasks],
    )
