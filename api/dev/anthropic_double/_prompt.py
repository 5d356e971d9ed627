"""A request's prompt as Anthropic caches it: tools, then system, then messages, block by block.

Each block carries its stand-in token count and a hash of everything up to and including it (with
the model), so two requests share a cache entry exactly when their prefixes are identical. The
`cache_control` markers themselves are not part of the content: moving a breakpoint does not change
the prefix it sits on, which is what lets a conversation's growing prefix be read back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._tokens import MESSAGE_OVERHEAD_TOKENS, TOOL_OVERHEAD_TOKENS, canonical_json, count_tokens_stand_in

__all__ = ["Breakpoint", "CacheTtl", "Prompt", "PromptBlock", "build_prompt", "count_input_tokens"]

CacheTtl = Literal["5m", "1h"]

# Block types that cannot end a cached prefix; the top-level (automatic) breakpoint skips them.
_UNCACHEABLE_BLOCK_TYPES = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True, kw_only=True)
class PromptBlock:
    """One block of the prompt, in the order the API processes them."""

    location: str
    """Where the block is in the request body, as the API names it in errors (`messages.2.content.0`)."""
    tokens: int
    """Stand-in tokens of this block, including its tool or message overhead."""
    prefix_tokens: int
    """Stand-in tokens of the prompt up to and including this block."""
    prefix_hash: str
    """sha256 over the model and every block up to and including this one, markers left out."""
    cacheable: bool
    cache_control: Mapping[str, Any] | None


@dataclass(frozen=True, kw_only=True)
class Breakpoint:
    """A cache breakpoint: the prefix ending at block `index` is cached for `ttl`."""

    index: int
    ttl: CacheTtl
    location: str
    """The block it sits on, as the API names it (`system.0`, `messages.3.content.1`)."""
    automatic: bool = False
    """Placed by the top-level `cache_control` (automatic caching) rather than by a block's own marker."""


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """The blocks of one request and its effective breakpoints."""

    model: str
    blocks: Sequence[PromptBlock]
    breakpoints: Sequence[Breakpoint]

    @property
    def total_tokens(self) -> int:
        return self.blocks[-1].prefix_tokens if self.blocks else 0


def build_prompt(body: Mapping[str, Any]) -> Prompt:
    """Lay out an already validated request body as blocks, with its explicit and automatic breakpoints.

    The top-level `cache_control` (automatic caching) puts one more breakpoint on the last cacheable
    block; when that block already carries a marker it is the same breakpoint, counted once.
    """
    model = str(body["model"])
    running = hashlib.sha256(canonical_json({"model": model}).encode())
    prefix_tokens = 0
    blocks: list[PromptBlock] = []
    for entry in _entries(body):
        content = {key: value for key, value in entry.block.items() if key != "cache_control"}
        tokens = count_tokens_stand_in(content) + entry.overhead
        prefix_tokens += tokens
        running.update(canonical_json({"at": entry.position, "block": content}).encode())
        marker = entry.block.get("cache_control")
        blocks.append(
            PromptBlock(
                location=entry.location,
                tokens=tokens,
                prefix_tokens=prefix_tokens,
                prefix_hash=running.copy().hexdigest(),
                cacheable=entry.block.get("type") not in _UNCACHEABLE_BLOCK_TYPES,
                cache_control=marker if isinstance(marker, Mapping) else None,
            )
        )
    return Prompt(model=model, blocks=blocks, breakpoints=_breakpoints(blocks, body.get("cache_control")))


def count_input_tokens(body: Mapping[str, Any]) -> int:
    """All input tokens of a request body as the double counts them: what count_tokens answers, and
    `input_tokens + cache_creation_input_tokens + cache_read_input_tokens` of a /v1/messages answer."""
    return build_prompt(body).total_tokens


@dataclass(frozen=True, kw_only=True)
class _Entry:
    location: str
    position: Mapping[str, Any]
    """What besides the block itself belongs to the prefix: its section, and a turn's role and start."""
    block: Mapping[str, Any]
    overhead: int


def _entries(body: Mapping[str, Any]) -> list[_Entry]:
    entries = [
        _Entry(location=f"tools.{i}", position={"section": "tools"}, block=tool, overhead=TOOL_OVERHEAD_TOKENS)
        for i, tool in enumerate(_dicts(body.get("tools")))
    ]
    system = body.get("system")
    system_blocks = [{"type": "text", "text": system}] if isinstance(system, str) else _dicts(system)
    entries += [
        _Entry(location=f"system.{i}", position={"section": "system"}, block=block, overhead=0)
        for i, block in enumerate(system_blocks)
    ]
    for m, message in enumerate(_dicts(body.get("messages"))):
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else _dicts(content)
        for b, block in enumerate(blocks):
            turn_start = b == 0
            entries.append(
                _Entry(
                    location=f"messages.{m}.content.{b}",
                    position={"section": "messages", "role": message.get("role"), "turn_start": turn_start},
                    block=block,
                    overhead=MESSAGE_OVERHEAD_TOKENS if turn_start else 0,
                )
            )
    return entries


def _breakpoints(blocks: Sequence[PromptBlock], automatic: object) -> list[Breakpoint]:
    found = [
        Breakpoint(index=index, ttl=_ttl(block.cache_control), location=block.location)
        for index, block in enumerate(blocks)
        if block.cache_control is not None
    ]
    if isinstance(automatic, Mapping):
        target = next((i for i in range(len(blocks) - 1, -1, -1) if blocks[i].cacheable), None)
        if target is not None and all(b.index != target for b in found):
            found.append(
                Breakpoint(index=target, ttl=_ttl(automatic), location=blocks[target].location, automatic=True)
            )
            found.sort(key=lambda b: b.index)
    return found


def _ttl(cache_control: Mapping[str, Any] | None) -> CacheTtl:
    return "1h" if cache_control is not None and cache_control.get("ttl") == "1h" else "5m"


def _dicts(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]  # pyright: ignore[reportUnknownVariableType]
