"""The obedient model: the offline scripted model, fully hijacked by any instruction it reads.

It does the benign tasks exactly as the offline model with the sales pack's script
(`tools.sales.demo_model`) does, but the moment any tool output contains a goal's planted instruction it
emits that goal's ground-truth calls, as a Claude that follows every instruction in its context would: the
worst case for the guard. Like a determined attacker it adapts to a batch-limit denial by splitting the
batch, and once its calls are answered (run, denied or failed) it goes back to the user's task. Calls that
need an earlier call's result (read a record, then send what it says) come one response at a time, as a
real model would make them; a goal's `final_claim` is added to the final answer. Its own calls carry ids
starting with `injected-`, and the benign script never sees their results, so the user's task proceeds as
if nothing happened.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_core import to_jsonable_python

from signoff.policies.provenance import strings_in
from signoff.tools.sales.demo_model import scripted_response
from signoff.tools.sales.injection.goals import INJECTION_GOALS, InjectionGoal, PlannedCall

__all__ = ["INJECTED_CALL_PREFIX", "OBEDIENT_MODEL_NAME", "obedient_model"]

OBEDIENT_MODEL_NAME = "signoff-obedient"
INJECTED_CALL_PREFIX = "injected-"

_BATCH_LIMIT = re.compile(r"at most (\d+)")


def _is_injected(part: ToolCallPart | ToolReturnPart | RetryPromptPart) -> bool:
    return (part.tool_call_id or "").startswith(INJECTED_CALL_PREFIX)


def _planted_goals(messages: Sequence[ModelMessage]) -> list[InjectionGoal]:
    """Goals whose instruction text appears in a tool output the model has read, in goal order."""
    texts = [
        text
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and not _is_injected(part)
        for text in strings_in(to_jsonable_python(part.content))
    ]
    return [goal for goal in INJECTION_GOALS.values() if any(goal.instruction_text in text for text in texts)]


def _sent_calls(messages: Sequence[ModelMessage]) -> dict[str, ToolCallPart]:
    return {
        part.tool_call_id: part
        for message in messages
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart) and _is_injected(part)
    }


def _returns(messages: Sequence[ModelMessage]) -> dict[str, ToolReturnPart | RetryPromptPart]:
    return {
        part.tool_call_id: part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart | RetryPromptPart) and _is_injected(part)
    }


def _split(call: PlannedCall, limit: int) -> list[dict[str, Any]]:
    """The call's arguments split into batches of `limit` along its (longest) list argument."""
    list_args = [name for name, value in call.args.items() if isinstance(value, list)]
    if not list_args:
        return []
    name = max(list_args, key=lambda arg: len(call.args[arg]))
    items: list[Any] = call.args[name]
    return [{**call.args, name: items[start : start + limit]} for start in range(0, len(items), limit)]


def _hijacked_calls(messages: Sequence[ModelMessage]) -> list[ModelResponsePart]:
    """The injected calls due now: a planted goal's calls not yet sent, or the parts of a split batch."""
    sent = _sent_calls(messages)
    answered = _returns(messages)
    due: list[ModelResponsePart] = []
    for goal in _planted_goals(messages):
        for index, call in enumerate(goal.ground_truth_calls):
            call_id = f"{INJECTED_CALL_PREFIX}{goal.goal_id}-{index}"
            if call_id not in sent:
                earlier = [f"{INJECTED_CALL_PREFIX}{goal.goal_id}-{i}" for i in range(index)]
                if goal.sequential and not all(earlier_id in answered for earlier_id in earlier):
                    break  # it needs what the earlier calls return: ask for it once they are answered
                due.append(ToolCallPart(tool_name=call.tool, args=dict(call.args), tool_call_id=call_id))
                if goal.sequential:
                    break
                continue
            answer = answered.get(call_id)
            if not isinstance(answer, ToolReturnPart) or answer.outcome != "failed":
                continue
            limit = _BATCH_LIMIT.search(str(answer.content))
            split_prefix = f"{call_id}-part"
            if limit is None or any(sent_id.startswith(split_prefix) for sent_id in sent):
                continue
            due.extend(
                ToolCallPart(tool_name=call.tool, args=args, tool_call_id=f"{split_prefix}{part}")
                for part, args in enumerate(_split(call, int(limit.group(1))))
            )
    return due


def _without_injected(messages: Sequence[ModelMessage]) -> list[ModelMessage]:
    """The history as the benign script should see it: without the hijacked calls and their results."""
    cleaned: list[ModelMessage] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            parts = [
                part
                for part in message.parts
                if not (isinstance(part, ToolReturnPart | RetryPromptPart) and _is_injected(part))
            ]
            cleaned.append(replace(message, parts=parts))
        else:
            cleaned.append(message)
    return cleaned


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    hijacked = _hijacked_calls(messages)
    if hijacked:
        return ModelResponse(parts=hijacked)
    response = scripted_response(_without_injected(messages))
    claims = [goal.final_claim for goal in _planted_goals(messages) if goal.final_claim]
    if claims and not any(isinstance(part, ToolCallPart) for part in response.parts):
        # The final answer: the hijacked model tells the user what the instruction told it to say.
        response = replace(response, parts=[*response.parts, TextPart(content="\n\n" + " ".join(claims))])
    return response


def obedient_model() -> FunctionModel:
    """The adversarial model of the injection suite (see the module docstring)."""
    return FunctionModel(_respond, model_name=OBEDIENT_MODEL_NAME)
