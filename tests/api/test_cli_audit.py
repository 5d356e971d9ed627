"""`signoff audit verify` and `signoff audit head`: exit codes, messages and `--json`, on a real database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import text

from signoff.agent.store.engine import create_engine
from tests.api.test_cli import start_demo
from tests.support.cli import Signoff


def _raw(signoff: Signoff, sql: str, **params: object) -> None:
    async def run() -> None:
        engine = create_engine(signoff.database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(sql), params)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_verify_an_untouched_database(signoff: Signoff) -> None:
    assert signoff.ok("audit", "verify").splitlines() == [
        "audit chain intact: 0 entries, 0 records checked",
        "head: entry 0 (sha256:" + "0" * 64 + ")",
    ]
    _run_id, approval_id = start_demo(signoff)
    signoff.ok("approve", approval_id)
    report = signoff.json("audit", "verify")
    head = signoff.json("audit", "head")
    assert report["ok"] is True
    assert report["problems"] == []
    # discover, enrich, sync (three tool calls) and one approval; each change of each is one entry.
    assert report["records"] == 4
    assert report["entries"] == head["seq"] > 4
    assert report["head"] == head
    assert head["format"] == "signoff-audit-head/1"
    assert head["hash"].startswith("sha256:")
    assert signoff.ok("audit", "head") == f"entry {head['seq']} ({head['hash']})\n"


def test_verify_fails_naming_the_edited_approval(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)
    _raw(signoff, "UPDATE approvals SET state = 'approved' WHERE approval_id = :approval_id", approval_id=approval_id)

    lines = signoff.fails("audit", "verify", exit_code=1)
    assert len(lines) == 2
    assert lines[0].startswith(f"edited: approval {approval_id!r} ('sync_contacts_to_crm', call ")
    assert f" of run {run_id!r}) differs from its last chained content (entry " in lines[0]
    assert lines[1] == "Error: the audit chain is broken: 1 problem found"
    assert lines[0].endswith(") in: state")

    result = signoff.invoke("audit", "verify", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    [problem] = report["problems"]
    assert (problem["kind"], problem["record_kind"], problem["record_id"]) == ("edited", "approval", approval_id)


def test_verify_against_an_exported_head(signoff: Signoff, tmp_path: Path) -> None:
    start_demo(signoff)
    witness = tmp_path / "head.json"
    witness.write_text(signoff.ok("audit", "head", "--json"))
    head = json.loads(witness.read_text())
    assert signoff.ok("audit", "verify", "--witness", str(witness)).splitlines()[-1] == (
        f"extends the witnessed head: entry {head['seq']} ({head['hash']})"
    )

    _raw(signoff, "DELETE FROM audit_chain WHERE seq = :seq", seq=head["seq"])
    lines = signoff.fails("audit", "verify", "--witness", str(witness), exit_code=1)
    assert lines[-2] == (
        f"truncated: the audit chain ends at entry {head['seq'] - 1}, but the witness saw entry {head['seq']}: "
        "entries were removed from its end"
    )
    assert lines[-1].startswith("Error: the audit chain is broken: ")


def test_a_bad_witness_is_a_one_line_error(signoff: Signoff, tmp_path: Path) -> None:
    not_json = tmp_path / "head.json"
    not_json.write_text("{")
    assert signoff.error("audit", "verify", "--witness", str(not_json)).startswith(
        f"cannot read the witness {str(not_json)!r}: "
    )
    wrong = tmp_path / "other.json"
    wrong.write_text(json.dumps({"format": "signoff-audit-head/1", "seq": -1, "hash": "sha256:x"}))
    assert (
        signoff.error("audit", "verify", "--witness", str(wrong)) == "the witness's seq must be a whole number, not -1"
    )
    assert "does not exist" in signoff.usage_error("audit", "verify", "--witness", str(tmp_path / "missing.json"))
