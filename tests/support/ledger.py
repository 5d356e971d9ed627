"""Ledger entries for tests that write the ledger directly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from signoff.agent.ledger import LedgerEntry


def ledger_entry(**overrides: Any) -> LedgerEntry:
    """A valid entry (a priced Sonnet request of run `run-1`), with any field overridden."""
    fields: dict[str, Any] = {
        "run_id": "run-1",
        "step": 1,
        "purpose": "agent_step",
        "model_name": "claude-sonnet-4-5",
        "provider_name": "anthropic",
        "provider_request_id": None,
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": Decimal("0.001"),
        "prompt_name": "sales_agent",
        "prompt_version": "1",
        "prompt_hash": "sha256:x",
        "latency_ms": 1,
        "created_at": datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
    }
    return LedgerEntry(**{**fields, **overrides})
