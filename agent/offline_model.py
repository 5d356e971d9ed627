"""The offline scripted model: a pydantic-ai `FunctionModel` for machines without a Claude key.

It handles the demo tasks documented in the README by calling the real tools, through the same guard,
approvals and ledger as Claude would, and it acts on what the tools say (a batch over the limit is split,
a denial is reported). For any other task it answers that no model is configured and how to set one.
It is clearly labelled: its model name is `signoff-offline`, and it never pretends to understand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_core import to_jsonable_python

__all__ = ["DEMO_TASKS", "NO_MODEL_MESSAGE", "OFFLINE_MODEL_NAME", "offline_model"]

OFFLINE_MODEL_NAME = "signoff-offline"

DEMO_TASKS = ("find 5 fintech leads in Berlin, enrich them and add them to the CRM",)
"""Tasks the offline model handles (the count, industry and city may vary)."""

_LEADS_TASK = re.compile(
    r"^\s*find\s+(?P<count>\d{1,3})\s+(?P<industry>[a-z0-9][a-z0-9&/ \-]{0,60}?)\s+leads\s+in\s+"
    r"(?P<location>[a-z][a-z .\-]{0,60}?)\s*,?\s*enrich\s+them\s*,?\s*and\s+add\s+them\s+to\s+the\s+crm\s*\.?\s*$",
    re.IGNORECASE,
)
_BATCH_LIMIT = re.compile(r"at most (\d+)")

NO_MODEL_MESSAGE = (
    "No model is configured, so Signoff is running its offline scripted model ('signoff-offline'). "
    "It only handles the demo tasks in the README, such as: "
    f"{DEMO_TASKS[0]!r}. "
    "To use Claude, set ANTHROPIC_API_KEY (and optionally SIGNOFF_MODEL, default anthropic:claude-sonnet-4-5)."
)


@dataclass(frozen=True, kw_only=True)
class _ToolResult:
    tool_name: str
    outcome: str
    content: Any


def _latest_task(messages: Sequence[ModelMessage]) -> tuple[str, int]:
    """The text of the latest user prompt and the index of its message."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content
                    text = content if isinstance(content, str) else next((c for c in content if isinstance(c, str)), "")
                    return text, index
    return "", 0


def _results_since(messages: Sequence[ModelMessage], start: int) -> dict[str, list[_ToolResult]]:
    """Tool results after the latest prompt, by tool name, in order."""
    results: dict[str, list[_ToolResult]] = {}
    for message in messages[start:]:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    results.setdefault(part.tool_name, []).append(
                        _ToolResult(
                            tool_name=part.tool_name, outcome=part.outcome, content=to_jsonable_python(part.content)
                        )
                    )
    return results


def _call(tool_name: str, args: dict[str, Any], index: int = 0) -> ToolCallPart:
    return ToolCallPart(tool_name=tool_name, args=args, tool_call_id=f"offline-{tool_name}-{index}")


def _chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _leads_task(match: re.Match[str], results: dict[str, list[_ToolResult]]) -> ModelResponse:
    count = int(match["count"])
    discovered = results.get("discover_leads")
    if not discovered:
        icp = {"industry": match["industry"].strip(), "location": match["location"].strip()}
        return ModelResponse(parts=[_call("discover_leads", {"icp": icp, "limit": count})])
    if discovered[-1].outcome != "success":
        return _text(f"I could not discover leads: {discovered[-1].content}")
    leads: list[dict[str, Any]] = discovered[-1].content or []
    if not leads:
        return _text("The lead source found no leads for that profile, so there was nothing to enrich or add.")

    enriched = results.get("enrich_contacts")
    if not enriched:
        return ModelResponse(parts=[_call("enrich_contacts", {"emails": [lead["email"] for lead in leads]})])
    if enriched[-1].outcome != "success":
        return _text(f"I found {len(leads)} leads but could not enrich them: {enriched[-1].content}")
    report = enriched[-1].content
    titles = {c["email"].lower(): c.get("title") for c in report.get("contacts", [])}
    contacts = [
        {
            "email": lead["email"],
            "first_name": lead["first_name"],
            "last_name": lead["last_name"],
            "company": lead.get("company"),
            "title": titles.get(lead["email"].lower()) or lead.get("title"),
        }
        for lead in leads
    ]

    synced = results.get("sync_contacts_to_crm", [])
    if not synced:
        return ModelResponse(parts=[_call("sync_contacts_to_crm", {"contacts": contacts})])
    limit = _BATCH_LIMIT.search(str(synced[0].content)) if synced[0].outcome == "failed" else None
    if len(synced) == 1 and limit is not None:
        batches = _chunks(contacts, int(limit.group(1)))
        return ModelResponse(
            parts=[_call("sync_contacts_to_crm", {"contacts": batch}, index + 1) for index, batch in enumerate(batches)]
        )
    return _summary(leads, report, synced[1:] if limit is not None else synced)


def _summary(leads: list[dict[str, Any]], report: dict[str, Any], synced: list[_ToolResult]) -> ModelResponse:
    cache_hits = report.get("cache_hits", 0)
    lines = [
        f"Found {len(leads)} leads and enriched them "
        f"({report.get('paid_lookups', 0)} paid lookups, {cache_hits} from the cache)."
    ]
    created = sum(r.content.get("created", 0) for r in synced if r.outcome == "success")
    updated = sum(r.content.get("updated", 0) for r in synced if r.outcome == "success")
    unchanged = sum(r.content.get("unchanged", 0) for r in synced if r.outcome == "success")
    if any(r.outcome == "success" for r in synced):
        lines.append(f"CRM: {created} contacts created, {updated} updated, {unchanged} unchanged.")
    for result in synced:
        if result.outcome != "success":
            lines.append(f"A CRM sync was not done: {result.content}")
    return _text(" ".join(lines))


def _text(content: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(content)])


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    task, start = _latest_task(messages)
    match = _LEADS_TASK.match(task)
    if match is None:
        return _text(NO_MODEL_MESSAGE)
    return _leads_task(match, _results_since(messages, start))


def offline_model() -> FunctionModel:
    """The offline scripted model (see the module docstring)."""
    return FunctionModel(_respond, model_name=OFFLINE_MODEL_NAME)
