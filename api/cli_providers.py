"""`signoff providers check`: one cheap read call with each configured vendor credential, one line each.

It opens the runtime as every command does and asks each enabled pack (`PackTools.check_credentials`)
to prove its credentials with a read that changes and costs nothing. A refused credential is a line with
`ok` false and the command exits 1; nothing configured is said so (exit 0): the packs then use their
offline providers. The details are built by the packs' clients from status codes and machine codes, never
from a credential or a vendor's raw answer; this command also masks any credential-like option value
(a name ending in key, token, secret or password) should one ever appear in a detail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from signoff.api.cli import _async_command, _emit, _runtime, _settings, cli, json_option
from signoff.api.cli_format import render_table

__all__ = ["providers_check_command", "providers_group"]

# Option names that hold credentials by every pack's naming: their values never reach the output.
_CREDENTIAL_SUFFIXES = ("key", "token", "secret", "password")
_MASK = "***"
# Shorter values are not masked: replacing every "ab" in a detail would garble it, and hide nothing worth it.
_MIN_MASKED_LENGTH = 4


@cli.group("providers")
def providers_group() -> None:
    """The outside services (vendors) the enabled packs call."""


@providers_group.command("check")
@json_option
@_async_command
async def providers_check_command(as_json: bool) -> None:
    """Check each configured vendor credential with one cheap read call; exit 1 when any is refused."""
    settings = _settings()
    async with _runtime() as runtime:
        checks = await runtime.check_credentials()
        pack_names = [loaded.pack.name for loaded in runtime.packs]
    secrets = _credential_values(settings.pack_options)
    views = [{"service": check.service, "ok": check.ok, "detail": _masked(check.detail, secrets)} for check in checks]

    def human() -> str:
        if not views:
            return _nothing_configured(pack_names)
        rows = [[view["service"], "yes" if view["ok"] else "NO", view["detail"]] for view in views]
        return render_table(["service", "ok", "detail"], rows)

    _emit(as_json, views, human)
    if any(not view["ok"] for view in views):
        raise click.exceptions.Exit(1)


def _nothing_configured(pack_names: Sequence[str]) -> str:
    message = "no vendor credentials are configured"
    if len(pack_names) == 1:
        return f"{message}: the {pack_names[0]} pack uses its offline providers"
    if pack_names:
        return f"{message}: the packs {', '.join(pack_names)} use their offline providers"
    return message


def _credential_values(pack_options: Mapping[str, Mapping[str, Any]]) -> list[str]:
    values = {
        str(value)
        for options in pack_options.values()
        for name, value in options.items()
        if name.lower().endswith(_CREDENTIAL_SUFFIXES) and len(str(value)) >= _MIN_MASKED_LENGTH
    }
    # Longest first, so a credential that contains another is masked whole.
    return sorted(values, key=len, reverse=True)


def _masked(detail: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        detail = detail.replace(secret, _MASK)
    return detail
