"""The tamper-evident audit chain: every committed state of a tool-call or approval row, hash-linked.

Each transaction that inserts, changes or deletes rows of `tool_calls` or `approvals` appends, in the
same transaction and just before it commits, one `audit_chain` entry per such row: the row's content as
committed (canonical JSON of its columns, read back from the database) and
`entry_hash = sha256(format, seq, kind, id, content, created_at, prev_hash)`, where `prev_hash` is the
previous entry's hash. The chain can therefore never lag the records, and `agent.audit_chain` can tell an
edited, inserted or deleted row, or an edited, inserted or deleted entry, from what Signoff wrote.

Nothing at the write sites calls this module. Session events registered here (on every `Session`, when
`signoff.agent.store` is imported) see every write path:

- ORM unit-of-work changes (`session.add`, attribute changes, `session.delete`): `after_flush`.
- `update(...)` and `delete(...)` statements run through a session, which a flush never sees:
  `do_orm_execute` first selects the primary keys the statement's WHERE matches and, on PostgreSQL,
  locks them (`FOR UPDATE`) and restricts the statement to exactly those rows, so the rows it changes
  are the rows it records. (On SQLite the transaction holds the write lock from `BEGIN IMMEDIATE`, so
  nothing can change in between.) The conditional updates keep their meaning: a row another writer
  changed first no longer matches the locked SELECT, as it would not have matched the UPDATE.
- `insert(...)` statements on these tables are refused (`UnchainedWriteError`): use `session.add`.
- `before_commit` flushes, then appends the entries. Raw SQL (`text(...)`) and writes on a bare
  connection are not seen: that is exactly what `signoff audit verify` reports.

Concurrent writers cannot fork the chain: on PostgreSQL the append takes a transaction-level advisory
lock before reading the head, and holds it only for the commit (so it is always the last lock a
transaction takes, and cannot deadlock with the guard's locks); on SQLite every writing transaction
already holds the database's write lock. `seq` is the primary key, so a fork would fail to commit anyway.

Content is every column of the row with a non-NULL value, as the driver returns it (no type
conversion, so the migration that sealed the rows existing at upgrade and later readers agree). NULL
columns are left out so that adding a nullable column does not change existing records' content; a
migration that adds a column with a non-NULL default must append entries for the rows it changed
(`seal_records`). The format (`CHAIN_FORMAT`, `record_content_json`, `entry_hash`) is stored data:
changing it needs a migration of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnClause,
    Connection,
    Select,
    String,
    Table,
    any_,
    bindparam,
    column,
    event,
    insert,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.session import SessionTransaction
from sqlalchemy.sql.dml import Delete, Insert, Update

from signoff.agent.store.tables import Base

__all__ = [
    "CHAIN_FORMAT",
    "CHAIN_LOCK_KEY",
    "GENESIS_HASH",
    "RECORD_KINDS",
    "AuditedTable",
    "RecordKind",
    "UnchainedWriteError",
    "append_entries",
    "audited_table",
    "entry_hash",
    "read_contents",
    "record_content_json",
    "seal_records",
]

RecordKind = Literal["tool_call", "approval"]
RECORD_KINDS: tuple[RecordKind, ...] = ("tool_call", "approval")

CHAIN_FORMAT = 1
"""Version of the entry format; part of every entry's hash."""

GENESIS_HASH = "sha256:" + "0" * 64
"""The `prev_hash` of the first entry."""

CHAIN_LOCK_KEY = 0x5167_0FF0_0000_0002
"""PostgreSQL advisory lock key (a bigint) held while appending; next to `MIGRATION_LOCK_KEY`, used by nothing else."""

# Rows per SELECT when reading records back by key: well under SQLite's and asyncpg's bound-parameter limits.
_KEYS_PER_READ = 500

_PENDING_KEY = "signoff_audit_chain_pending"


class UnchainedWriteError(RuntimeError):
    """A write on an audited table that the chain cannot follow (a bulk INSERT statement)."""


@dataclass(frozen=True, kw_only=True)
class AuditedTable:
    """A table whose rows are chained: its record kind and its (single-column) primary key."""

    kind: RecordKind
    table: Table
    key: str

    def record_id(self, key_value: object) -> str:
        return str(key_value)

    def key_value(self, record_id: str) -> object:
        return int(record_id) if self.key == "audit_id" else record_id

    @property
    def key_column(self) -> Column[Any]:
        return self.table.c[self.key]


_AUDITED: dict[str, AuditedTable] = {
    "tool_calls": AuditedTable(kind="tool_call", table=Base.metadata.tables["tool_calls"], key="audit_id"),
    "approvals": AuditedTable(kind="approval", table=Base.metadata.tables["approvals"], key="approval_id"),
}
_BY_KIND: dict[RecordKind, AuditedTable] = {audited.kind: audited for audited in _AUDITED.values()}
_CHAIN: Table = Base.metadata.tables["audit_chain"]


def audited_table(kind: RecordKind) -> AuditedTable:
    """The table holding records of `kind`."""
    return _BY_KIND[kind]


# --- the format --------------------------------------------------------------------------------------


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def record_content_json(values: Mapping[str, Any]) -> str:
    """The canonical content of one row: its non-NULL columns, as the driver returned them, sorted."""
    content = {name: _plain(value) for name, value in values.items() if value is not None}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _timestamp(created_at: datetime) -> str:
    # Stored as naive UTC and read back UTC-aware (UtcDateTime): hash the aware UTC form either way.
    aware = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at.astimezone(UTC)
    return aware.isoformat()


def entry_hash(
    *, seq: int, record_kind: str, record_id: str, content_json: str | None, created_at: datetime, prev_hash: str
) -> str:
    """The hash of one entry: over its fields and the previous entry's hash."""
    material = json.dumps(
        [CHAIN_FORMAT, seq, record_kind, record_id, content_json, _timestamp(created_at), prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(material.encode("utf-8")).hexdigest()


# --- reading records and appending entries (sync connections: session events and migrations) --------


def _raw_select(audited: AuditedTable, column_names: Sequence[str]) -> tuple[Select[Any], ColumnClause[Any]]:
    # Untyped columns: values come back as the driver gives them, the same in every reader.
    key = column(audited.key, audited.key_column.type)
    columns: list[ColumnClause[Any]] = [key if name == audited.key else column(name) for name in column_names]
    return select(*columns).select_from(table(audited.table.name, *columns)), key


def _chunks(values: Sequence[object]) -> Iterator[Sequence[object]]:
    for start in range(0, len(values), _KEYS_PER_READ):
        yield values[start : start + _KEYS_PER_READ]


def read_contents(
    connection: Connection,
    kind: RecordKind,
    record_ids: Sequence[str] | None = None,
    *,
    column_names: Sequence[str] | None = None,
) -> Iterator[tuple[str, str]]:
    """(record id, canonical content) of the rows with these ids, or of every row, in key order.

    `column_names` defaults to the ORM model's columns (the schema test pins them to the live schema).
    """
    audited = _BY_KIND[kind]
    names = list(column_names or [c.name for c in audited.table.columns])
    query, key = _raw_select(audited, names)
    if record_ids is None:
        batches: Iterable[Select[Any]] = [query.order_by(key)]
    else:
        keys = [audited.key_value(record_id) for record_id in record_ids]
        batches = (query.where(key.in_(chunk)).order_by(key) for chunk in _chunks(keys))
    for batch in batches:
        for row in connection.execute(batch).mappings():
            yield audited.record_id(row[audited.key]), record_content_json({str(name): row[name] for name in row})


def append_entries(
    connection: Connection, records: Sequence[tuple[RecordKind, str, str | None]], *, now: datetime
) -> None:
    """Append one entry per (kind, record id, content or None for a deletion) after the chain's head."""
    if not records:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    head = connection.execute(select(_CHAIN.c.seq, _CHAIN.c.entry_hash).order_by(_CHAIN.c.seq.desc()).limit(1)).first()
    seq, prev_hash = (0, GENESIS_HASH) if head is None else (int(head.seq), str(head.entry_hash))
    entries: list[dict[str, Any]] = []
    for record_kind, record_id, content_json in records:
        seq += 1
        this_hash = entry_hash(
            seq=seq,
            record_kind=record_kind,
            record_id=record_id,
            content_json=content_json,
            created_at=now,
            prev_hash=prev_hash,
        )
        entries.append(
            {
                "seq": seq,
                "record_kind": record_kind,
                "record_id": record_id,
                "content_json": content_json,
                "prev_hash": prev_hash,
                "entry_hash": this_hash,
                "created_at": now,
            }
        )
        prev_hash = this_hash
    connection.execute(insert(_CHAIN), entries)


def seal_records(connection: Connection, *, now: datetime) -> int:
    """Append an entry for every existing row of the audited tables, as it is now; returns how many.

    For migrations: the rows a database held before it had a chain (0008), or rows a migration changed.
    Columns are the table's as it is at that revision, not the current ORM model's.
    """
    records: list[tuple[RecordKind, str, str | None]] = []
    for kind in RECORD_KINDS:
        audited = _BY_KIND[kind]
        names = [str(c["name"]) for c in inspect(connection).get_columns(audited.table.name)]
        records.extend(
            (kind, record_id, content) for record_id, content in read_contents(connection, kind, column_names=names)
        )
    append_entries(connection, records, now=now)
    return len(records)


# --- session events: every write path of a session records what it touched --------------------------


def _pending(session: Session) -> dict[tuple[RecordKind, str], bool]:
    """(kind, record id) -> whether it was deleted, for the rows this transaction touched."""
    pending: dict[tuple[RecordKind, str], bool] = session.info.setdefault(_PENDING_KEY, {})
    return pending


def _note(session: Session, audited: AuditedTable, key_values: Iterable[object], *, deleted: bool) -> None:
    pending = _pending(session)
    for key_value in key_values:
        record = (audited.kind, audited.record_id(key_value))
        pending[record] = deleted or pending.get(record, False)


def _audited_statement_table(statement: object) -> AuditedTable | None:
    if not isinstance(statement, Update | Delete | Insert):
        return None
    return _AUDITED.get(getattr(statement.table, "name", ""))


@event.listens_for(Session, "do_orm_execute")
def _track_statement(state: ORMExecuteState) -> None:
    statement = state.statement
    audited = _audited_statement_table(statement)
    if audited is None:
        return
    if isinstance(statement, Insert):
        raise UnchainedWriteError(
            f"an INSERT statement on {audited.table.name!r} bypasses the audit chain; add rows with session.add()"
        )
    assert isinstance(statement, Update | Delete)
    deleted = isinstance(statement, Delete)
    parameters = state.parameters
    if isinstance(parameters, Sequence) and parameters:
        # ORM bulk UPDATE by primary key: one parameter set per row, the key in each.
        _note(state.session, audited, [row[audited.key] for row in parameters], deleted=deleted)
        return
    single: Mapping[str, Any] = parameters if isinstance(parameters, Mapping) else {}
    key = audited.key_column
    probe = select(key).order_by(key)
    if statement.whereclause is not None:
        probe = probe.where(statement.whereclause)
    postgres = state.session.connection().dialect.name == "postgresql"
    if postgres:
        probe = probe.with_for_update()
    matched: list[object] = list(state.session.execute(probe, dict(single)).scalars())
    if postgres:
        # Exactly the rows locked above; one array parameter however many there are.
        state.statement = statement.where(key == any_(_key_array(audited, matched)))
    _note(state.session, audited, matched, deleted=deleted)


def _key_array(audited: AuditedTable, keys: list[object]) -> Any:
    element_type = BigInteger() if audited.key == "audit_id" else String()
    return bindparam(None, keys, type_=ARRAY(element_type))


@event.listens_for(Session, "after_flush")
def _track_flush(session: Session, _flush_context: UOWTransaction) -> None:
    changed: list[object] = [*session.new, *(obj for obj in session.dirty if session.is_modified(obj))]
    deleted_objects: list[object] = list(session.deleted)
    for deleted, objects in ((False, changed), (True, deleted_objects)):
        for obj in objects:
            audited = _AUDITED.get(getattr(type(obj), "__tablename__", ""))
            if audited is not None:
                _note(session, audited, [getattr(obj, audited.key)], deleted=deleted)


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # the outermost commit appends for the whole transaction
    if not session.info.get(_PENDING_KEY) and not (session.new or session.dirty or session.deleted):
        return
    session.flush()  # the commit would flush next; what it writes belongs in this transaction's entries
    pending: dict[tuple[RecordKind, str], bool] = session.info.pop(_PENDING_KEY, {})
    if not pending:
        return
    connection = session.connection()
    records: list[tuple[RecordKind, str, str | None]] = []
    for kind in RECORD_KINDS:
        # Shorter first, then by text: tool calls' integer ids in numeric order, approvals' in a fixed one.
        record_ids = sorted(
            (record_id for record_kind, record_id in pending if record_kind == kind), key=lambda i: (len(i), i)
        )
        if not record_ids:
            continue
        contents = dict(read_contents(connection, kind, record_ids))
        for record_id in record_ids:
            if record_id in contents:
                records.append((kind, record_id, contents[record_id]))
            elif pending[(kind, record_id)]:
                records.append((kind, record_id, None))
            # else: inserted in a savepoint that rolled back; there is nothing to record
    append_entries(connection, records, now=datetime.now(UTC))


@event.listens_for(Session, "after_transaction_end")
def _forget_on_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)
