"""The `signoff` command line: run tasks, work the approval queue, read costs, check policy.

Every command that shows data takes `--json` (stable field names, for scripts). Bad input gets a
one-line message and a non-zero exit, and changes nothing.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from functools import wraps
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from signoff.agent.approvals import ApprovalAlreadyDecided, ApprovalError, ApprovalRefused
from signoff.agent.attention import attention_of_runs, attention_payload, run_statuses
from signoff.agent.costs import CostGrouping, CostLine, cost_report
from signoff.agent.framing import TaskInputError
from signoff.agent.resolutions import ResolutionError, call_of_approval
from signoff.agent.runs import ConversationNotFound, RunNotFound, RunOutcome
from signoff.agent.runtime import Runtime
from signoff.agent.store import api_keys as key_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.migrate import applied_revision, pack_head_revision
from signoff.agent.store.tables import APPROVAL_STATES, RUN_STATUSES
from signoff.api.approval_views import approval_views, run_detail
from signoff.api.cli_format import render_table, truncate
from signoff.api.display import terminal_safe
from signoff.api.keys import ROLES, ApiKeyError, create_api_key, revoke_api_key
from signoff.api.runtime import check_configuration, enabled_packs, open_runtime
from signoff.api.schemas import ApprovalView, CostLineView
from signoff.api.settings import Settings
from signoff.api.views import (
    answer_check_view,
    resolution_view,
    run_summary_view,
)
from signoff.policies import PolicyConfigError
from signoff.prompts import PromptError
from signoff.tools.packs import PackLoadError, ToolPack, available_packs
from signoff.tools.registry import ToolArgumentsError, UnknownToolError

__all__ = ["cli", "main"]

# Errors whose message is meant for the person at the terminal: shown as one line, exit status 1.
_USER_ERRORS = (
    ApiKeyError,
    ApprovalError,
    ResolutionError,
    RunNotFound,
    ConversationNotFound,
    PromptError,
    TaskInputError,
    ToolArgumentsError,
    UnknownToolError,
    PolicyConfigError,
    PackLoadError,
    ValueError,
)


class SettingsError(ValueError):
    """A setting from the environment has a bad value; the message names it on one line."""


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_settings_error(error)) from None


def _runtime() -> AbstractAsyncContextManager[Runtime]:
    return open_runtime(_settings())


def _async_command(func: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async command body, turning expected errors into clean CLI messages."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            asyncio.run(func(*args, **kwargs))
        except _USER_ERRORS as error:
            raise click.ClickException(str(error)) from None
        except (OSError, OperationalError, InterfaceError) as error:
            # Connection failures: say which kind, never the URL (it may hold a password).
            raise click.ClickException(
                f"cannot use the database ({type(error).__name__}); check SIGNOFF_DATABASE_URL and that the server runs"
            ) from None

    return wrapper


_SENSITIVE_SUFFIXES = ("KEY", "TOKEN", "URL", "OPTIONS", "SECRET", "PASSWORD", "FILE")


def _settings_error(error: ValidationError) -> str:
    """One line naming each bad setting by its environment variable, with the value given."""
    problems = []
    for detail in error.errors(include_url=False):
        field = "_".join(str(part) for part in detail["loc"]).upper()
        variable = field if field == "ANTHROPIC_API_KEY" else f"SIGNOFF_{field}" if field else "settings"
        # A value is echoed only where it cannot hold a credential: never for keys, tokens, URLs (passwords),
        # pack options (vendor keys) or a check of the whole settings (its input is every setting).
        sensitive = not detail["loc"] or "secret" in detail["type"] or variable.endswith(_SENSITIVE_SUFFIXES)
        shown = "" if sensitive else f"={detail['input']!r}"
        problems.append(f"{variable}{shown}: {detail['msg']}")
    return "invalid settings: " + "; ".join(problems)


def _emit(as_json: bool, payload: Any, human: Callable[[], str]) -> None:
    if as_json:
        # ASCII-escaped JSON: no byte of a value can act on the terminal.
        click.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))
    else:
        # Answers, summaries and task text may hold what a hijacked model wrote: escapes and bidi controls
        # are shown as markers, never sent to the terminal.
        click.echo(terminal_safe(human()))


def _parse_json_object(text: str, *, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"{what} is not valid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(value, dict):
        raise click.BadParameter(f'{what} must be a JSON object, like \'{{"key": "value"}}\'')
    return value  # pyright: ignore[reportUnknownVariableType]


def _default_principal() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON with stable field names.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="signoff")
def cli() -> None:
    """Signoff: Claude plans sales-operations work; a person signs off on every side effect."""


# --- runs ---------------------------------------------------------------------------------------


def _outcome_view(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "output": outcome.output,
        "failure_reason": outcome.failure_reason,
        "pending_approval_ids": list(outcome.pending_approval_ids),
        "attention": attention_payload(outcome.attention),
    }


def _attention_lines(attention: Sequence[dict[str, Any]]) -> list[str]:
    """What about the run needs a person (`attention_payload`), first of all, so `completed` is never read alone."""
    lines: list[str] = []
    for item in attention:
        lines.append(f"NEEDS ATTENTION ({item['kind']}): {item['message']}")
        for call in item["calls"]:
            lines.append(f"  ! {truncate(call['summary'], 100)} — {call['detail']}")
            if item["kind"] == "unknown_outcome":
                lines.append(
                    f"    once checked: signoff resolve {call['run_id']} {call['tool_call_id']} "
                    "--happened | --did-not-happen --note '...'"
                )
    return lines


def _status_text(status: str, attention: Sequence[dict[str, Any]]) -> str:
    """The status with what it must not be read without: "completed, needs attention: denied_by_limits"."""
    if not attention:
        return status
    return f"{status}, needs attention: {', '.join(item['kind'] for item in attention)}"


def _effect_lines(honesty: dict[str, Any], *, list_pending: bool = True) -> list[str]:
    """What the run's effects came to, from the audit (`answer_check_view`), shown beside the answer.

    Without `list_pending`, calls awaiting approval are only counted (the caller lists them with their ids)."""
    lines = [f"What happened (from the audit): {honesty['outcome']['summary']}"]
    for effect in honesty["outcome"]["effects"]:
        if not list_pending and effect["outcome"] == "awaiting_approval":
            continue
        detail = "" if effect["outcome"] == "executed" else f" — {effect['detail']}"
        lines.append(f"  [{effect['outcome']}] {truncate(effect['summary'], 100)}{detail}")
    return lines


def _claim_notes(honesty: dict[str, Any]) -> list[str]:
    """One "Note: the answer says X, but Y" line per claim of the answer that the audit contradicts."""
    return [f"Note: {claim['note']}" for claim in honesty["claims"]]


async def _describe_outcome(runtime: Runtime, outcome: RunOutcome) -> str:
    honesty = answer_check_view(await runtime.answer_check(outcome.run_id))
    lines = [f"run {outcome.run_id}: {_status_text(outcome.status, honesty['attention'])}"]
    if honesty["attention"]:
        lines += ["", *_attention_lines(honesty["attention"])]
    if outcome.output or honesty["outcome"]["effects"]:
        lines += ["", *_effect_lines(honesty, list_pending=False)]
    if outcome.output:
        lines += ["", outcome.output]
        # The answer is never shown alone when it claims an effect that did not happen.
        if honesty["claims"]:
            lines += ["", *_claim_notes(honesty)]
    if outcome.failure_reason:
        lines += ["", f"failed: {outcome.failure_reason}"]
    if outcome.pending_approval_ids:
        lines += ["", "Waiting for approval:"]
        for approval_id in outcome.pending_approval_ids:
            approval = await runtime.approvals.get(approval_id)
            lines.append(f"  {approval_id}  {approval.summary}")
        lines += [
            "",
            "Approve with:  signoff approve APPROVAL_ID",
            "Deny with:     signoff deny APPROVAL_ID --reason 'why'",
        ]
    return "\n".join(lines)


@cli.command("run")
@click.argument("task")
@click.option("--context", "context_json", help="JSON object of context data for the task.")
@click.option("--conversation", "conversation_id", help="Continue this conversation.")
@json_option
@_async_command
async def run_command(task: str, context_json: str | None, conversation_id: str | None, as_json: bool) -> None:
    """Run TASK until it completes, fails, or waits for approval."""
    context = None if context_json is None else _parse_json_object(context_json, what="--context")
    async with _runtime() as runtime:
        outcome = await runtime.runner.start(
            task, context=context, requested_by=_default_principal(), conversation_id=conversation_id
        )
        text = await _describe_outcome(runtime, outcome)
        honesty = answer_check_view(await runtime.answer_check(outcome.run_id))
    _emit(as_json, {**_outcome_view(outcome), **honesty}, lambda: text)


@cli.command("runs")
@click.option("--status", type=click.Choice(RUN_STATUSES), multiple=True, help="Only runs in this status.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
@_async_command
async def runs_command(status: Sequence[str], limit: int, as_json: bool) -> None:
    """List runs, newest first."""
    async with _runtime() as runtime, runtime.session_factory() as session:
        rows = await run_store.list_runs(session, statuses=list(status) or None, limit=limit)  # pyright: ignore[reportArgumentType]
        attention = await attention_of_runs(session, statuses=run_statuses(rows), registry=runtime.registry)
    views = [{**run_summary_view(row), "attention": attention_payload(attention[row.run_id])} for row in rows]
    _emit(
        as_json,
        views,
        lambda: render_table(
            ["run_id", "status", "created", "task"],
            [
                [v["run_id"], _status_text(v["status"], v["attention"]), v["created_at"][:19], truncate(v["task"], 60)]
                for v in views
            ],
            empty="no runs yet",
        ),
    )


@cli.command("show")
@click.argument("run_id")
@json_option
@_async_command
async def show_command(run_id: str, as_json: bool) -> None:
    """Show a run: its conversation, tool calls with decisions, approvals and costs."""
    async with _runtime() as runtime:
        async with runtime.session_factory() as session:
            run = await run_store.get_run(session, run_id=run_id)
        if run is None:
            raise RunNotFound(run_id)
        payload = await run_detail(runtime, run)
    _emit(as_json, payload, lambda: _render_run(payload))


def _render_run(payload: dict[str, Any]) -> str:
    lines = [
        f"run {payload['run_id']}  [{_status_text(payload['status'], payload['attention'])}]",
        f"task:    {payload['task']}",
        f"model:   {payload['model']}   prompt: {payload['prompt']['name']}@{payload['prompt']['version']}",
        f"policy:  {payload['policy_version']}   requested by {payload['requested_by']}",
        "",
        "Conversation:",
    ]
    for entry in payload["conversation"]:
        match entry["kind"]:
            case "user":
                content = entry["content"] if isinstance(entry["content"], str) else "\n".join(entry["content"])
                lines.append(f"  user:      {truncate(content, 200)}")
            case "assistant":
                lines.append(f"  assistant: {truncate(entry['content'], 400)}")
            case "tool_call":
                lines.append(f"  -> {entry['tool']}({truncate(json.dumps(entry['args']), 150)})")
            case _:
                lines.append(
                    f"  <- {entry['tool']} [{entry.get('outcome', 'retry')}]: {truncate(entry['content'], 150)}"
                )
    lines += ["", "Tool calls:"]
    lines.append(
        render_table(
            ["tool", "verdict", "rule", "status", "items", "ms"],
            [
                [c["tool"], c["verdict"], c["rule"], c["status"], c["items"], c["duration_ms"] or ""]
                for c in payload["tool_calls"]
            ],
            empty="  none",
        )
    )
    if payload["approvals"]:
        lines += ["", "Approvals:"]
        lines.append(
            render_table(
                ["approval_id", "state", "decided_by", "summary"],
                [
                    [a["approval_id"], a["state"], a["decided_by"] or "", truncate(a["summary"], 60)]
                    for a in payload["approvals"]
                ],
            )
        )
    lines += [
        "",
        f"Model requests: {len(payload['ledger'])}   cost: "
        + (f"${payload['cost_usd']}" if payload["cost_usd"] is not None else "unknown")
        + (f"   ({payload['unpriced_requests']} without a known price)" if payload["unpriced_requests"] else ""),
    ]
    lines += ["", *_effect_lines(payload)]
    if payload["attention"]:
        lines += ["", *_attention_lines(payload["attention"])]
    if payload["output"]:
        lines += ["", "Answer:", payload["output"]]
        # The answer is never shown alone when it claims an effect that did not happen.
        if payload["claims"]:
            lines += ["", *_claim_notes(payload)]
    if payload["failure_reason"]:
        lines += ["", f"Failed: {payload['failure_reason']}"]
    return "\n".join(lines)


@cli.command("recover")
@json_option
@_async_command
async def recover_command(as_json: bool) -> None:
    """Settle runs and calls left by a process that died, and continue what can continue."""
    async with _runtime() as runtime:
        outcomes = await runtime.runner.recover()
    views = [_outcome_view(o) for o in outcomes]
    _emit(
        as_json,
        views,
        lambda: render_table(
            ["run_id", "status"], [[v["run_id"], v["status"]] for v in views], empty="nothing to recover"
        ),
    )


# --- approvals ----------------------------------------------------------------------------------


@cli.command("approvals")
@click.option(
    "--state",
    "states",
    type=click.Choice(APPROVAL_STATES),
    multiple=True,
    help="Only approvals in this state (default: pending).",
)
@click.option("--all", "show_all", is_flag=True, help="Approvals in every state.")
@click.option("--run", "run_id", help="Only approvals of this run.")
@json_option
@_async_command
async def approvals_command(states: Sequence[str], show_all: bool, run_id: str | None, as_json: bool) -> None:
    """List approvals, oldest first (pending ones unless told otherwise)."""
    selected = None if show_all else (list(states) or ["pending"])
    async with _runtime() as runtime:
        rows = await runtime.approvals.list(states=selected, run_id=run_id, limit=1000)  # pyright: ignore[reportArgumentType]
        views = [view.model_dump() for view in await approval_views(runtime, rows)]
    _emit(as_json, views, lambda: _render_approvals(views, empty="no approvals" + ("" if show_all else " waiting")))


def _render_approvals(views: Sequence[dict[str, Any]], *, empty: str) -> str:
    """The warnings of each approval that has any, in full, then the table (summaries as displayed)."""
    table = render_table(
        ["approval_id", "state", "tool", "warnings", "summary"],
        [
            [v["approval_id"], v["state"], v["tool"], len(v["warnings"]) or "-", truncate(v["display_summary"], 70)]
            for v in views
        ],
        empty=empty,
    )
    warned = [v for v in views if v["warnings"]]
    if not warned:
        return table
    lines = ["WARNINGS: read these before deciding."]
    for view in warned:
        lines += ["", f"{view['approval_id']} ({view['tool']}):", *_warning_lines(view)]
    return "\n".join([*lines, "", table])


def _warning_lines(view: dict[str, Any]) -> list[str]:
    lines = [f"  ! {warning}" for warning in view["warnings"]]
    # What the call overwrites, right under the warning that says it does.
    return lines + [f"    - {change}" for change in view.get("changes", [])]


async def _after_decision(runtime: Runtime, run_id: str) -> RunOutcome:
    return await runtime.runner.resume(run_id)


async def _resume_if_expired(runtime: Runtime, error: ApprovalAlreadyDecided) -> None:
    """An approval that expired counts as decided: let its run go on, so it does not wait forever."""
    if error.state == "expired":
        approval = await runtime.approvals.get(error.approval_id)
        outcome = await runtime.runner.resume(approval.run_id)
        raise ApprovalAlreadyDecided(
            error.approval_id, f"expired; run {outcome.run_id} went on and is {outcome.status}"
        )


@cli.command("approve")
@click.argument("approval_id")
@click.option("--edit", "edit_json", help="Approve with these arguments instead (JSON object); re-validated.")
@click.option("--note", help="A note kept in the audit trail.")
@click.option("--as", "decided_by", default=_default_principal, help="Who is deciding (default: cli:<user>).")
@click.option(
    "--no-resume",
    is_flag=True,
    help="Only record the decision; a running `signoff serve` continues the run (within seconds).",
)
@json_option
@_async_command
async def approve_command(
    approval_id: str, edit_json: str | None, note: str | None, decided_by: str, no_resume: bool, as_json: bool
) -> None:
    """Approve a pending call (and resume its run once nothing else is pending)."""
    edited = None if edit_json is None else _parse_json_object(edit_json, what="--edit")
    async with _runtime() as runtime:
        try:
            approval = await runtime.approvals.approve(
                approval_id, decided_by=decided_by, note=note, edited_args=edited
            )
        except ApprovalRefused as error:
            details = "".join(f"\n  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors)
            raise click.ClickException(f"{error}{details}") from None
        if no_resume:
            outcome = await runtime.runner.outcome(approval.run_id)
        else:
            outcome = await _after_decision(runtime, approval.run_id)
        [view] = await approval_views(runtime, [approval])
        text = _decided_text(f"approved {approval_id}", view) + await _describe_outcome(runtime, outcome)
    _emit(as_json, {"approval": view.model_dump(), "run": _outcome_view(outcome)}, lambda: text)


def _decided_text(headline: str, view: ApprovalView) -> str:
    """The first lines after a decision: what was decided and the warnings it carried."""
    lines = [headline]
    if view.warnings:
        lines += [f"It carried {len(view.warnings)} warning(s):", *_warning_lines(view.model_dump())]
    return "\n".join(lines) + "\n\n"


@cli.command("deny")
@click.argument("approval_id")
@click.option("--reason", required=True, help="Why; the model is told.")
@click.option("--as", "decided_by", default=_default_principal, help="Who is deciding (default: cli:<user>).")
@json_option
@_async_command
async def deny_command(approval_id: str, reason: str, decided_by: str, as_json: bool) -> None:
    """Deny a pending call with a reason (and resume its run once nothing else is pending)."""
    async with _runtime() as runtime:
        try:
            approval = await runtime.approvals.deny(approval_id, decided_by=decided_by, reason=reason)
        except ApprovalAlreadyDecided as error:
            await _resume_if_expired(runtime, error)
            raise
        outcome = await _after_decision(runtime, approval.run_id)
        [view] = await approval_views(runtime, [approval])
        text = _decided_text(f"denied {approval_id}", view) + await _describe_outcome(runtime, outcome)
    _emit(as_json, {"approval": view.model_dump(), "run": _outcome_view(outcome)}, lambda: text)


@cli.command("resolve")
@click.argument("call_ids", metavar="APPROVAL_ID | RUN_ID TOOL_CALL_ID", nargs=-1, required=True)
@click.option(
    "--happened/--did-not-happen",
    "happened",
    default=None,
    help="What you found in the outside system: the effect took place, or it did not.",
)
@click.option("--note", help="What you checked and saw; kept with your finding.")
@click.option("--as", "resolved_by", default=_default_principal, help="Who checked (default: cli:<user>).")
@json_option
@_async_command
async def resolve_command(
    call_ids: Sequence[str], happened: bool | None, note: str | None, resolved_by: str, as_json: bool
) -> None:
    """Record whether a call whose outcome is unknown happened, after checking the outside system.

    Name the call by its approval id, or by its run id and tool call id. The call stays `unknown` in the
    audit; your finding is kept beside it (who, when, what), and the run stops asking for it to be checked.
    """
    if happened is None:
        raise click.UsageError("say what you found: --happened or --did-not-happen")
    if len(call_ids) > 2:
        raise click.UsageError("name the call by APPROVAL_ID, or by RUN_ID TOOL_CALL_ID")
    async with _runtime() as runtime:
        if len(call_ids) == 1:
            run_id, tool_call_id = await call_of_approval(runtime.session_factory, call_ids[0])
        else:
            run_id, tool_call_id = call_ids
        resolution = await runtime.resolve_unknown_call(
            run_id=run_id, tool_call_id=tool_call_id, happened=happened, resolved_by=resolved_by, note=note
        )
        async with runtime.session_factory() as session:
            run = await run_store.get_run(session, run_id=run_id)
            assert run is not None
            attention = attention_payload(
                (await attention_of_runs(session, statuses=run_statuses([run]), registry=runtime.registry))[run_id]
            )
    payload = {
        "run_id": run_id,
        "tool_call_id": tool_call_id,
        "resolution": resolution_view(resolution),
        "attention": attention,
    }
    found = "it happened" if happened else "it did not happen"
    _emit(
        as_json,
        payload,
        lambda: "\n".join(
            [
                f"recorded for call {tool_call_id} of run {run_id}: {found} (checked by {resolution.resolved_by})",
                *(["", *_attention_lines(attention)] if attention else ["the run needs no further attention"]),
            ]
        ),
    )


# --- costs, tools, policy -----------------------------------------------------------------------


@cli.command("costs")
@click.option(
    "--by",
    "group_by",
    type=click.Choice(["day", "model", "run", "prompt", "provider"]),
    default="day",
    show_default=True,
)
@json_option
@_async_command
async def costs_command(group_by: CostGrouping, as_json: bool) -> None:
    """Model spend and provider spend from the ledger, and their total, by day, model, run, prompt or provider."""
    async with _runtime() as runtime, runtime.session_factory() as session:
        lines = await cost_report(session, group_by=group_by)
    views = [CostLineView.of(line).model_dump() for line in lines]
    total = CostLineView.of(CostLine.total_of(lines)).model_dump()

    def money(value: str | None) -> str:
        return value if value is not None else "unknown"

    def table() -> str:
        rows = [
            [
                v["group"],
                v["requests"],
                v["input_tokens"],
                v["output_tokens"],
                v["cache_read_tokens"],
                v["cache_write_tokens"],
                money(v["cost_usd"]) if v["requests"] or v["unpriced_requests"] else "-",
                v["unpriced_requests"],
                v["failed_attempts"],
                v["provider_cost_usd"],
                money(v["total_cost_usd"]),
            ]
            for v in views
        ]
        rendered = render_table(
            [
                group_by,
                "requests",
                "input",
                "output",
                "cache read",
                "cache write",
                "model USD",
                "unpriced",
                "failed",
                "provider USD",
                "total USD",
            ],
            rows,
            empty="no model requests or provider charges recorded yet",
        )
        if not views:
            return rendered
        model_total = money(total["cost_usd"]) if total["unpriced_requests"] or total["requests"] else "0"
        return (
            f"{rendered}\n\nmodel spend {model_total} USD"
            f" + provider spend {total['provider_cost_usd']} USD = {money(total['total_cost_usd'])} USD"
        )

    # JSON stays the list of lines it always was (each line now carries provider and total spend).
    _emit(as_json, views, table)


@cli.command("tools")
@json_option
@_async_command
async def tools_command(as_json: bool) -> None:
    """List the registered tools and their safety metadata."""
    async with _runtime() as runtime:
        metadata = [spec.metadata() for spec in runtime.registry]
    _emit(
        as_json,
        metadata,
        lambda: render_table(
            ["tool", "destructive", "approval", "max batch", "unit cost USD", "idempotent", "untrusted output"],
            [
                [
                    m["name"],
                    m["destructive"],
                    m["requires_approval"],
                    m["max_batch"] or "",
                    m["unit_cost_usd"],
                    m["idempotent"],
                    m["untrusted_output"],
                ]
                for m in metadata
            ],
        ),
    )


@cli.command("migrate")
@json_option
@_async_command
async def migrate_command(as_json: bool) -> None:
    """Apply the core's and every enabled pack's migrations, and print the revision of each.

    Every command and `signoff serve` migrate at start-up too; this is the one command for doing it alone
    (before a deploy, say), with nothing else running.
    """
    async with _runtime() as runtime:
        core = await applied_revision(runtime.session_factory)
        packs = {
            loaded.pack.name: await applied_revision(runtime.session_factory, loaded.pack)
            for loaded in runtime.packs
            if loaded.pack.migrations is not None
        }
    payload = {"core": core, "packs": packs}
    _emit(as_json, payload, lambda: "\n".join([f"core: {core}", *(f"{name}: {rev}" for name, rev in packs.items())]))


@cli.command("packs")
@json_option
@_async_command
async def packs_command(as_json: bool) -> None:
    """List the installed tool packs, and for each enabled one its tools, tables and migrations.

    A pack that does not load is listed with its error, and the command exits 1."""
    settings = _settings()
    installed = available_packs()
    enabled: dict[str, dict[str, Any]] = {}
    broken: PackLoadError | None = None
    try:
        async with open_runtime(settings) as runtime:
            await _describe_enabled_packs(runtime, enabled)
    except PackLoadError as error:
        broken = error  # the listing still shows what is installed, and which pack is broken
    names = sorted(set(installed) | ({broken.pack_name} if broken is not None else set()))
    views = [
        {
            "name": name,
            "entry_point": installed[name].value if name in installed else None,
            "enabled": name in enabled or (broken is not None and name == broken.pack_name),
            **({"error": broken.problem} if broken is not None and name == broken.pack_name else {}),
            **enabled.get(name, {}),
        }
        for name in names
    ]

    def human() -> str:
        lines: list[str] = []
        for view in views:
            if "error" in view:
                lines.append(f"{view['name']}  ({view['entry_point'] or 'not installed'})  BROKEN: {view['error']}")
                continue
            state = "enabled" if view["enabled"] else "installed, not enabled (SIGNOFF_PACKS)"
            lines.append(f"{view['name']}  ({view['entry_point']})  {state}")
            if view["enabled"]:
                lines.append(f"  {view['description']}")
                lines.append(f"  tools:      {', '.join(view['tools']) or '(none)'}")
                lines.append(f"  tables:     {', '.join(view['tables']) or '(none)'}")
                if view["routes"]:
                    lines.append(f"  routes:     {', '.join(view['routes'])}")
                if view["head_revision"] is not None:
                    lines.append(
                        f"  migrations: {view['version_table']} at {view['applied_revision']} "
                        f"(head {view['head_revision']})"
                    )
        return "\n".join(lines) or "no tool packs installed (entry-point group signoff.tool_packs)"

    _emit(as_json, views, human)
    if broken is not None:
        raise click.ClickException(str(broken))


def _route_listing(pack: ToolPack) -> list[str]:
    """`METHOD /path` of each route the pack serves (`signoff packs`)."""
    from fastapi.routing import APIRoute  # only this command needs it: the CLI starts without FastAPI

    if pack.routes is None:
        return []
    router = pack.routes()
    return sorted(
        f"{','.join(sorted(route.methods or ()))} {route.path}"
        for route in router.routes
        if isinstance(route, APIRoute)
    )


async def _describe_enabled_packs(runtime: Runtime, enabled: dict[str, dict[str, Any]]) -> None:
    """What `signoff packs` shows of each pack the runtime loaded."""
    for loaded in runtime.packs:
        pack = loaded.pack
        enabled[pack.name] = {
            "description": pack.description,
            "tools": sorted(spec.name for spec in loaded.tools.tools),
            "tables": sorted(pack.metadata.tables) if pack.metadata is not None else [],
            "migrations": None if pack.migrations is None else str(pack.migrations),
            "version_table": pack.version_table if pack.migrations is not None else None,
            "head_revision": pack_head_revision(pack),
            "applied_revision": await applied_revision(runtime.session_factory, pack),
            "prompt": pack.prompt,
            "eval_modules": list(pack.eval_modules),
            "routes": _route_listing(pack),
        }


@cli.group("policy")
def policy_group() -> None:
    """Inspect the policy layer."""


@policy_group.command("check")
@click.argument("tool_name")
@click.argument("args_json", default="{}")
@click.option("--run", "run_id", default="policy-check", help="Decide as part of this run (its spend counts).")
@json_option
@_async_command
async def policy_check_command(tool_name: str, args_json: str, run_id: str, as_json: bool) -> None:
    """Print the decision on calling TOOL_NAME with ARGS_JSON, and the rule that made it. Executes nothing."""
    raw_args = _parse_json_object(args_json, what="ARGS_JSON")
    async with _runtime() as runtime:
        spec = runtime.registry.get(tool_name)
        args = spec.validate_args(raw_args) if spec is not None else raw_args
        decision = await runtime.decider.decide(tool_name, args, run_id=run_id)
        payload = {
            "tool": tool_name,
            "args": args,
            "verdict": decision.verdict,
            "rule": decision.rule,
            "reason": decision.reason,
            "policy_version": runtime.decider.policy.version,
            "summary": spec.render_summary(args) if spec is not None else None,
        }
    _emit(
        as_json,
        payload,
        lambda: (
            f"{payload['verdict']}  (rule: {payload['rule']})\n{payload['reason']}\n"
            f"policy version: {payload['policy_version']}"
        ),
    )


# --- the HTTP service and its keys ---------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def serve_command(host: str, port: int) -> None:
    """Run the HTTP API and the approval inbox on the configured database."""
    import uvicorn

    from signoff.api.app import create_app
    from signoff.api.http_server import uvicorn_options
    from signoff.api.repeated_logs import install_repeated_log_filter

    try:
        settings = _settings()
        # Checked before the server starts, so a bad pack, policy or prompt is one line, not a traceback
        # from the server's start-up.
        packs = enabled_packs(settings)
        check_configuration(settings, packs)
        app = create_app(settings, packs=packs)  # mounts the packs' routes, refusing clashing ones
        # Header and keep-alive timeouts and a connection limit under the open-file limit (api.http_server).
        http_options = uvicorn_options(settings)
    except (PackLoadError, PolicyConfigError, PromptError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    install_repeated_log_filter()  # a flood of bad connections logs a few lines and a count, not one each
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False, **http_options)


@cli.group("keys")
def keys_group() -> None:
    """Manage API keys (each names a principal and its roles)."""


@keys_group.command("create")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    type=click.Choice(ROLES),
    multiple=True,
    required=True,
    help="requester (tasks, own runs), approver (the queue), admin (costs, all runs); repeatable.",
)
@json_option
@_async_command
async def keys_create_command(name: str, roles: Sequence[str], as_json: bool) -> None:
    """Create a key for principal NAME. The key is printed once and never stored."""
    async with _runtime() as runtime:
        row, key = await create_api_key(runtime.session_factory, name=name, roles=roles)
    payload = {"name": row.name, "roles": row.roles.split(","), "key": key}
    _emit(
        as_json,
        payload,
        lambda: (
            f"key for {row.name} ({row.roles}):\n\n  {key}\n\nKeep it now: it is not stored and cannot be shown again."
        ),
    )


@keys_group.command("revoke")
@click.argument("name")
@_async_command
async def keys_revoke_command(name: str) -> None:
    """Revoke the key of principal NAME."""
    async with _runtime() as runtime:
        await revoke_api_key(runtime.session_factory, name=name)
    click.echo(f"revoked the key of {name}")


@keys_group.command("list")
@json_option
@_async_command
async def keys_list_command(as_json: bool) -> None:
    """List keys (names, roles, prefixes; never the keys)."""
    async with _runtime() as runtime, runtime.session_factory() as session:
        rows = await key_store.list_keys(session)
    views = [
        {
            "name": r.name,
            "roles": r.roles.split(","),
            "key_prefix": r.key_prefix,
            "created_at": r.created_at.isoformat(),
            "revoked_at": None if r.revoked_at is None else r.revoked_at.isoformat(),
        }
        for r in rows
    ]
    _emit(
        as_json,
        views,
        lambda: render_table(
            ["name", "roles", "prefix", "revoked"],
            [[v["name"], ",".join(v["roles"]), v["key_prefix"] + "…", v["revoked_at"] or ""] for v in views],
            empty="no keys yet",
        ),
    )


import signoff.api.cli_audit  # noqa: E402  registers `signoff audit` (the tamper-evident audit chain)
import signoff.api.cli_dev  # noqa: E402  registers `signoff dev` (local doubles: Anthropic, pack vendors)
import signoff.api.cli_doctor  # noqa: E402  registers `signoff doctor`
import signoff.api.cli_evals  # noqa: E402  registers `signoff eval` (it uses the helpers above)
import signoff.api.cli_prompts  # noqa: E402  registers `signoff prompts` (it uses the helpers above)
import signoff.api.cli_providers  # noqa: E402, F401  registers `signoff providers` (credential checks)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="signoff")


if __name__ == "__main__":  # pragma: no cover
    # Run as `python -m signoff.api.cli`, this file is `__main__`, and the command groups registered
    # themselves on `signoff.api.cli`'s `cli`, a second copy: hand over to that one.
    from signoff.api.cli import main as _registered_main

    _registered_main(sys.argv[1:])
