"""Checking the tamper-evident audit chain and exporting its head for an outside witness.

`verify_audit_chain` walks the chain from its first entry, recomputes every hash and link, and compares
each tool-call and approval row with its latest entry. It reports, naming the record or the entry:

- `edited_entry`: an entry's hash does not match its fields (the entry was changed);
- `broken_link`: an entry does not point at the one before it (entries replaced or spliced in);
- `missing_entries`: a gap in the sequence (entries deleted);
- `edited`: a row differs from the content last chained for it (changed outside Signoff);
- `inserted`: a row with no entry, or one chained as deleted (written outside Signoff);
- `deleted`: an entry whose row is gone (Signoff never deletes these rows);
- `truncated` / `rewritten`: the chain no longer reaches, or no longer holds, a head exported earlier
  (`audit_chain_head`). Someone able to rewrite the database can recompute a whole consistent chain;
  only a head kept somewhere else (a witness) shows that the chain it extends has changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from signoff.agent.store.chain import GENESIS_HASH, RECORD_KINDS, RecordKind, entry_hash, read_contents
from signoff.agent.store.engine import SessionFactory, read_session_factory
from signoff.agent.store.tables import AuditChainRow

__all__ = [
    "HEAD_FORMAT",
    "ChainHead",
    "ChainProblem",
    "ChainReport",
    "ProblemKind",
    "WitnessError",
    "audit_chain_head",
    "verify_audit_chain",
]

HEAD_FORMAT = "signoff-audit-head/1"
"""The `format` field of an exported head."""

ProblemKind = Literal[
    "edited_entry", "broken_link", "missing_entries", "edited", "inserted", "deleted", "truncated", "rewritten"
]

# Entries read per query while walking the chain: bounded memory, few round trips.
_ENTRIES_PER_PAGE = 2_000


class WitnessError(ValueError):
    """An exported head that cannot be read."""


@dataclass(frozen=True, kw_only=True)
class ChainHead:
    """The newest entry of the chain: what a witness keeps. `seq` 0 is the empty chain."""

    seq: int
    entry_hash: str
    created_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": HEAD_FORMAT,
            "seq": self.seq,
            "hash": self.entry_hash,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, payload: object) -> ChainHead:
        """Read an exported head; `WitnessError` says what is wrong with it."""
        if not isinstance(payload, Mapping):
            raise WitnessError("the witness is not a JSON object (export one with `signoff audit head --json`)")
        fields: Mapping[str, object] = payload  # pyright: ignore[reportUnknownVariableType]
        if fields.get("format") != HEAD_FORMAT:
            raise WitnessError(f"the witness's format is {fields.get('format')!r}, not {HEAD_FORMAT!r}")
        seq, entry = fields.get("seq"), fields.get("hash")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise WitnessError(f"the witness's seq must be a whole number, not {seq!r}")
        if not isinstance(entry, str) or not entry.startswith("sha256:"):
            raise WitnessError(f"the witness's hash must be a sha256:... string, not {entry!r}")
        return cls(seq=seq, entry_hash=entry)


@dataclass(frozen=True, kw_only=True)
class ChainProblem:
    """One finding; `message` names the record or the entry."""

    kind: ProblemKind
    message: str
    seq: int | None = None
    record_kind: RecordKind | None = None
    record_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "seq": self.seq,
            "record_kind": self.record_kind,
            "record_id": self.record_id,
        }


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    """What `verify_audit_chain` found: intact when `problems` is empty."""

    head: ChainHead
    entries: int
    records: int
    witness: ChainHead | None = None
    problems: list[ChainProblem] = field(default_factory=list[ChainProblem])

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "records": self.records,
            "head": self.head.to_json(),
            "witness": None if self.witness is None else self.witness.to_json(),
            "problems": [problem.to_json() for problem in self.problems],
        }


async def audit_chain_head(session_factory: SessionFactory) -> ChainHead:
    """The chain's newest entry (seq 0 and the genesis hash when it is empty)."""
    async with read_session_factory(session_factory)() as session:
        newest = (await session.execute(select(AuditChainRow).order_by(AuditChainRow.seq.desc()).limit(1))).scalar()
    if newest is None:
        return ChainHead(seq=0, entry_hash=GENESIS_HASH)
    return ChainHead(seq=newest.seq, entry_hash=newest.entry_hash, created_at=newest.created_at)


async def verify_audit_chain(session_factory: SessionFactory, *, witness: ChainHead | None = None) -> ChainReport:
    """Check the chain and every audited row against it, and that it extends `witness` when given."""
    async with read_session_factory(session_factory)() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for the chain and the rows: writers committing meanwhile are not "tampering".
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return await session.run_sync(lambda sync_session: _Verification(sync_session, witness).run())


def _digest(content_json: str | None) -> bytes | None:
    return None if content_json is None else hashlib.sha256(content_json.encode("utf-8")).digest()


def _describe(record_kind: str, record_id: str, content_json: str | None) -> str:
    content: dict[str, Any] = json.loads(content_json) if content_json else {}
    tool, call, run = (content.get(name, "?") for name in ("tool_name", "tool_call_id", "run_id"))
    where = f"{tool!r}, call {call!r} of run {run!r}"
    if record_kind == "tool_call":
        return f"tool call {record_id} ({where})"
    if record_kind == "approval":
        return f"approval {record_id!r} ({where})"
    return f"{record_kind} {record_id!r}"


def _changed_columns(chained_json: str, current_json: str) -> list[str]:
    chained: dict[str, Any] = json.loads(chained_json)
    current: dict[str, Any] = json.loads(current_json)
    return sorted(name for name in chained.keys() | current.keys() if chained.get(name) != current.get(name))


@dataclass
class _Verification:
    session: Session
    witness: ChainHead | None
    problems: list[ChainProblem] = field(default_factory=list[ChainProblem])
    # (kind, record id) -> (seq, digest of content or None when chained as deleted) of its latest entry.
    latest: dict[tuple[str, str], tuple[int, bytes | None]] = field(
        default_factory=dict[tuple[str, str], tuple[int, bytes | None]]
    )

    def run(self) -> ChainReport:
        head, entries, witnessed_hash = self._walk_chain()
        records = self._compare_records()
        if self.witness is not None:
            self._check_witness(self.witness, head, witnessed_hash)
        return ChainReport(head=head, entries=entries, records=records, witness=self.witness, problems=self.problems)

    def _walk_chain(self) -> tuple[ChainHead, int, str | None]:
        head = ChainHead(seq=0, entry_hash=GENESIS_HASH)
        entries = 0
        witnessed_hash = GENESIS_HASH if self.witness is not None and self.witness.seq == 0 else None
        while True:
            page = list(
                self.session.execute(
                    select(AuditChainRow)
                    .where(AuditChainRow.seq > head.seq)
                    .order_by(AuditChainRow.seq)
                    .limit(_ENTRIES_PER_PAGE)
                ).scalars()
            )
            if not page:
                return head, entries, witnessed_hash
            for entry in page:
                entries += 1
                self._check_entry(entry, head)
                if self.witness is not None and entry.seq == self.witness.seq:
                    witnessed_hash = entry.entry_hash
                self.latest[(entry.record_kind, entry.record_id)] = (entry.seq, _digest(entry.content_json))
                head = ChainHead(seq=entry.seq, entry_hash=entry.entry_hash, created_at=entry.created_at)
            self.session.expunge_all()  # the walk keeps digests, not rows

    def _check_entry(self, entry: AuditChainRow, previous: ChainHead) -> None:
        record: dict[str, Any] = {
            "seq": entry.seq,
            "record_kind": _kind(entry.record_kind),
            "record_id": entry.record_id,
        }
        if entry.seq != previous.seq + 1:
            missing = (
                f"{previous.seq + 1}" if entry.seq == previous.seq + 2 else f"{previous.seq + 1} to {entry.seq - 1}"
            )
            self._problem("missing_entries", f"audit chain entries {missing} are missing (deleted)", **record)
        elif entry.prev_hash != previous.entry_hash:
            self._problem(
                "broken_link",
                f"audit chain entry {entry.seq} does not link to entry {previous.seq}: "
                "entries were replaced or spliced in",
                **record,
            )
        recomputed = entry_hash(
            seq=entry.seq,
            record_kind=entry.record_kind,
            record_id=entry.record_id,
            content_json=entry.content_json,
            created_at=entry.created_at,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.entry_hash:
            what = _describe(entry.record_kind, entry.record_id, entry.content_json)
            self._problem("edited_entry", f"audit chain entry {entry.seq} (for {what}) was edited", **record)

    def _compare_records(self) -> int:
        connection = self.session.connection()
        seen: set[tuple[str, str]] = set()
        for kind in RECORD_KINDS:
            for record_id, content_json in read_contents(connection, kind):
                seen.add((kind, record_id))
                self._compare_record(kind, record_id, content_json)
        for (kind, record_id), (seq, digest) in self.latest.items():
            if digest is not None and (kind, record_id) not in seen and kind in RECORD_KINDS:
                what = _describe(kind, record_id, self._chained_content(seq))
                self._problem(
                    "deleted",
                    f"{what} is in the audit chain (entry {seq}) but its row is gone: it was deleted",
                    seq=seq,
                    record_kind=_kind(kind),
                    record_id=record_id,
                )
        return len(seen)

    def _compare_record(self, kind: RecordKind, record_id: str, content_json: str) -> None:
        what = _describe(kind, record_id, content_json)
        chained = self.latest.get((kind, record_id))
        record: dict[str, Any] = {"record_kind": kind, "record_id": record_id}
        if chained is None:
            self._problem("inserted", f"{what} has no audit chain entry: it was written outside Signoff", **record)
            return
        seq, digest = chained
        if digest is None:
            self._problem(
                "inserted",
                f"{what} was chained as deleted (entry {seq}) but exists: it was re-inserted",
                seq=seq,
                **record,
            )
        elif digest != _digest(content_json):
            chained_json = self._chained_content(seq) or "{}"
            columns = ", ".join(_changed_columns(chained_json, content_json))
            self._problem(
                "edited",
                f"{what} differs from its last chained content (entry {seq}) in: {columns}",
                seq=seq,
                **record,
            )

    def _chained_content(self, seq: int) -> str | None:
        query = select(AuditChainRow.content_json).where(AuditChainRow.seq == seq)
        return self.session.execute(query).scalar()

    def _check_witness(self, witness: ChainHead, head: ChainHead, witnessed_hash: str | None) -> None:
        if witnessed_hash is None:
            self._problem(
                "truncated",
                f"the audit chain ends at entry {head.seq}, but the witness saw entry {witness.seq}: "
                "entries were removed from its end",
                seq=witness.seq,
            )
        elif witnessed_hash != witness.entry_hash:
            self._problem(
                "rewritten",
                f"audit chain entry {witness.seq} is not the one the witness saw ({witness.entry_hash}): "
                "the chain was rewritten",
                seq=witness.seq,
            )

    def _problem(
        self,
        kind: ProblemKind,
        message: str,
        *,
        seq: int | None = None,
        record_kind: RecordKind | None = None,
        record_id: str | None = None,
    ) -> None:
        self.problems.append(
            ChainProblem(kind=kind, message=message, seq=seq, record_kind=record_kind, record_id=record_id)
        )


def _kind(record_kind: str) -> RecordKind | None:
    return next((kind for kind in RECORD_KINDS if kind == record_kind), None)
