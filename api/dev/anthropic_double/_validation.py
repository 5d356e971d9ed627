"""The request checks the real Messages API makes, with error messages modelled on its own.

Each failed check raises `ApiError`; the double answers it as Anthropic does:
`{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._prompt import build_prompt

__all__ = ["MAX_CACHE_BREAKPOINTS", "ApiError", "ErrorType", "check_body", "check_headers"]

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "not_found_error",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
]

# Anthropic's documented limit on cache breakpoints per request.
MAX_CACHE_BREAKPOINTS = 4


@dataclass
class ApiError(Exception):
    """An error the double answers with: HTTP status, Anthropic error type and message."""

    status: int
    error_type: ErrorType
    message: str

    def __str__(self) -> str:
        return f"{self.status} {self.error_type}: {self.message}"


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def check_headers(headers: Mapping[str, str]) -> None:
    """Authentication (`x-api-key` or `authorization: Bearer`), then `anthropic-version`."""
    bearer = headers.get("authorization", "")
    if not headers.get("x-api-key") and not (bearer.lower().startswith("bearer ") and bearer[7:].strip()):
        raise ApiError(401, "authentication_error", "x-api-key header is required")
    if not headers.get("anthropic-version"):
        raise invalid("anthropic-version: header is required")


def check_body(body: object, *, endpoint: Literal["messages", "count_tokens"]) -> dict[str, Any]:
    """Check a parsed body for `/v1/messages` or `/v1/messages/count_tokens` and return it as a dict."""
    if not isinstance(body, dict):
        raise invalid("The request body is not valid JSON, or not a JSON object.")
    request: dict[str, Any] = body  # pyright: ignore[reportUnknownVariableType]
    required = ("model", "max_tokens", "messages") if endpoint == "messages" else ("model", "messages")
    for name in required:
        if name not in request:
            raise invalid(f"{name}: Field required")
    if not isinstance(request["model"], str) or not request["model"]:
        raise invalid("model: Input should be a valid string")
    if endpoint == "messages":
        max_tokens = request["max_tokens"]
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
    _check_system(request.get("system"))
    _check_tools(request.get("tools"))
    _check_messages(request["messages"])
    _check_cache_control(request)
    return request


def _check_system(system: object) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or a valid list")
    for index, block in enumerate(system):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if not isinstance(block, dict) or block.get("type") != "text":  # pyright: ignore[reportUnknownMemberType]
            raise invalid(f"system.{index}.type: Input should be 'text'")


def _check_tools(tools: object) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    for index, tool in enumerate(tools):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):  # pyright: ignore[reportUnknownMemberType]
            raise invalid(f"tools.{index}.name: Field required")


def _check_messages(messages: object) -> None:
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    parsed: list[tuple[str, list[dict[str, Any]]]] = []
    last = len(messages) - 1  # pyright: ignore[reportUnknownArgumentType]
    for index, message in enumerate(messages):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if not isinstance(message, dict):
            raise invalid(f"messages.{index}: Input should be a valid dictionary")
        role = message.get("role")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if role not in ("user", "assistant"):
            raise invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(content, str):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
        elif isinstance(content, list):
            blocks = []
            for block_index, block in enumerate(content):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):  # pyright: ignore[reportUnknownMemberType]
                    raise invalid(f"messages.{index}.content.{block_index}: Input should be a valid content block")
                blocks.append(block)  # pyright: ignore[reportUnknownArgumentType]
        else:
            raise invalid(f"messages.{index}.content: Field required")
        if not blocks and not (index == last and role == "assistant"):
            raise invalid(
                f"messages.{index}: all messages must have non-empty content except for the optional final "
                "assistant message"
            )
        parsed.append((str(role), blocks))  # pyright: ignore[reportUnknownArgumentType]

    if not parsed:
        raise invalid("messages: at least one message is required")
    if parsed[0][0] != "user":
        raise invalid('messages: first message must use the "user" role')
    # Results that answer nothing are reported before calls left unanswered.
    for index, (role, blocks) in enumerate(parsed):
        if role != "user":
            continue
        previous = parsed[index - 1][1] if index > 0 else []
        offered = {block.get("id") for block in previous if block["type"] == "tool_use"}
        for block_index, block in enumerate(blocks):
            if block["type"] == "tool_result" and block.get("tool_use_id") not in offered:
                raise invalid(
                    f"messages.{index}.content.{block_index}: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
    for index, (role, blocks) in enumerate(parsed[:-1]):
        if role != "assistant":
            continue
        answered = {block.get("tool_use_id") for block in parsed[index + 1][1] if block["type"] == "tool_result"}
        unanswered = [str(b.get("id")) for b in blocks if b["type"] == "tool_use" and b.get("id") not in answered]
        if unanswered:
            raise invalid(
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(unanswered)}. Each `tool_use` block must have a corresponding `tool_result` block "
                "in the next message."
            )


def _check_cache_control(request: dict[str, Any]) -> None:
    prompt = build_prompt(request)
    if len(prompt.breakpoints) > MAX_CACHE_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(prompt.breakpoints)}."
        )
    seen_5m = False
    for breakpoint in prompt.breakpoints:
        if breakpoint.ttl == "1h" and seen_5m:
            raise invalid(
                f"{breakpoint.location}.cache_control.ttl: a ttl='1h' cache_control block must not come after a "
                "ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, "
                "`system`, `messages`."
            )
        seen_5m = seen_5m or breakpoint.ttl == "5m"
