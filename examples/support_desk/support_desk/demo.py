"""The support desk's offline script: what the offline model does for the pack's demo tasks.

- "refund 30 on ticket T-1001": issue_refund, then what the tool said;
- "close ticket T-1001": close_ticket;
- "email the customer of ticket T-1001: TEXT": get_ticket, then email_customer to the ticket's customer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

__all__ = ["DEMO_TASKS", "support_script"]

DEMO_TASKS = (
    "refund 30 on ticket T-1001",
    "close ticket T-1001",
    "email the customer of ticket T-1001: your refund is on its way",
)

_REFUND = re.compile(
    r"^\s*refund\s+\$?(?P<amount>\d{1,6}(?:\.\d{1,2})?)\s+on\s+ticket\s+(?P<ticket>T-\d{1,8})\s*$", re.I
)
_CLOSE = re.compile(r"^\s*close\s+ticket\s+(?P<ticket>T-\d{1,8})\s*$", re.I)
_EMAIL = re.compile(r"^\s*email\s+the\s+customer\s+of\s+ticket\s+(?P<ticket>T-\d{1,8})\s*:\s*(?P<text>.{1,500})$", re.I)


def _task_and_returns(messages: Sequence[ModelMessage]) -> tuple[str, list[ToolReturnPart]]:
    task: str = ""
    returns: list[ToolReturnPart] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    # The task is the first text of the prompt (Signoff sends any context after it, as data).
                    content = part.content
                    first = (
                        content if isinstance(content, str) else next((c for c in content if isinstance(c, str)), "")
                    )
                    task, returns = first, []
                elif isinstance(part, ToolReturnPart):
                    returns.append(part)
    return task, returns


def _say(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)])


def support_script(messages: Sequence[ModelMessage]) -> ModelResponse | None:
    """The next step of a support demo task, or None for any other task."""
    task, returns = _task_and_returns(messages)
    if match := _REFUND.match(task):
        if not returns:
            args = {"ticket_id": match["ticket"], "amount_usd": match["amount"]}
            return ModelResponse(parts=[ToolCallPart("issue_refund", args, tool_call_id="refund")])
        return _say(returns[-1].model_response_str())
    if match := _CLOSE.match(task):
        if not returns:
            args = {"ticket_id": match["ticket"], "resolution": "resolved by the support desk"}
            return ModelResponse(parts=[ToolCallPart("close_ticket", args, tool_call_id="close")])
        return _say(returns[-1].model_response_str())
    if match := _EMAIL.match(task):
        if not returns:
            return ModelResponse(
                parts=[ToolCallPart("get_ticket", {"ticket_id": match["ticket"]}, tool_call_id="ticket")]
            )
        if len(returns) == 1:
            ticket = returns[0].model_response_object()
            to = str(ticket["customer_email"])
            args = {
                "ticket_id": match["ticket"],
                "to": to,
                "subject": f"About {match['ticket']}",
                "body": match["text"],
            }
            return ModelResponse(parts=[ToolCallPart("email_customer", args, tool_call_id="email")])
        return _say(returns[-1].model_response_str())
    return None
