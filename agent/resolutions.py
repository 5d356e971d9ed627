"""A person's finding on a call whose outcome is unknown: they checked the outside system, and say whether it happened.

A call becomes `unknown` when its process stopped (or it timed out) while it ran: only the outside
system can tell whether the email went out. `resolve_unknown_call` records what a person found there,
with who and when (`agent.store.resolutions`). The call stays `unknown` in the audit; its effect shows
the finding, counts as happened or not by it, and the run stops asking for attention for it.

Errors, both subclasses of `ResolutionError` (each with a message fit to show a person; nothing is
recorded when one is raised):

- `ToolCallNotFound`: the run has no call with that id (or no approval has that id).
- `OutcomeNotUnknown`: the call's outcome is known (`status` says what it is): there is nothing to resolve.
"""

from __future__ import annotations

from datetime import datetime

import logfire

from signoff.agent.effects import CallResolution
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.resolutions import add_resolution

__all__ = [
    "MAX_RESOLUTION_NOTE_CHARS",
    "OutcomeNotUnknown",
    "ResolutionError",
    "ToolCallNotFound",
    "call_of_approval",
    "resolve_unknown_call",
]

# The same bound as a decision note: a sentence or a paragraph of what was found, not a document.
MAX_RESOLUTION_NOTE_CHARS = 2000
# The width of the principal columns elsewhere (runs.requested_by, approvals.decided_by).
_MAX_RESOLVER_CHARS = 200


class ResolutionError(Exception):
    """Base of the errors a resolution can meet; nothing was recorded when one is raised."""


class ToolCallNotFound(ResolutionError, LookupError):
    """No such call (or approval) exists."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class OutcomeNotUnknown(ResolutionError):
    """The call's outcome is known; only an unknown outcome can be resolved by a person."""

    def __init__(self, run_id: str, tool_call_id: str, status: str) -> None:
        self.run_id = run_id
        self.tool_call_id = tool_call_id
        self.status = status
        super().__init__(
            f"call {tool_call_id!r} of run {run_id!r} is {status}, not unknown: there is nothing to resolve"
        )


async def call_of_approval(session_factory: SessionFactory, approval_id: str) -> tuple[str, str]:
    """The (run id, tool call id) of an approval's call; `ToolCallNotFound` when there is no such approval."""
    async with session_factory() as session:
        approval = await approval_store.get_approval(session, approval_id=approval_id)
    if approval is None:
        raise ToolCallNotFound(f"no approval with id {approval_id!r}")
    return approval.run_id, approval.tool_call_id


async def resolve_unknown_call(
    session_factory: SessionFactory,
    *,
    run_id: str,
    tool_call_id: str,
    happened: bool,
    resolved_by: str,
    note: str | None,
    now: datetime,
) -> CallResolution:
    """Record that `resolved_by` checked the outside system and found the call `happened` (or not).

    A call may be resolved again (a person corrects a finding): every finding is kept, the latest counts.
    """
    resolved_by = resolved_by.strip()
    if not resolved_by or len(resolved_by) > _MAX_RESOLVER_CHARS:
        raise ValueError(f"the resolver's name must be 1 to {_MAX_RESOLVER_CHARS} characters")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_RESOLUTION_NOTE_CHARS:
        raise ValueError(f"the note is {len(note)} characters; the limit is {MAX_RESOLUTION_NOTE_CHARS}")
    async with session_factory.begin() as session:
        call = await audit_store.get_tool_call(session, run_id=run_id, tool_call_id=tool_call_id)
        if call is None:
            raise ToolCallNotFound(f"run {run_id!r} has no tool call {tool_call_id!r}")
        approval = await approval_store.get_approval_for_call(session, run_id=run_id, tool_call_id=tool_call_id)
        if call.status != "unknown" and (approval is None or approval.state != "unknown"):
            raise OutcomeNotUnknown(run_id, tool_call_id, call.status)
        resolution = CallResolution(
            run_id=run_id,
            tool_call_id=tool_call_id,
            happened=happened,
            resolved_by=resolved_by,
            note=note,
            resolved_at=now,
        )
        add_resolution(session, resolution=resolution, tool_name=call.tool_name)
    logfire.info(
        "unknown call {tool_call_id} of run {run_id} resolved: happened={happened}",
        run_id=run_id,
        tool_call_id=tool_call_id,
        happened=happened,
        resolved_by=resolved_by,
    )
    return resolution
