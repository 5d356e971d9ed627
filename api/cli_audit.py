"""`signoff audit`: check the tamper-evident audit chain, and export its head for an outside witness.

`verify` exits 1 when it finds a problem (each is one line on stderr naming the record or the entry, or,
with `--json`, the report on stdout). `head --json` prints what a witness keeps; `verify --witness FILE`
checks that the chain still extends it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from signoff.agent.audit_chain import ChainHead, ChainReport, WitnessError, audit_chain_head, verify_audit_chain
from signoff.api.cli import _async_command, _emit, _runtime, cli, json_option

__all__ = ["audit_group"]

# Problems listed one per line before the summary; the rest are counted (`--json` has them all).
_SHOWN_PROBLEMS = 50


@cli.group("audit")
def audit_group() -> None:
    """Check the tamper-evident audit chain of decisions, approvals and executions."""


def _read_witness(path: Path) -> ChainHead:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WitnessError(f"cannot read the witness {str(path)!r}: {error}") from None
    return ChainHead.from_json(payload)


def _short(head: ChainHead) -> str:
    return f"entry {head.seq} ({head.entry_hash})"


def _intact(report: ChainReport) -> str:
    lines = [
        f"audit chain intact: {report.entries} entries, {report.records} records checked",
        f"head: {_short(report.head)}",
    ]
    if report.witness is not None:
        lines.append(f"extends the witnessed head: {_short(report.witness)}")
    return "\n".join(lines)


@audit_group.command("verify")
@click.option(
    "--witness",
    "witness_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A head saved earlier with `signoff audit head --json`: check the chain still extends it.",
)
@json_option
@_async_command
async def audit_verify_command(witness_path: Path | None, as_json: bool) -> None:
    """Recompute the chain and compare every tool call and approval with it; exit 1 on any problem."""
    witness = None if witness_path is None else _read_witness(witness_path)
    async with _runtime() as runtime:
        report = await verify_audit_chain(runtime.session_factory, witness=witness)
    if report.ok:
        _emit(as_json, report.to_json(), lambda: _intact(report))
        return
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
        raise click.exceptions.Exit(1)
    for problem in report.problems[:_SHOWN_PROBLEMS]:
        click.echo(f"{problem.kind}: {problem.message}", err=True)
    hidden = len(report.problems) - _SHOWN_PROBLEMS
    if hidden > 0:
        click.echo(f"... and {hidden} more (--json lists them all)", err=True)
    count = len(report.problems)
    raise click.ClickException(f"the audit chain is broken: {count} problem{'s' if count != 1 else ''} found")


@audit_group.command("head")
@json_option
@_async_command
async def audit_head_command(as_json: bool) -> None:
    """Print the chain's newest entry; keep `--json`'s output somewhere else to check against later."""
    async with _runtime() as runtime:
        head = await audit_chain_head(runtime.session_factory)
    _emit(as_json, head.to_json(), lambda: _short(head))
