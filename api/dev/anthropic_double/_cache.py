"""Prompt-cache accounting modelled on Anthropic's documented rules.

For one request (see `Prompt`):

- read: the longest prefix, ending at a block boundary at most `lookback_blocks` blocks before (or at)
  one of the request's breakpoints, that is cached for this model and still fresh. Its tokens are
  `cache_read_input_tokens`, and reading it restarts its lifetime.
- write: every breakpoint after the read prefix whose prefix is at least the model's minimum cacheable
  length is written. The tokens from the end of the read prefix to the last written breakpoint are
  `cache_creation_input_tokens`, each stretch counted under the TTL of the breakpoint that ends it.
- prefixes under the minimum are neither read nor written; `input_tokens` is everything else.

Entries are keyed by the prefix hash, which includes the model, so models never share entries.
The clock is injected so tests can move time past a TTL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._prompt import CacheTtl, Prompt

__all__ = [
    "DEFAULT_LOOKBACK_BLOCKS",
    "DEFAULT_MIN_CACHEABLE_TOKENS",
    "TTL_SECONDS",
    "CacheUsage",
    "PromptCache",
    "minimum_cacheable_tokens",
]

TTL_SECONDS: Mapping[CacheTtl, float] = {"5m": 5 * 60.0, "1h": 60 * 60.0}

# Anthropic checks for hits at block boundaries up to about 20 blocks before each breakpoint
# ("prompt caching: cache limitations" in the docs); a longer jump between two breakpoints misses.
DEFAULT_LOOKBACK_BLOCKS = 20

# Minimum cacheable prompt length by model id prefix, from Anthropic's prompt-caching docs (2026):
# 4096 for Opus 4.6 / 4.5 and Haiku 4.5, 1024 for Sonnet 4.x, Opus 4.1 / 4 and Sonnet 3.7, 2048 for
# Haiku 3.5 / 3. The longest matching prefix wins; "*" is the fallback for ids not listed.
DEFAULT_MIN_CACHEABLE_TOKENS: Mapping[str, int] = {
    "claude-opus-4-6": 4096,
    "claude-opus-4-5": 4096,
    "claude-haiku-4-5": 4096,
    "claude-sonnet-4": 1024,
    "claude-opus-4": 1024,
    "claude-3-7-sonnet": 1024,
    "claude-3-5-haiku": 2048,
    "claude-3-haiku": 2048,
    "*": 1024,
}


def minimum_cacheable_tokens(model: str, overrides: Mapping[str, int] | None = None) -> int:
    """The minimum cacheable prefix for `model`.

    `overrides` is consulted first, then `DEFAULT_MIN_CACHEABLE_TOKENS`; in each table the entry with the
    longest key that `model` starts with wins, and `"*"` matches any model.
    """
    for table in (overrides or {}, DEFAULT_MIN_CACHEABLE_TOKENS):
        matches = [key for key in table if key != "*" and model.startswith(key)]
        if matches:
            return table[max(matches, key=len)]
        if "*" in table:
            return table["*"]
    raise AssertionError("DEFAULT_MIN_CACHEABLE_TOKENS has a '*' entry")


@dataclass(frozen=True, kw_only=True)
class CacheUsage:
    """How one request's input tokens split between uncached, read and written."""

    total_tokens: int
    read_tokens: int
    written_5m_tokens: int
    written_1h_tokens: int

    @classmethod
    def uncached(cls, total_tokens: int) -> CacheUsage:
        """A request that neither read nor wrote the cache."""
        return cls(total_tokens=total_tokens, read_tokens=0, written_5m_tokens=0, written_1h_tokens=0)

    @property
    def written_tokens(self) -> int:
        return self.written_5m_tokens + self.written_1h_tokens

    @property
    def input_tokens(self) -> int:
        return self.total_tokens - self.read_tokens - self.written_tokens


@dataclass(kw_only=True)
class _Entry:
    ttl: CacheTtl
    expires_at: float


class PromptCache:
    """The double's prompt cache. Not thread-safe: the caller holds the double's lock."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        min_cacheable_tokens: Mapping[str, int] | None = None,
        lookback_blocks: int = DEFAULT_LOOKBACK_BLOCKS,
    ) -> None:
        self._clock = clock
        self._min_cacheable_tokens = min_cacheable_tokens
        self._lookback_blocks = lookback_blocks
        self._entries: dict[str, _Entry] = {}

    def account(self, prompt: Prompt) -> CacheUsage:
        """Read and write the cache for one request and report its split of input tokens."""
        now = self._clock()
        minimum = minimum_cacheable_tokens(prompt.model, self._min_cacheable_tokens)
        blocks = prompt.blocks

        read_index: int | None = None
        candidates = {
            index
            for breakpoint in prompt.breakpoints
            for index in range(max(0, breakpoint.index - self._lookback_blocks + 1), breakpoint.index + 1)
        }
        for index in sorted(candidates, reverse=True):
            if blocks[index].prefix_tokens < minimum:
                break  # shorter prefixes are shorter still
            entry = self._entries.get(blocks[index].prefix_hash)
            if entry is not None and entry.expires_at > now:
                entry.expires_at = now + TTL_SECONDS[entry.ttl]
                read_index = index
                break
        read_tokens = 0 if read_index is None else blocks[read_index].prefix_tokens

        written: dict[CacheTtl, int] = {"5m": 0, "1h": 0}
        written_up_to = read_tokens
        for breakpoint in prompt.breakpoints:
            block = blocks[breakpoint.index]
            if (read_index is not None and breakpoint.index <= read_index) or block.prefix_tokens < minimum:
                continue
            written[breakpoint.ttl] += block.prefix_tokens - written_up_to
            written_up_to = block.prefix_tokens
            self._entries[block.prefix_hash] = _Entry(ttl=breakpoint.ttl, expires_at=now + TTL_SECONDS[breakpoint.ttl])
        return CacheUsage(
            total_tokens=prompt.total_tokens,
            read_tokens=read_tokens,
            written_5m_tokens=written["5m"],
            written_1h_tokens=written["1h"],
        )

    def clear(self) -> None:
        """Forget every entry (as if all had expired)."""
        self._entries.clear()
