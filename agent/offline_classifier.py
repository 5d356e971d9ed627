"""The offline classifier: a deterministic pydantic-ai `FunctionModel` for `classification` calls without a key.

Without `ANTHROPIC_API_KEY` every kind of work runs offline; the scripted planning model cannot label
text, so classification calls get this model instead (see `agent.models.build_model_routes`). It reads
the items to classify from the JSON block of the call's user content (each with a `reply_id`, a
`subject` and a `body`, as `tools.sales.classification.frame_replies` writes them) and answers through
the call's output tool with one label per item: the intent of the first keyword rule whose phrase
appears in the subject or body, or `other`. Its model name is `signoff-offline-classifier`, so its
ledger rows say which model labelled what.

It never follows what the text says: a planted "ignore previous instructions" is just text without an
intent phrase (or with one, which then labels it, as a keyword filter would).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

__all__ = ["INTENT_KEYWORDS", "OFFLINE_CLASSIFIER_MODEL_NAME", "keyword_intent", "offline_classifier_model"]

OFFLINE_CLASSIFIER_MODEL_NAME = "signoff-offline-classifier"

INTENT_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Checked in this order, first match wins: a removal request beats everything (it has legal weight),
    # an auto-reply says nothing about interest, and "not interested" must be seen before "interested".
    ("unsubscribe", ("unsubscribe", "remove me", "stop emailing", "stop sending", "opt out", "take me off")),
    (
        "out_of_office",
        ("out of office", "out of the office", "automatic reply", "auto-reply", "on vacation", "on leave"),
    ),
    ("not_interested", ("not interested", "no thanks", "no thank you", "not a fit", "not now", "no need")),
    (
        "interested",
        ("interested", "tell me more", "sounds good", "let's talk", "book a", "schedule", "demo", "pricing"),
    ),
)
"""(intent, phrases) rules of the offline classifier, matched case-insensitively against subject and body."""

_DATA_FENCE = "```json\n"
_FENCE_END = "\n```"


def keyword_intent(text: str) -> tuple[str, str]:
    """The intent the keyword rules give `text`, and why: (`interested`, `mentions "demo"`) or (`other`, ...)."""
    lowered = text.lower()
    for intent, phrases in INTENT_KEYWORDS:
        for phrase in phrases:
            if phrase in lowered:
                return intent, f'mentions "{phrase}"'
    return "other", "no intent phrase found"


def _framed_items(messages: Sequence[ModelMessage]) -> list[dict[str, Any]] | None:
    """The JSON array in the latest user content's data block, or None when there is none."""
    for message in reversed(messages):
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if not isinstance(part, UserPromptPart):
                continue
            texts = [part.content] if isinstance(part.content, str) else [c for c in part.content if isinstance(c, str)]
            for text in texts:
                start = text.find(_DATA_FENCE)
                end = text.rfind(_FENCE_END)
                if start == -1 or end <= start:
                    continue
                try:
                    items: object = json.loads(text[start + len(_DATA_FENCE) : end])
                except ValueError:
                    return None
                if isinstance(items, list):
                    return [
                        cast("dict[str, Any]", item) for item in cast("list[object]", items) if isinstance(item, dict)
                    ]
                return None
    return None


def _classify(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    items = _framed_items(messages)
    if not info.output_tools or items is None:
        return ModelResponse(parts=[TextPart("The offline classifier found no items to label in this request.")])
    labels: list[dict[str, str]] = []
    for item in items:
        intent, reason = keyword_intent(f"{item.get('subject', '')}\n{item.get('body', '')}")
        labels.append({"reply_id": str(item.get("reply_id", "")), "intent": intent, "reason": reason})
    return ModelResponse(parts=[ToolCallPart(tool_name=info.output_tools[0].name, args={"labels": labels})])


def offline_classifier_model() -> FunctionModel:
    """The offline classifier (see the module docstring)."""
    return FunctionModel(_classify, model_name=OFFLINE_CLASSIFIER_MODEL_NAME)
