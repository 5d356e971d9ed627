"""How a tool says that it cannot know whether its side effect happened.

A tool raises `OutcomeUnknown` when a request that may have acted left and no answer came back (a
timeout after sending, a dropped connection, a server error after a write). The guard records the call
as `unknown` (never `failed`, which would invite a retry of something that may have happened), tells the
model not to retry, and a person resolves it after checking the outside system (`signoff resolve`).
"""

from __future__ import annotations

__all__ = ["OutcomeUnknown"]


class OutcomeUnknown(Exception):
    """The tool's effect may or may not have happened; `message` says what was lost (safe to show)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
