"""The inbox's browser session: a signed cookie, and the CSRF token every form echoes back.

The cookie holds the name of the principal who signed in (never the API key), a random CSRF token,
and at most one flash message for the next page. It is signed (itsdangerous, HMAC-SHA256) with the
`SIGNOFF_SESSION_SECRET` setting, so it cannot be forged or altered, and it is not encrypted, so it holds
nothing secret: the CSRF token only has to be unguessable by other sites, which cannot read the cookie.

The cookie is HttpOnly and SameSite=Lax; Secure when `session_cookie_secure` is set. Every response
signs it afresh, so a session ends after `SESSION_MAX_AGE_SECONDS` without a request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "SESSION_COOKIE",
    "SESSION_MAX_AGE_SECONDS",
    "Flash",
    "InboxSession",
    "csrf_matches",
    "load_session",
    "save_session",
]

SESSION_COOKIE = "signoff_inbox"
# A working day without a request: long enough not to interrupt someone working the queue, short
# enough that a browser left open overnight is signed out.
SESSION_MAX_AGE_SECONDS = 8 * 60 * 60
# Distinguishes this use of the secret from any other signing it may be used for.
_SALT = "signoff.inbox.session"
# A principal name is at most 100 characters; anything far larger in a cookie was not made here.
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
    """What one browser's session holds."""

    principal_name: str | None = None
    csrf_token: str = field(default_factory=_new_csrf_token)
    flash: Flash | None = None

    def sign_in(self, principal_name: str) -> None:
        """Bind the session to a principal, with a new CSRF token (tokens never cross a sign-in)."""
        self.principal_name = principal_name
        self.csrf_token = _new_csrf_token()

    def sign_out(self) -> None:
        """Forget the principal and the CSRF token."""
        self.principal_name = None
        self.csrf_token = _new_csrf_token()

    def pop_flash(self) -> Flash | None:
        """The pending flash message, removed from the session."""
        flash, self.flash = self.flash, None
        return flash


def _payload(session: InboxSession) -> dict[str, Any]:
    payload: dict[str, Any] = {"csrf": session.csrf_token}
    if session.principal_name is not None:
        payload["principal"] = session.principal_name
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
    principal = payload.get("principal")
    flash = payload.get("flash")
    return InboxSession(
        principal_name=principal if isinstance(principal, str) else None,
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
