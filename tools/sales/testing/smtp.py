"""An SMTP relay double (aiosmtpd) on 127.0.0.1, with the failures a real relay has, on demand.

`async with SmtpDouble(...) as relay:` listens on `relay.host:relay.port` inside the caller's event loop
and keeps what it accepted in `relay.received` (envelope, parsed headers, body, whether the session was
under TLS and who had logged in). Options, all of which a test may change while it runs:

- `tls_context`: a server TLS context; with it the relay offers STARTTLS (RFC 3207), and with
  `require_starttls` it answers `530` to anything but EHLO/STARTTLS/QUIT until the upgrade.
- `credentials`: (user, password) the relay requires (AUTH PLAIN/LOGIN, RFC 4954; only after STARTTLS
  when there is a TLS context), answering `535` to others and `530` to mail sent without logging in.
- `refuse_recipients`: addresses answered `550 5.1.1` at RCPT (RFC 5321 permanent failure).
- `defer_data_once`: the first DATA is answered `451 4.3.0` (a temporary failure; nothing is kept).
- `drop_after_data`: the message is received and kept (it counts as delivered) and the connection is
  then cut without a reply, the case where a client cannot know whether it was taken.

Replies follow RFC 5321 and the enhanced status codes of RFC 3463, as common relays word them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import logging
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["ReceivedMessage", "SmtpDouble"]

# A relay that does not answer a closing client within this long is stuck, not slow.
_SHUTDOWN_SECONDS = 5.0


@dataclass(frozen=True, kw_only=True)
class ReceivedMessage:
    """One message the relay accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    """Every header, unfolded, in order."""
    body: str
    raw: bytes
    tls: bool
    """Whether the session had been upgraded with STARTTLS when the message came."""
    authenticated_as: str | None

    def header(self, name: str) -> str | None:
        """The first header called `name` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class _Handler:
    """aiosmtpd's hooks, reading the double's options at each command."""

    def __init__(self, double: SmtpDouble) -> None:
        self._double = double

    # aiosmtpd calls hooks by these names.
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in {refused.lower() for refused in self._double.refuse_recipients}:
            return "550 5.1.1 Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        double = self._double
        if double.defer_data_once and not double.deferred:
            double.deferred = True
            return "451 4.3.0 Temporary failure, please try again later"
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        double.received.append(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                headers=tuple((key, str(value)) for key, value in parsed.items()),
                body=_text_of(parsed),
                raw=raw,
                tls=session.ssl is not None,
                authenticated_as=login.decode() if isinstance(login, bytes) else None,
            )
        )
        if double.drop_after_data:
            # Kept, and no reply: the client waits for a 250 that never comes.
            transport = server.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            double.dropped += 1
        return "250 2.0.0 OK: queued"


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    # The wire's CRLF line ends, as the text the sender wrote.
    return part.get_content().replace("\r\n", "\n") if isinstance(part, EmailMessage) else ""


class _QuietLegacyLogin(logging.Filter):
    """Drops aiosmtpd's own deprecation warning, logged on every successful AUTH (aiosmtpd 1.4)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietLegacyLogin())


@dataclass(kw_only=True)
class SmtpDouble:
    """The relay; an async context manager that serves it on 127.0.0.1 (see the module docstring)."""

    tls_context: ssl.SSLContext | None = None
    require_starttls: bool = False
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    refuse_recipients: set[str] = field(default_factory=set[str])
    defer_data_once: bool = False
    drop_after_data: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    """The port it listens on, once started."""
    received: list[ReceivedMessage] = field(default_factory=list[ReceivedMessage])
    deferred: bool = False
    """Whether the one deferral of `defer_data_once` has been given."""
    dropped: int = 0
    """Connections cut after a DATA was received."""
    failed_logins: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> SmtpDouble:
        loop = asyncio.get_running_loop()
        handler = _Handler(self)

        def authenticator(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
        ) -> AuthResult:
            expected = self.credentials
            accepted = (
                expected is not None
                and isinstance(auth_data, LoginPassword)
                and (auth_data.login, auth_data.password) == (expected[0].encode(), expected[1].encode())
            )
            if not accepted:
                self.failed_logins += 1
            return AuthResult(success=accepted, handled=False, auth_data=auth_data if accepted else None)

        def protocol() -> SMTP:
            return SMTP(
                handler,
                hostname="relay.double.test",
                ident="Signoff SMTP double",
                tls_context=self.tls_context,
                require_starttls=self.require_starttls and self.tls_context is not None,
                auth_required=self.credentials is not None,
                auth_require_tls=self.tls_context is not None,
                authenticator=authenticator,
                loop=loop,
            )

        self._server = await loop.create_server(protocol, host=self.host, port=self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_SHUTDOWN_SECONDS):
                await server.wait_closed()
