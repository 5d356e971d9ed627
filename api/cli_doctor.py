"""`signoff doctor`: what this installation would run with, checked end to end, one line per check.

It opens the runtime exactly as every command does (settings, database and its migrations, packs,
policy, model) and reports: the database and schema, the model (Claude or the offline one), each enabled
pack, and each outside service the packs call with its circuit breaker and rate-limit queue as this
process sees them. `--check-credentials` also makes the one cheap read per configured vendor that
`signoff providers check` makes. Exit 1 when any check fails; nothing is ever printed of a credential.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import click
from sqlalchemy.engine import make_url

from signoff.agent.store.migrate import applied_revision, head_revision, pack_head_revision
from signoff.api.cli import _async_command, _emit, _runtime, _settings, cli, json_option
from signoff.api.cli_format import render_table

__all__ = ["doctor_command"]

Verdict = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, kw_only=True)
class _Check:
    check: str
    verdict: Verdict
    detail: str


@cli.command("doctor")
@click.option(
    "--check-credentials", is_flag=True, help="Also make one cheap read call with each configured vendor credential."
)
@json_option
@_async_command
async def doctor_command(check_credentials: bool, as_json: bool) -> None:
    """Check the database, the model, the packs and every outside service; exit 1 when something fails."""
    settings = _settings()
    checks: list[_Check] = []
    async with _runtime() as runtime:
        revision = await applied_revision(runtime.session_factory)
        checks.append(
            _Check(
                check="database",
                verdict="ok" if revision == head_revision() else "fail",
                # The backend's name only: the URL may hold a password.
                detail=f"{make_url(settings.resolved_database_url).get_backend_name()}, schema {revision}",
            )
        )
        model = "offline model (no ANTHROPIC_API_KEY)" if settings.uses_offline_model else f"Claude: {settings.model}"
        checks.append(_Check(check="model", verdict="ok", detail=model))
        for loaded in runtime.packs:
            head = pack_head_revision(loaded.pack)
            applied = await applied_revision(runtime.session_factory, loaded.pack) if head is not None else None
            checks.append(
                _Check(
                    check=f"pack {loaded.pack.name}",
                    verdict="ok" if applied == head else "fail",
                    detail=f"{len(loaded.tools.tools)} tools" + (f", schema {applied}" if head is not None else ""),
                )
            )
        services = await runtime.service_health()
        if not services:
            checks.append(
                _Check(check="vendors", verdict="ok", detail="none configured: the packs use their offline providers")
            )
        for service in services:
            checks.append(
                _Check(
                    check=f"vendor {service.service}",
                    verdict="ok" if service.breaker == "closed" else "warn",
                    detail=f"breaker {service.breaker}, {service.waiting} waiting, {service.in_flight} in flight",
                )
            )
        if check_credentials:
            for answer in await runtime.check_credentials():
                checks.append(
                    _Check(
                        check=f"credential {answer.service}",
                        verdict="ok" if answer.ok else "fail",
                        detail=answer.detail,
                    )
                )
    _emit(
        as_json,
        [asdict(check) for check in checks],
        lambda: render_table(["check", "verdict", "detail"], [[c.check, c.verdict, c.detail] for c in checks]),
    )
    if any(check.verdict == "fail" for check in checks):
        raise click.exceptions.Exit(1)
