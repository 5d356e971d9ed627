"""The cost ledger: one durable row per model request attempt, with tokens, price and what caused it.

`LedgerWriter` stores the rows (`LedgerEntry`); `agent.ledger_capability` records them as requests
happen, and `agent.pricing` prices them. A ledger write never fails a run and is never lost: a write that
keeps failing goes to a spool file (one JSON line per row) that the next successful write replays into
the database first.

An attempt that got no response (a 429, 529 or 500 the SDK retried, a dropped connection) is a row of its
own with `attempt_status='failed'`, no tokens and a cost of 0: Anthropic does not bill a request it did
not answer, so the price is known and is zero (NULL would claim it is unknown).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import logfire
from sqlalchemy import func, select

from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import LedgerRow

__all__ = [
    "HIGH_COST_REQUEST_USD",
    "AttemptStatus",
    "LedgerEntry",
    "LedgerWriter",
]

AttemptStatus = Literal["succeeded", "failed"]

# The seed owner's choice: requests above $1 are logged as a warning, never blocked.
HIGH_COST_REQUEST_USD = Decimal("1.00")

# Attempts at writing one row before it goes to the spool file; a database that fails three quick
# attempts in a row is down, and waiting longer would hold the run up.
_WRITE_ATTEMPTS = 3
_RETRY_DELAY_SECONDS = 0.05


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One model request attempt as the ledger records it. `cost_usd` is None when the price is unknown.

    `cache_write_5m_tokens + cache_write_1h_tokens == cache_write_tokens` (one-hour writes cost more).
    A failed attempt has `attempt_status='failed'`, its `error`, no tokens and a cost of 0.
    """

    run_id: str
    step: int
    purpose: str
    model_name: str
    provider_name: str | None
    provider_request_id: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal | None
    prompt_name: str
    prompt_version: str
    prompt_hash: str
    latency_ms: int
    created_at: datetime
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    price_data_version: str | None = None
    attempt_status: AttemptStatus = "succeeded"
    error: str | None = None

    def to_json(self) -> str:
        """One spool line."""
        fields = asdict(self)
        fields["cost_usd"] = None if self.cost_usd is None else str(self.cost_usd)
        fields["created_at"] = self.created_at.isoformat()
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_row(cls, row: LedgerRow) -> LedgerEntry:
        """The entry a stored ledger row holds (the row's columns are the entry's fields)."""
        values = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        values["attempt_status"] = "failed" if row.attempt_status == "failed" else "succeeded"
        return cls(**values)

    @classmethod
    def from_json(cls, line: str) -> LedgerEntry:
        """Read one spool line back."""
        fields: dict[str, Any] = json.loads(line)
        fields["cost_usd"] = None if fields["cost_usd"] is None else Decimal(fields["cost_usd"])
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        return cls(**fields)


class LedgerWriter:
    """Writes ledger rows durably; logs warnings for costly requests and days."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        spool_path: Path,
        daily_warning_usd: Decimal | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session_factory = session_factory
        self._spool_path = spool_path
        self._daily_warning_usd = daily_warning_usd
        self._clock = clock
        self._lock = asyncio.Lock()

    async def record(self, entry: LedgerEntry) -> None:
        """Store one row. Never raises: after repeated failures the row goes to the spool file."""
        if entry.cost_usd is not None and entry.cost_usd > HIGH_COST_REQUEST_USD:
            logfire.warn(
                "model request cost ${cost} (over ${threshold})",
                cost=str(entry.cost_usd),
                threshold=str(HIGH_COST_REQUEST_USD),
                run_id=entry.run_id,
                model_name=entry.model_name,
            )
        async with self._lock:
            for attempt in range(1, _WRITE_ATTEMPTS + 1):
                try:
                    await self._flush_spool_locked()
                    await self._insert([entry])
                    break
                except Exception as error:
                    if attempt == _WRITE_ATTEMPTS:
                        self._spool(entry, error)
                        return
                    await asyncio.sleep(_RETRY_DELAY_SECONDS * attempt)
        if self._daily_warning_usd is not None:
            await self._warn_if_day_over_budget(entry.created_at.date())

    async def flush_spool(self) -> int:
        """Replay spooled rows into the database; returns how many were written."""
        async with self._lock:
            return await self._flush_spool_locked()

    async def _flush_spool_locked(self) -> int:
        if not self._spool_path.exists():
            return 0
        # Take the file away first (an atomic rename): rows other processes append from now on go to a
        # new spool file, so deleting this one after the replay cannot lose them.
        replaying = self._spool_path.with_name(f"{self._spool_path.name}.replaying-{uuid.uuid4().hex}")
        try:
            self._spool_path.rename(replaying)
        except FileNotFoundError:  # another process took it first
            return 0
        entries: list[LedgerEntry] = []
        torn: list[str] = []
        for line in replaying.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                entries.append(LedgerEntry.from_json(line))
            except (ValueError, KeyError, TypeError):
                torn.append(line)
        if torn:
            # A line cut short by a crash mid-write: keep it for a person, never block the ledger on it.
            corrupt = self._spool_path.with_name(self._spool_path.name + ".corrupt")
            with corrupt.open("a", encoding="utf-8") as kept:
                kept.writelines(line + "\n" for line in torn)
            logfire.error(
                "ledger spool had {count} unreadable lines; kept in {path}", count=len(torn), path=str(corrupt)
            )
        try:
            if entries:
                await self._insert(entries)
        except Exception:
            # Put the rows back for the next attempt (appending, as new rows may have been spooled meanwhile).
            with self._spool_path.open("a", encoding="utf-8") as spool:
                spool.writelines(entry.to_json() + "\n" for entry in entries)
            replaying.unlink()
            raise
        # Only after the rows are committed: a crash in between replays them once more rather than
        # losing them, and the spool is rare enough that a duplicate is the lesser evil.
        replaying.unlink()
        return len(entries)

    async def _insert(self, entries: list[LedgerEntry]) -> None:
        async with self._session_factory.begin() as session:
            session.add_all(LedgerRow(**asdict(entry)) for entry in entries)

    def _spool(self, entry: LedgerEntry, error: Exception) -> None:
        logfire.error(
            "ledger write failed; row kept in the spool file",
            run_id=entry.run_id,
            error_type=type(error).__name__,
            spool=str(self._spool_path),
        )
        try:
            self._spool_path.parent.mkdir(parents=True, exist_ok=True)
            with self._spool_path.open("a", encoding="utf-8") as spool:
                spool.write(entry.to_json() + "\n")
        except OSError as spool_error:
            # Neither the database nor the disk takes the row: the last place left is the log.
            logfire.error(
                "ledger row lost: the spool file cannot be written ({error_type}); row {row}",
                error_type=type(spool_error).__name__,
                row=entry.to_json(),
            )

    async def _warn_if_day_over_budget(self, day: date) -> None:
        assert self._daily_warning_usd is not None
        start = datetime.combine(day, dt_time.min, tzinfo=UTC)
        try:
            async with self._session_factory() as session:
                total = (
                    await session.execute(
                        select(func.sum(LedgerRow.cost_usd)).where(
                            LedgerRow.created_at >= start, LedgerRow.created_at < start + timedelta(days=1)
                        )
                    )
                ).scalar_one()
        except Exception:  # a warning is not worth failing a run over
            return
        if total is not None and total > self._daily_warning_usd:
            logfire.warn(
                "model spend today is ${total} (over ${threshold})",
                total=str(total),
                threshold=str(self._daily_warning_usd),
                day=day.isoformat(),
            )
