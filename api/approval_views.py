"""Approvals with their honest display (api/display.py), for the inbox, the CLI and the HTTP API alike.

The display is pure; what it needs from outside is gathered here: each tool's `recipients_arg` from the
registry, and the CRM's answer on the domains of the whole page, asked once (`Runtime.known_domains`,
None when no pack can tell: the domains are then "not checked"). The CRM is asked outside any
transaction of the caller's, as the decider asks about recipients: it may use the same database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from signoff.agent.budgets import SpendStanding, spend_standings
from signoff.agent.runtime import Runtime
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.tables import ApprovalRow, RunRow
from signoff.api.display import ApprovalDisplay, approval_display, domains_to_check
from signoff.api.schemas import ApprovalView
from signoff.api.views import run_detail_view

__all__ = ["approval_displays", "approval_views", "run_detail", "spend_standings_of_runs"]


async def approval_displays(runtime: Runtime, rows: Sequence[ApprovalRow]) -> list[ApprovalDisplay]:
    """The display of each approval, in order."""
    requests = []
    for row in rows:
        spec = runtime.registry.get(row.tool_name)
        requests.append((row, json.loads(row.requested_args_json), None if spec is None else spec.recipients_arg))
    known: frozenset[str] | None = None
    if runtime.known_domains is not None:
        names = sorted({name for _, args, arg in requests for name in domains_to_check(args, recipients_arg=arg)})
        known = frozenset(name.lower() for name in await runtime.known_domains(names)) if names else frozenset()
    changes: list[list[str]] = []
    for row, args, _arg in requests:
        # Only a waiting call's: what a decided one changed is history, and the CRM has moved on since.
        if runtime.describe_changes is not None and row.state == "pending":
            changes.append(await runtime.describe_changes(row.tool_name, args))
        else:
            changes.append([])
    return [
        approval_display(args=args, summary=row.summary, recipients_arg=arg, known_domains=known, changes=change)
        for (row, args, arg), change in zip(requests, changes, strict=True)
    ]


async def approval_views(runtime: Runtime, rows: Sequence[ApprovalRow]) -> list[ApprovalView]:
    """The API's view of each approval, its display made with the tool's recipients and the CRM, and its
    run's standing against every spend limit (read once per run of the page)."""
    displays = await approval_displays(runtime, rows)
    standings = await spend_standings_of_runs(runtime, {row.run_id for row in rows})
    return [
        ApprovalView.of(
            row,
            display=display,
            spend=standings.get(row.run_id, []),
            estimated_cost_usd=_estimated_cost(runtime, row),
        )
        for row, display in zip(rows, displays, strict=True)
    ]


def _estimated_cost(runtime: Runtime, row: ApprovalRow) -> Decimal | None:
    """The provider spend the call would cost, from the arguments it would run with."""
    spec = runtime.registry.get(row.tool_name)
    if spec is None:
        return None
    return spec.estimated_cost_usd(json.loads(row.approved_args_json or row.requested_args_json))


async def run_detail(runtime: Runtime, run: RunRow) -> dict[str, Any]:
    """The run in full (`views.run_detail_view`), its approvals shown as every other surface shows them:
    with the tools' recipients, the CRM's answer and the spend standings (`approval_views`)."""
    async with runtime.session_factory() as session:
        detail = await run_detail_view(session, run=run, registry=runtime.registry)
        rows = await approval_store.list_approvals(session, run_id=run.run_id, limit=10_000)
    detail["approvals"] = [view.model_dump() for view in await approval_views(runtime, rows)]
    return detail


async def spend_standings_of_runs(runtime: Runtime, run_ids: Iterable[str]) -> dict[str, list[SpendStanding]]:
    """Each run's standing against the spend limits, now."""
    now = runtime.decider.clock()
    standings: dict[str, list[SpendStanding]] = {}
    async with runtime.session_factory() as session:
        for run_id in sorted(run_ids):
            run = await run_store.get_run(session, run_id=run_id)
            if run is not None:
                standings[run_id] = await spend_standings(session, policy=runtime.decider.policy, run=run, now=now)
    return standings
