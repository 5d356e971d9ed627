"""`signoff dev fake-anthropic`: a local double of Anthropic's Messages API, in the foreground.

Point any Messages API client at it with `ANTHROPIC_BASE_URL=http://127.0.0.1:<port>` (any API key).
With `--script FILE.json` (a JSON list of replies: `{"text": ..., "tool_uses": [{"name": ..., "input":
{...}}]}`) requests get those replies in order; without one, every request gets a reply saying it came
from the double. See docs/anthropic-double.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from signoff.api.cli import cli
from signoff.api.dev.anthropic_double import MessagesDouble, Reply, Script, ScriptFileError, load_script

__all__ = ["dev_group"]

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
