"""CLI input that the database would refuse, and a damaged ledger spool, give one-line errors or none."""

from __future__ import annotations

from tests.api.test_cli import start_demo
from tests.support.cli import Signoff

_TORN_SPOOL_LINE = '{"cache_read_tokens": 0, "cache_write_tok'


def test_a_torn_ledger_spool_does_not_break_every_command(signoff: Signoff) -> None:
    signoff.ok("runs")
    signoff.data_dir.mkdir(parents=True, exist_ok=True)
    (signoff.data_dir / "ledger-spool.jsonl").write_text(_TORN_SPOOL_LINE, encoding="utf-8")
    result = signoff.invoke("runs", "--json")
    assert result.exit_code == 0, result.output


def test_a_too_long_decider_name_is_a_one_line_error(signoff: Signoff) -> None:
    _run_id, approval_id = start_demo(signoff)
    assert signoff.error("approve", approval_id, "--as", "x" * 201) == (
        "the decider's name is 201 characters; the limit is 200"
    )
    [pending] = signoff.json("approvals")
    assert pending["approval_id"] == approval_id
