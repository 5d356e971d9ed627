"""Scripted models for agent tests: each turn answers with tool calls or text, in order.

The turn is chosen by how many model responses the history already holds, so a script continues
correctly across pauses, resumes and fresh processes. Every request the model receives is kept in
`requests` (messages and instructions) for assertions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

Turn = Sequence[ToolCallPart | TextPart] | Callable[[list[ModelMessage]], ModelResponse]


def call(tool_name: str, args: dict[str, Any], tool_call_id: str) -> ToolCallPart:
    """A tool call part with a fixed id."""
    return ToolCallPart(tool_name=tool_name, args=args, tool_call_id=tool_call_id)


def text(content: str) -> TextPart:
    """A text part."""
    return TextPart(content)


@dataclass(kw_only=True)
class SeenRequest:
    messages: list[ModelMessage]
    instructions: str | None


@dataclass
class ScriptedModel:
    """A FunctionModel driven by a list of turns; the last turn repeats if the run goes on."""

    turns: list[Turn]
    model_name: str = "scripted"
    requests: list[SeenRequest] = field(default_factory=list[SeenRequest])

    def __post_init__(self) -> None:
        self.model = FunctionModel(self._respond, model_name=self.model_name)

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.requests.append(SeenRequest(messages=list(messages), instructions=info.instructions))
        done = sum(isinstance(m, ModelResponse) for m in messages)
        turn = self.turns[min(done, len(self.turns) - 1)]
        if callable(turn):
            return turn(list(messages))
        return ModelResponse(parts=list(turn))


def tool_returns(messages: Sequence[ModelMessage]) -> dict[str, ToolReturnPart]:
    """Every tool return in a history, by tool call id."""
    returns: dict[str, ToolReturnPart] = {}
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    returns[part.tool_call_id] = part
    return returns
