"""Helpers for the Anthropic double's tests: real SDK clients and request bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anthropic

from signoff.api.dev.anthropic_double import MessagesDouble

MODEL = "claude-sonnet-4-6"


def sdk_client(base_url: str, **options: Any) -> anthropic.AsyncAnthropic:
    """The official async client against the double; no retries unless asked, so statuses are visible."""
    return anthropic.AsyncAnthropic(
        base_url=base_url, api_key="test-key", max_retries=options.pop("max_retries", 0), **options
    )


@asynccontextmanager
async def served(double: MessagesDouble, **options: Any) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """Serve `double` and yield an SDK client for it; both are closed on exit."""
    with double.serve() as base_url:
        async with sdk_client(base_url, **options) as client:
            yield client


def words(count: int, *, seed: str = "w") -> str:
    """`count` distinct words: exactly `count` stand-in tokens."""
    return " ".join(f"{seed}{index}" for index in range(count))


def user(text: str, **block: Any) -> Any:
    """A user turn of one text block (raw JSON, as the double sees it; Any so the SDK's params accept it)."""
    return {"role": "user", "content": [{"type": "text", "text": text, **block}]}


def ephemeral(ttl: str | None = None) -> dict[str, Any]:
    return {"cache_control": {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}}


@dataclass
class ManualClock:
    """Seconds that only move when a test says so."""

    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
