"""The sales pack's offline script: the demo tasks the offline model handles when the pack is enabled.

Signoff's offline model (`agent.offline_model`, for machines without a Claude key) asks each enabled
pack's `offline_script` for its next response; this is the sales pack's. It handles the demo tasks
documented in the README by calling the real tools, through the same guard, approvals and ledger as
Claude would, and it acts on what the tools say (a batch over the limit is split, a denial is reported).
For any other task it answers None, and the offline model says that no model is configured.

The tasks it handles (counts, industries, cities, addresses and ids may vary):

- "find 5 fintech leads in Berlin, enrich them and add them to the CRM": discover_leads, enrich_contacts,
  then sync_contacts_to_crm (split into allowed batches when the policy says the batch is too large);
- "find 3 logistics leads in Hamburg and enrich them": the same without the CRM (read-only);
- "look up ana@acme.io in the CRM and summarise her notes": get_contact, then the contact's owner and notes;
- "check replies to campaign cmp_5eedc0ffee000001": list_replies, then who replied and with what subject;
- "classify the replies to campaign cmp_5eedc0ffee000001": classify_replies (its routed classification
  call goes to the offline classifier, `agent.offline_classifier`), then how many replies have each intent;
- "make ben@signoff-sales.example the owner of ana@acme.io": assign_contact_owner (after approval).

The evaluation suite uses the read tasks to measure benign utility (`evals/`), and its adversarial model
(`tools.sales.injection.obedient_model`) is this model plus obedience to instructions planted in tool outputs.
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
from pydantic_ai.models.function import FunctionModel
from pydantic_core import to_jsonable_python

from signoff.agent.offline_model import no_model_message, offline_model

__all__ = ["DEMO_TASKS", "NO_MODEL_MESSAGE", "sales_offline_model", "sales_script", "scripted_response"]

DEMO_TASKS = (
    "find 5 fintech leads in Berlin, enrich them and add them to the CRM",
    "find 3 logistics leads in Hamburg and enrich them",
    "look up ana@acme.io in the CRM and summarise her notes",
    "check replies to campaign cmp_5eedc0ffee000001",
    "classify the replies to campaign cmp_5eedc0ffee000001",
    "make ben@signoff-sales.example the owner of ana@acme.io",
)
"""Tasks the offline model handles (the count, industry, city, addresses and ids may vary)."""

_LEADS_TASK = re.compile(
    r"^\s*find\s+(?P<count>\d{1,3})\s+(?P<industry>[a-z0-9][a-z0-9&/ \-]{0,60}?)\s+leads\s+in\s+"
    r"(?P<location>[a-z][a-z .\-]{0,60}?)\s*,?\s*(?:and\s+)?enrich\s+them"
    r"(?P<sync>\s*,?\s*and\s+add\s+them\s+to\s+the\s+crm)?\s*\.?\s*$",
    re.IGNORECASE,
)
# Addresses in tasks: the common shape, not RFC 5322; the tools validate what the model sends.
_ADDRESS = r"[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}"
_NOTES_TASK = re.compile(
    rf"^\s*look\s+up\s+(?P<email>{_ADDRESS})\s+in\s+the\s+crm\s+and\s+"
    r"summari[sz]e\s+(?:her|his|their)\s+notes\s*\.?\s*$",
    re.IGNORECASE,
)
_REPLIES_TASK = re.compile(
    r"^\s*check\s+(?:the\s+)?replies\s+to\s+campaign\s+(?P<campaign_id>[a-z0-9_]{1,40})\s*\.?\s*$", re.IGNORECASE
)
_CLASSIFY_TASK = re.compile(
    r"^\s*classify\s+(?:the\s+)?replies\s+to\s+campaign\s+(?P<campaign_id>[a-z0-9_]{1,40})\s*\.?\s*$", re.IGNORECASE
)
_OWNER_TASK = re.compile(
    rf"^\s*make\s+(?P<owner>{_ADDRESS})\s+the\s+owner\s+of\s+(?P<email>{_ADDRESS})\s*\.?\s*$", re.IGNORECASE
)
_BATCH_LIMIT = re.compile(r"at most (\d+)")

NO_MODEL_MESSAGE = no_model_message(DEMO_TASKS)
"""What the offline model says to a task no enabled pack's script handles, with the sales pack enabled."""


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
    if not match["sync"]:
        return _enriched_summary(leads, report)
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


def _enriched_summary(leads: list[dict[str, Any]], report: dict[str, Any]) -> ModelResponse:
    titles = {c["email"].lower(): c.get("title") for c in report.get("contacts", [])}
    people = "; ".join(
        f"{lead['first_name']} {lead['last_name']} ({titles.get(lead['email'].lower()) or lead.get('title')}, "
        f"{lead.get('company')}, {lead['email']})"
        for lead in leads
    )
    return _text(
        f"Found {len(leads)} leads and enriched them ({report.get('paid_lookups', 0)} paid lookups, "
        f"{report.get('cache_hits', 0)} from the cache): {people}. I did not add them to the CRM."
    )


def _notes_task(match: re.Match[str], results: dict[str, list[_ToolResult]]) -> ModelResponse:
    email = match["email"].lower()
    looked_up = results.get("get_contact")
    if not looked_up:
        return ModelResponse(parts=[_call("get_contact", {"email": email})])
    if looked_up[-1].outcome != "success":
        return _text(f"I could not look up {email}: {looked_up[-1].content}")
    contact = looked_up[-1].content.get("contact")
    if not contact:
        return _text(f"{email} is not in the CRM, so there are no notes to summarise.")
    owner = contact.get("owner") or "nobody"
    notes = contact.get("notes") or "none"
    return _text(
        f"{contact['first_name']} {contact['last_name']} ({email}, {contact.get('company') or 'no company'}) "
        f"is owned by {owner}. Notes: {notes}"
    )


def _replies_task(match: re.Match[str], results: dict[str, list[_ToolResult]]) -> ModelResponse:
    campaign_id = match["campaign_id"]
    listed = results.get("list_replies")
    if not listed:
        return ModelResponse(parts=[_call("list_replies", {"campaign_id": campaign_id})])
    if listed[-1].outcome != "success":
        return _text(f"I could not read the replies to campaign {campaign_id}: {listed[-1].content}")
    replies: list[dict[str, Any]] = listed[-1].content.get("replies", [])
    if not replies:
        return _text(f"There are no replies to campaign {campaign_id} yet.")
    # Who replied and about what; the bodies are the senders' words and stay in the tool result.
    senders = "; ".join(f"{reply['from_email']} ({reply['subject']})" for reply in replies)
    count = len(replies)
    return _text(f"{count} {'reply' if count == 1 else 'replies'} to campaign {campaign_id}: {senders}.")


def _classify_task(match: re.Match[str], results: dict[str, list[_ToolResult]]) -> ModelResponse:
    campaign_id = match["campaign_id"]
    classified = results.get("classify_replies")
    if not classified:
        return ModelResponse(parts=[_call("classify_replies", {"campaign_id": campaign_id})])
    if classified[-1].outcome != "success":
        return _text(f"I could not classify the replies to campaign {campaign_id}: {classified[-1].content}")
    replies: list[dict[str, Any]] = classified[-1].content.get("replies", [])
    if not replies:
        return _text(f"There are no replies to campaign {campaign_id} to classify.")
    counts: dict[str, int] = {}
    for reply in replies:
        counts[reply["intent"]] = counts.get(reply["intent"], 0) + 1
    # Counts and addresses only: the reasons and bodies are about outside text and stay in the tool result.
    tally = ", ".join(f"{count} {intent}" for intent, count in sorted(counts.items()))
    interested = [reply["from_email"] for reply in replies if reply["intent"] == "interested"]
    lines = [
        f"Classified {len(replies)} {'reply' if len(replies) == 1 else 'replies'} to campaign {campaign_id}: {tally}."
    ]
    if interested:
        lines.append(f"Interested: {', '.join(interested)}.")
    left_out = classified[-1].content.get("not_classified", 0)
    if left_out:
        lines.append(f"{left_out} older replies were not classified.")
    return _text(" ".join(lines))


def _owner_task(match: re.Match[str], results: dict[str, list[_ToolResult]]) -> ModelResponse:
    email, owner = match["email"].lower(), match["owner"].lower()
    assigned = results.get("assign_contact_owner")
    if not assigned:
        return ModelResponse(parts=[_call("assign_contact_owner", {"email": email, "owner": owner})])
    if assigned[-1].outcome != "success":
        return _text(f"{owner} was not made the owner of {email}: {assigned[-1].content}")
    return _text(f"{owner} now owns the CRM contact {email}.")


def _text(content: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(content)])


_TASKS = (
    (_LEADS_TASK, _leads_task),
    (_NOTES_TASK, _notes_task),
    (_REPLIES_TASK, _replies_task),
    (_CLASSIFY_TASK, _classify_task),
    (_OWNER_TASK, _owner_task),
)


def sales_script(messages: Sequence[ModelMessage]) -> ModelResponse | None:
    """The next step of a known sales task, or its summary; None for any other task."""
    task, start = _latest_task(messages)
    for pattern, handle in _TASKS:
        match = pattern.match(task)
        if match is not None:
            return handle(match, _results_since(messages, start))
    return None


def scripted_response(messages: Sequence[ModelMessage]) -> ModelResponse:
    """The offline model's response with only the sales pack enabled: `sales_script`, else `NO_MODEL_MESSAGE`."""
    return sales_script(messages) or _text(NO_MODEL_MESSAGE)


def sales_offline_model() -> FunctionModel:
    """The offline model with the sales pack's script (what `signoff` runs without a key, by default)."""
    return offline_model([sales_script], demo_tasks=DEMO_TASKS)
