"""`signoff dev`: local doubles of outside services, in the foreground.

- `signoff dev fake-anthropic`: a double of Anthropic's Messages API. Point any Messages API client at it
  with `ANTHROPIC_BASE_URL=http://127.0.0.1:<port>` (any API key). With `--script FILE.json` (a JSON list
  of replies: `{"text": ..., "tool_uses": [{"name": ..., "input": {...}}]}`) requests get those replies in
  order; without one, every request gets a reply saying it came from the double. See docs/anthropic-double.md.
- `signoff dev fake-providers`: every enabled pack's vendor doubles (`ToolPack.fake_providers`), with the
  `SIGNOFF_PACK_OPTIONS` line that points the packs at them, until SIGINT or SIGTERM. See docs/fake-providers.md.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import cast

import click

from signoff.api.cli import _async_command, _settings, cli, json_option
from signoff.api.dev.anthropic_double import MessagesDouble, Reply, Script, ScriptFileError, load_script
from signoff.api.display import terminal_safe
from signoff.api.runtime import enabled_packs
from signoff.tools.packs import FakeProviders

__all__ = ["dev_group", "fake_providers_command"]

# Where `ToolPack.fake_providers` serves by contract; another host is passed only to a pack that takes it.
DEFAULT_FAKE_HOST = "127.0.0.1"

# Without a script, the answer itself tells a misconfigured client where its request went.
UNSCRIPTED_REPLY = Reply(
    "This is Signoff's local Anthropic Messages API double (signoff dev fake-anthropic). "
    "It was started without a script, so every request gets this reply."
)


@cli.group("dev")
def dev_group() -> None:
    """Development aids that run on this machine only."""


@dev_group.command("fake-anthropic")
@click.option("--port", type=click.IntRange(1, 65535), required=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--script",
    "script_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help='JSON list of replies, answered in order: [{"text": "...", "tool_uses": [{"name": "...", "input": {}}]}].',
)
def fake_anthropic_command(port: int, host: str, script_path: Path | None) -> None:
    """Serve a local double of Anthropic's Messages API until interrupted."""
    script: Script = _unscripted
    scripted = "no script"
    if script_path is not None:
        try:
            replies = load_script(script_path)
        except ScriptFileError as error:
            raise click.ClickException(str(error)) from None
        script, scripted = replies, f"{len(replies)} scripted replies"
    base_url = f"http://{host}:{port}"
    click.echo(f"Anthropic Messages API double on {base_url} ({scripted}); set ANTHROPIC_BASE_URL={base_url}")
    MessagesDouble(script).run(host=host, port=port)


def _unscripted(body: dict[str, object]) -> Reply:
    return UNSCRIPTED_REPLY


@dev_group.command("fake-providers")
@click.option(
    "--host",
    default=DEFAULT_FAKE_HOST,
    show_default=True,
    help="Interface the doubles listen on (each on a free port).",
)
@json_option
@_async_command
async def fake_providers_command(host: str, as_json: bool) -> None:
    """Serve every enabled pack's vendor doubles until interrupted; print the SIGNOFF_PACK_OPTIONS that use them.

    Stdout holds only the `export SIGNOFF_PACK_OPTIONS='...'` line (with --json: {"pack_options": {...}});
    where each double listens goes to stderr. Stops cleanly, exit 0, on Ctrl-C or SIGTERM.
    """
    packs = enabled_packs(_settings())
    with_fakes = [pack for pack in packs if pack.fake_providers is not None]
    for pack in packs:
        if pack.fake_providers is None:
            click.echo(f"pack {pack.name!r} has no fake providers; skipped", err=True)
    if not with_fakes:
        enabled = ", ".join(pack.name for pack in packs) or "none (SIGNOFF_GUARD brings its own tools)"
        raise click.ClickException(f"no enabled pack has fake providers; enabled packs: {enabled}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    for signum in stop_signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with AsyncExitStack() as doubles:
            pack_options: dict[str, dict[str, str]] = {}
            for pack in with_fakes:
                fakes = cast(FakeProviders, pack.fake_providers)
                try:
                    pack_options[pack.name] = dict(await doubles.enter_async_context(_started(fakes, host)))
                except OSError as error:
                    # Not the database (the shared handler's guess for an OSError): a double could not listen.
                    raise click.ClickException(
                        f"pack {pack.name!r}: its fake providers could not start on {host} ({error.strerror or error})"
                    ) from None
            if as_json:
                click.echo(json.dumps({"pack_options": pack_options}, sort_keys=True))
            else:
                click.echo(f"export SIGNOFF_PACK_OPTIONS={shlex.quote(json.dumps(pack_options, sort_keys=True))}")
            sys.stdout.flush()  # a reader of the pipe needs the line now, not when the process ends
            click.echo(terminal_safe(_listening_text(pack_options)), err=True)
            await stop.wait()
    finally:
        for signum in stop_signals:
            loop.remove_signal_handler(signum)
    click.echo("fake providers stopped", err=True)


def _started(fakes: FakeProviders, host: str) -> AbstractAsyncContextManager[Mapping[str, str]]:
    """The pack's doubles, listening on `host`."""
    return fakes(host=host)


def _listening_text(pack_options: Mapping[str, Mapping[str, str]]) -> str:
    """Where each double listens (from the options that point at it), and what to do next."""
    lines: list[str] = []
    for pack_name, options in pack_options.items():
        lines.append(f"{pack_name}:")
        services: list[tuple[str, str]] = []
        for name, value in options.items():
            if name.endswith("_base_url"):
                services.append((name.removesuffix("_base_url"), value))
            elif name.endswith("_host") and (port := options.get(name.removesuffix("_host") + "_port")):
                services.append((name.removesuffix("_host"), f"{value}:{port}"))
        width = max((len(service) for service, _ in services), default=0)
        lines.extend(f"  {service.ljust(width)}  {where}" for service, where in sorted(services))
    lines.append(
        "Set SIGNOFF_PACK_OPTIONS as printed on stdout in the shell you run signoff in, then try"
        " `signoff providers check` or a demo task. The credentials in it are fake: they open only these doubles."
    )
    lines.append("Ctrl-C to stop.")
    return "\n".join(lines)
