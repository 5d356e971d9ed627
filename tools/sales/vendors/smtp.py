"""Outreach email over SMTP (aiosmtplib), each message sent at most once through an outbox row.

Every send first writes a row in `sales_smtp_outbox` (`queued`), keyed by a hash of the recipient,
subject and body plus an optional caller's key, so the same send asked twice (a retry, a double click,
a resumed run) finds the row instead of sending again:

- `sent`: the server accepted the message; asking again returns the same `SentEmail`.
- `failed`: the server definitely did not take it (a 4xx or 5xx reply, a connection that failed before
  the message was transmitted); asking again tries again, with the same Message-ID.
- `unknown`: the connection was lost or timed out once the message data had been handed over (the
  server may have queued it); the row is never sent again and every later ask raises
  `OutcomeUnknownError`, for a person to resolve.
- `queued` with an attempt claimed: another call is sending it (a double click); it is waited for and
  its outcome shared. Past twice the per-step timeout (the process may have died mid-send) it is
  treated as `unknown`.

Attempts are claimed with a conditional update (`... WHERE attempts = :seen AND status IN (...)`), so of two
concurrent sends of one row exactly one transmits.

Each message is plain text with `From`, `To`, `Subject`, `Date`, a stable `Message-ID`
(`<outbox_id@sender-domain>`, the same on every attempt), and RFC 8058 one-click unsubscribe:
`List-Unsubscribe: <mailto:...>, <https://.../{token}>` with `List-Unsubscribe-Post:
List-Unsubscribe=One-Click` (mailbox providers also expect the message to be DKIM-signed over these
headers; signing is the relay's job). The connection upgrades with STARTTLS when `start_tls` is set
(the default) and logs in when a user name is configured.

aiosmtplib's exceptions become the hierarchy of `tools.sales.errors`: a refused recipient (5xx) is an
`InvalidRequestError`, a 4xx reply or an unreachable server `ProviderUnavailableError`, a refused login
`UnauthorizedError`, a lost answer after the data `OutcomeUnknownError`. Messages are built from reply
codes and exception type names only, never from the server's text, and never hold the password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any, Literal, cast

import aiosmtplib
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales.clock import Clock, utc_now
from signoff.tools.sales.errors import (
    InvalidRequestError,
    OutcomeUnknownError,
    ProviderError,
    ProviderUnavailableError,
    UnauthorizedError,
)
from signoff.tools.sales.models import SentEmail
from signoff.tools.sales.prices import SALES_PRICES
from signoff.tools.sales.tables import SmtpOutboxRow
from signoff.tools.sales.vendors.http import scrubbed

__all__ = [
    "OutboxStatus",
    "SmtpSender",
    "SmtpSettings",
    "UnsubscribeLinks",
    "idempotency_key_of",
    "unsubscribe_token",
]

_log = logging.getLogger(__name__)

OutboxStatus = Literal["queued", "sent", "failed", "unknown"]

_SERVICE = "smtp"
# 16 bytes of HMAC in URL-safe base64: unguessable, and short enough for a link in a header.
_TOKEN_BYTES = 16
# A concurrent send of the same email is waited for: normally well under a second, and given up on (as
# `unknown`: its process may have died mid-send) after this many per-step timeouts.
_IN_FLIGHT_WAIT_STEPS = 2
_IN_FLIGHT_POLL_SECONDS = 0.05
# Statuses from which a new attempt may be claimed: never tried, or definitely not taken by the server.
_RETRYABLE: tuple[OutboxStatus, ...] = ("queued", "failed")

Phase = Literal["connect", "login", "envelope", "data"]


def unsubscribe_token(*, secret: str, email: str) -> str:
    """The token in a recipient's one-click unsubscribe link (an HMAC of the lower-cased address).

    The unsubscribe route recomputes it to check a link without storing tokens.
    """
    digest = hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_TOKEN_BYTES]).decode().rstrip("=")


def idempotency_key_of(*, to: str, subject: str, body: str, key: str | None = None) -> str:
    """The outbox key of one send: sha256 of (lower-cased recipient, subject, body, the caller's key).

    Without a caller's key, the same text to the same person is one email, however often it is asked
    for; a caller that means to send it again passes a key of its own (e.g. the approval id).
    """
    material = json.dumps([to.strip().lower(), subject, body, key or ""], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class UnsubscribeLinks:
    """Where a recipient unsubscribes: a mailbox and a one-click HTTPS endpoint (RFC 2369 and 8058)."""

    mailto: str
    """The address that receives unsubscribe requests by mail, e.g. `unsubscribe@acme.example`."""
    url_base: str
    """The HTTPS endpoint, e.g. `https://signoff.acme.example/unsubscribe`; the token is appended."""
    secret: str = field(repr=False)
    """Signs each recipient's token (see `unsubscribe_token`)."""

    def __post_init__(self) -> None:
        if not self.url_base.startswith("https://"):
            raise ValueError("RFC 8058 one-click unsubscribe needs an https:// URL")
        if "@" not in self.mailto:
            raise ValueError("the unsubscribe mailto must be an email address")
        if not self.secret:
            raise ValueError("the unsubscribe links need a secret to sign their tokens")

    def header_value(self, recipient: str) -> str:
        """The `List-Unsubscribe` value for one recipient."""
        token = unsubscribe_token(secret=self.secret, email=recipient)
        return f"<mailto:{self.mailto}?subject=unsubscribe>, <{self.url_base.rstrip('/')}/{token}>"


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """How to reach the relay and who the mail is from."""

    host: str
    port: int = 587
    """587 is the submission port, where STARTTLS is the norm."""
    sender: str
    """The `From` address (`Ana Ng <ana@acme.example>` or `ana@acme.example`); its domain ends Message-IDs."""
    unsubscribe: UnsubscribeLinks
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    start_tls: bool = True
    """Upgrade with STARTTLS before anything else (and fail if the server cannot)."""
    validate_certs: bool = True
    ca_file: str | None = None
    """A CA bundle to trust instead of the system's (a private relay's own CA)."""
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)
    """A ready TLS context; wins over `validate_certs` and `ca_file`."""
    timeout_seconds: float = 15.0
    """Per step: the connection, each command, and the wait for the reply to the data."""


@dataclass(eq=False, kw_only=True)
class _Failure(Exception):
    """Internal: an attempt failed; `delivered_maybe` says whether the message may have been taken."""

    error: ProviderError
    reason: str
    delivered_maybe: bool


class SmtpSender:
    """Sends plain-text outreach emails, each at most once (see the module docstring)."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock = utc_now,
    ) -> None:
        _, address = parseaddr(settings.sender)
        if "@" not in address:
            raise ValueError("the SMTP sender must be an email address")
        self._settings = settings
        self._sender_address = address
        self._domain = address.rpartition("@")[2].lower()
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._secrets = tuple(secret for secret in (settings.password, settings.unsubscribe.secret) if secret)

    def __repr__(self) -> str:
        return f"SmtpSender(host={self._settings.host!r}, port={self._settings.port})"  # never the password

    @property
    def service(self) -> str:
        """The service name errors carry ("smtp")."""
        return _SERVICE

    async def check(self) -> str:
        """Connect, upgrade and log in, then quit: `UnauthorizedError` for refused credentials."""
        smtp = self._client()
        try:
            await self._open(smtp)
        except _Failure as failure:
            raise failure.error from None
        finally:
            await _close(smtp)
        tls = "STARTTLS" if self._settings.start_tls else "no TLS"
        login = "logged in" if self._settings.username else "no login"
        return f"smtp: {self._settings.host}:{self._settings.port} answered ({tls}, {login})"

    async def send(self, *, to: str, subject: str, body: str, idempotency_key: str | None = None) -> SentEmail:
        """Send one email at most once; the same (to, subject, body, key) again never sends it again."""
        recipient = to.strip()
        key = idempotency_key_of(to=recipient, subject=subject, body=body, key=idempotency_key)
        row = await self._row_for(key=key, to=recipient, subject=subject, body=body)
        waiting_until = time.monotonic() + _IN_FLIGHT_WAIT_STEPS * self._settings.timeout_seconds
        while not await self._claim(row):
            if row.status == "sent":
                return _sent_email(row)
            if row.status == "unknown" or time.monotonic() > waiting_until:
                raise OutcomeUnknownError(
                    "this email was already handed to the server once and its outcome is not known; it is not"
                    " sent again (a person can check the recipient's mailbox or the relay's log)",
                    provider=_SERVICE,
                )
            # Another call holds this email's attempt (a double click): wait for its outcome, then share it.
            await asyncio.sleep(_IN_FLIGHT_POLL_SECONDS)
            row = await self._reload(row.outbox_id)
        message = self._message(row, to=recipient, body=body)
        try:
            await self._transmit(message, recipient=recipient)
        except _Failure as failure:
            status: OutboxStatus = "unknown" if failure.delivered_maybe else "failed"
            if failure.delivered_maybe:
                SALES_PRICES.charge(_SERVICE, "email", 1)  # the relay may have taken it: it may be paid for
            await self._finish(row.outbox_id, status=status, last_error=failure.reason)
            _log.info("smtp outbox %s: %s (%s)", row.outbox_id, status, failure.reason)
            raise failure.error from None
        # Charged here, once per transmission: a repeat served from the outbox costs nothing.
        SALES_PRICES.charge(_SERVICE, "email", 1)
        sent_at = self._clock()
        await self._finish(row.outbox_id, status="sent", sent_at=sent_at)
        _log.info("smtp outbox %s: sent", row.outbox_id)
        return SentEmail(message_id=row.message_id, to=recipient, subject=subject, sent_at=sent_at)

    async def _row_for(self, *, key: str, to: str, subject: str, body: str) -> SmtpOutboxRow:
        """The outbox row of this send, written (as `queued`) if there is none yet."""
        existing = await self._find(key)
        if existing is not None:
            return existing
        outbox_id = f"obx_{key[:24]}"
        row = SmtpOutboxRow(
            outbox_id=outbox_id,
            idempotency_key=key,
            to_email=to,
            subject=subject,
            body_sha256=hashlib.sha256(body.encode()).hexdigest(),
            message_id=f"<{outbox_id}@{self._domain}>",
            status="queued",
            attempts=0,
            last_error=None,
            created_at=self._clock(),
            sent_at=None,
        )
        try:
            async with self._sessionmaker.begin() as session:
                session.add(row)
        except IntegrityError:
            # A concurrent send of the same email wrote the row first: use that one.
            found = await self._find(key)
            if found is None:
                raise
            return found
        return row

    async def _find(self, key: str) -> SmtpOutboxRow | None:
        async with self._sessionmaker() as session:
            return await session.scalar(select(SmtpOutboxRow).where(SmtpOutboxRow.idempotency_key == key))

    async def _reload(self, outbox_id: str) -> SmtpOutboxRow:
        async with self._sessionmaker() as session:
            row = await session.get(SmtpOutboxRow, outbox_id)
        assert row is not None, "outbox rows are never deleted"
        return row

    async def _claim(self, row: SmtpOutboxRow) -> bool:
        """Take the next attempt of `row`; false if another caller took it or it may have been sent."""
        if row.status not in _RETRYABLE or (row.status == "queued" and row.attempts > 0):
            return False
        async with self._sessionmaker.begin() as session:
            result = await session.execute(
                update(SmtpOutboxRow)
                .where(
                    SmtpOutboxRow.outbox_id == row.outbox_id,
                    SmtpOutboxRow.attempts == row.attempts,
                    or_(*(SmtpOutboxRow.status == status for status in _RETRYABLE)),
                )
                .values(attempts=SmtpOutboxRow.attempts + 1, status="queued")
            )
        return cast(CursorResult[Any], result).rowcount == 1

    async def _finish(
        self,
        outbox_id: str,
        *,
        status: OutboxStatus,
        last_error: str | None = None,
        sent_at: datetime | None = None,
    ) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(SmtpOutboxRow)
                .where(SmtpOutboxRow.outbox_id == outbox_id, SmtpOutboxRow.status == "queued")
                .values(status=status, last_error=last_error, sent_at=sent_at)
            )

    def _message(self, row: SmtpOutboxRow, *, to: str, body: str) -> EmailMessage:
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self._settings.sender
        message["To"] = to
        message["Subject"] = row.subject
        message["Date"] = format_datetime(self._clock())
        message["Message-ID"] = row.message_id
        message["List-Unsubscribe"] = self._settings.unsubscribe.header_value(to)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(body)
        return message

    def _client(self) -> aiosmtplib.SMTP:
        settings = self._settings
        return aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            start_tls=settings.start_tls,
            validate_certs=settings.validate_certs,
            cert_bundle=settings.ca_file,
            tls_context=settings.tls_context,
            timeout=settings.timeout_seconds,
        )

    async def _open(self, smtp: aiosmtplib.SMTP) -> None:
        """Connect (with STARTTLS when configured) and log in; a `_Failure` says what went wrong."""
        phase: Phase = "connect"
        try:
            await smtp.connect()
            if self._settings.username is not None:
                phase = "login"
                await smtp.login(self._settings.username, self._settings.password or "")
        except Exception as error:
            raise self._failure(error, phase) from None

    async def _transmit(self, message: EmailMessage, *, recipient: str) -> None:
        smtp = self._client()
        try:
            await self._open(smtp)
            phase: Phase = "envelope"
            try:
                await smtp.mail(self._sender_address)
                await smtp.rcpt(recipient)
                phase = "data"
                await smtp.data(message.as_bytes())
            except Exception as error:
                raise self._failure(error, phase) from None
        finally:
            await _close(smtp)

    def _failure(self, error: Exception, phase: Phase) -> _Failure:
        """What an aiosmtplib (or socket, or TLS) error means for the email, with a safe reason."""
        code = getattr(error, "code", None)
        reply = f" ({code})" if isinstance(code, int) else ""
        kind = type(error).__name__
        temporary = isinstance(code, int) and 400 <= code < 500

        def failed(make: Callable[..., ProviderError], reason: str, *, maybe: bool = False) -> _Failure:
            safe = scrubbed(reason, self._secrets)
            return _Failure(error=make(safe, provider=_SERVICE), reason=safe[:200], delivered_maybe=maybe)

        if isinstance(error, aiosmtplib.SMTPRecipientRefused):
            if temporary:
                return failed(ProviderUnavailableError, f"the server deferred the recipient{reply}; try later")
            return failed(InvalidRequestError, f"the server refused the recipient address{reply}")
        if isinstance(error, aiosmtplib.SMTPDataError):
            if temporary:
                return failed(ProviderUnavailableError, f"the server deferred the message{reply}; try later")
            return failed(InvalidRequestError, f"the server refused the message{reply}")
        if phase == "data":
            # The data may have reached the server before the connection broke: it may have been delivered.
            return failed(
                OutcomeUnknownError,
                f"no reply after the message was sent ({kind}); it may or may not have been delivered",
                maybe=True,
            )
        if isinstance(error, aiosmtplib.SMTPAuthenticationError):
            return failed(UnauthorizedError, f"the server refused the login{reply}; check the SMTP settings")
        if phase == "login" and isinstance(error, aiosmtplib.SMTPException) and code is None:
            return failed(UnauthorizedError, "the server offers no login this client can use; check the settings")
        if isinstance(error, aiosmtplib.SMTPSenderRefused):
            if temporary:
                return failed(ProviderUnavailableError, f"the server deferred the sender{reply}; try later")
            return failed(ProviderError, f"the server refused the sender address{reply}; check the SMTP settings")
        if isinstance(error, ssl.SSLError):
            return failed(ProviderUnavailableError, f"the TLS handshake failed ({kind}); check the relay's certificate")
        if isinstance(error, UnicodeEncodeError):
            return failed(InvalidRequestError, "an address needs characters this server cannot take (SMTPUTF8)")
        if isinstance(error, aiosmtplib.SMTPResponseException) and not temporary:
            return failed(ProviderError, f"the server refused the {phase} step{reply}; check the SMTP settings")
        return failed(ProviderUnavailableError, f"the server could not be used ({kind}{reply}); nothing was sent")


async def _close(smtp: aiosmtplib.SMTP) -> None:
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except Exception:  # the message's fate is settled; a failed goodbye changes nothing
        smtp.close()


def _sent_email(row: SmtpOutboxRow) -> SentEmail:
    assert row.sent_at is not None, "a sent row has its time"
    return SentEmail(message_id=row.message_id, to=row.to_email, subject=row.subject, sent_at=row.sent_at)
