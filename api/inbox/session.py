"""The inbox's browser session: a signed cookie naming a server-side session, and the CSRF token.

The cookie holds a random session token (never the API key), a random CSRF token, and at most one flash
message for the next page. It is signed (itsdangerous, HMAC-SHA256) with the `SIGNOFF_SESSION_SECRET`
setting, so it cannot be forged or altered, and it is not encrypted: the CSRF token only has to be
unguessable by other sites, which cannot read the cookie.

The session itself is a row (`inbox_sessions`, keyed by the token's sha256) bound to the API key it was
signed in with, and every request looks it up with its key: sign-out deletes the row, so a saved copy of
the cookie is worth nothing afterwards; revoking the key ends its sessions in every process at once; and
a session unused for `SESSION_MAX_AGE_SECONDS` is over, whatever the cookie says.

The cookie is HttpOnly and SameSite=Lax; Secure when `session_cookie_secure` is set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from signoff.agent.store import inbox_sessions as session_store
from signoff.agent.store.engine import SessionFactory, read_session_factory
from signoff.agent.store.tables import ApiKeyRow
from signoff.api.keys import Principal, principal_of

__all__ = [
    "SESSION_COOKIE",
    "SESSION_MAX_AGE_SECONDS",
    "SESSION_TOUCH_SECONDS",
    "Flash",
    "InboxSession",
    "csrf_matches",
    "end_session",
    "load_session",
    "resolve_session",
    "save_session",
    "start_session",
]

SESSION_COOKIE = "signoff_inbox"
# A working day without a request: long enough not to interrupt someone working the queue, short
# enough that a browser left open overnight is signed out.
SESSION_MAX_AGE_SECONDS = 8 * 60 * 60
# A session's last use is written at most this often: one write a minute per person working the queue,
# and the 8-hour idle limit is exact to within a minute.
SESSION_TOUCH_SECONDS = 60
# Distinguishes this use of the secret from any other signing it may be used for.
_SALT = "signoff.inbox.session"
# Two tokens and a flash message; anything far larger in a cookie was not made here.
_MAX_COOKIE_CHARS = 4000


def _new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, kw_only=True)
class Flash:
    """A one-time message on the next page, optionally linking to a run."""

    text: str
    run_id: str | None = None


@dataclass(kw_only=True)
class InboxSession:
    """What one browser's session holds: the token of its server-side session (in the cookie) and, once
    `resolve_session` found that session live, the principal of its key (never in the cookie)."""

    token: str | None = None
    principal: Principal | None = None
    csrf_token: str = field(default_factory=_new_csrf_token)
    flash: Flash | None = None

    @property
    def principal_name(self) -> str | None:
        """The signed-in principal's name, or None."""
        return None if self.principal is None else self.principal.name

    def sign_in(self, token: str, principal: Principal) -> None:
        """Bind the session to a new server-side session, with a new CSRF token (tokens never cross a sign-in)."""
        self.token = token
        self.principal = principal
        self.csrf_token = _new_csrf_token()

    def sign_out(self) -> None:
        """Forget the server-side session, the principal and the CSRF token."""
        self.token = None
        self.principal = None
        self.csrf_token = _new_csrf_token()

    def pop_flash(self) -> Flash | None:
        """The pending flash message, removed from the session."""
        flash, self.flash = self.flash, None
        return flash


def _payload(session: InboxSession) -> dict[str, Any]:
    payload: dict[str, Any] = {"csrf": session.csrf_token}
    if session.token is not None:
        payload["session"] = session.token
    if session.flash is not None:
        payload["flash"] = {"text": session.flash.text, "run_id": session.flash.run_id}
    return payload


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def load_session(request: Request, *, secret: str) -> InboxSession:
    """The session of this request's cookie; a fresh one when there is none, or it is forged or too old."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > _MAX_COOKIE_CHARS:
        return InboxSession()
    try:
        payload = _serializer(secret).loads(cookie, max_age=SESSION_MAX_AGE_SECONDS)
    except BadSignature:  # also covers SignatureExpired
        return InboxSession()
    if not isinstance(payload, dict) or not isinstance(payload.get("csrf"), str):
        return InboxSession()
    # A cookie from before server-side sessions names a principal and no session: it is signed out.
    token = payload.get("session")
    flash = payload.get("flash")
    return InboxSession(
        token=token if isinstance(token, str) else None,
        csrf_token=payload["csrf"],
        flash=Flash(text=str(flash["text"]), run_id=flash.get("run_id")) if isinstance(flash, dict) else None,
    )


def save_session(response: Response, session: InboxSession, *, secret: str, secure: bool) -> None:
    """Set the signed session cookie on `response`."""
    response.set_cookie(
        SESSION_COOKIE,
        _serializer(secret).dumps(_payload(session)),
        max_age=SESSION_MAX_AGE_SECONDS,
        path="/inbox",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def csrf_matches(session: InboxSession, submitted: str) -> bool:
    """Whether a form's token is this session's, compared in constant time."""
    return bool(submitted) and hmac.compare_digest(session.csrf_token.encode(), submitted.encode())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


async def start_session(
    session_factory: SessionFactory, session: InboxSession, *, key: ApiKeyRow, clock: Callable[[], datetime] = _now
) -> None:
    """Sign `session` in with `key`: end the session it had, create a new one, and forget idle ones."""
    now = clock()
    token = secrets.token_urlsafe(32)
    async with session_factory.begin() as db:
        if session.token is not None:
            await session_store.end_session(db, token_hash=_token_hash(session.token))
        await session_store.delete_idle_sessions(db, seen_before=now - timedelta(seconds=SESSION_MAX_AGE_SECONDS))
        await session_store.add_session(db, token_hash=_token_hash(token), key_id=key.key_id, now=now)
    session.sign_in(token, principal_of(key))


async def resolve_session(
    session_factory: SessionFactory, session: InboxSession, *, clock: Callable[[], datetime] = _now
) -> None:
    """Set `session.principal` when its server-side session is live (one indexed read, and a write at most
    every `SESSION_TOUCH_SECONDS`); when it is over (signed out, key revoked, idle), sign it out with a
    message for the sign-in page."""
    if session.token is None:
        return
    now = clock()
    token_hash = _token_hash(session.token)
    async with read_session_factory(session_factory)() as db:
        live = await session_store.find_live_session(
            db, token_hash=token_hash, seen_since=now - timedelta(seconds=SESSION_MAX_AGE_SECONDS)
        )
    if live is None:
        session.sign_out()
        session.flash = Flash(text="Your session has ended (signed out, unused for hours, or its key was revoked).")
        return
    row, key = live
    session.principal = principal_of(key)
    if now - _aware(row.last_seen_at) >= timedelta(seconds=SESSION_TOUCH_SECONDS):
        async with session_factory.begin() as db:
            await session_store.touch(db, token_hash=token_hash, now=now)


async def end_session(session_factory: SessionFactory, session: InboxSession) -> None:
    """Sign out: delete the server-side session, so no copy of the cookie is signed in any more."""
    if session.token is not None:
        async with session_factory.begin() as db:
            await session_store.end_session(db, token_hash=_token_hash(session.token))
    session.sign_out()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
