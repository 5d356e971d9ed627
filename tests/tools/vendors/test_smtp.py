"""The SMTP sender against an aiosmtpd relay on a real socket: headers, STARTTLS, AUTH, exactly-once sends."""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from inline_snapshot import snapshot
from sqlalchemy import Connection, MetaData, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from signoff.agent.store.migrate import current_revision
from signoff.tools.sales import sales_metadata, sales_pack
from signoff.tools.sales.errors import (
    InvalidRequestError,
    OutcomeUnknownError,
    ProviderUnavailableError,
    UnauthorizedError,
)
from signoff.tools.sales.tables import SmtpOutboxRow
from signoff.tools.sales.testing.smtp import SmtpDouble
from signoff.tools.sales.vendors.smtp import SmtpSender, SmtpSettings, UnsubscribeLinks, unsubscribe_token

PASSWORD = "smtp-canary-password-51e7"
UNSUBSCRIBE_SECRET = "unsubscribe-canary-secret-9d"
LINKS = UnsubscribeLinks(
    mailto="unsubscribe@acme.example", url_base="https://signoff.acme.example/unsubscribe", secret=UNSUBSCRIBE_SECRET
)


@dataclass(frozen=True, kw_only=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        # Trusts exactly this self-signed certificate, with hostname checking on (it names 127.0.0.1).
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    # `cryptography` is not installed here; the openssl command line makes the same self-signed pair.
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the relay's self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=relay.double.test"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert=cert, key=key)


@pytest.fixture
async def relay(certificate: Certificate) -> AsyncIterator[SmtpDouble]:
    async with SmtpDouble(
        tls_context=certificate.server_context(), require_starttls=True, credentials=("ana", PASSWORD)
    ) as double:
        yield double


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # `engine` is migrated with the sales pack's revisions: the outbox the sender writes is the migrated one.
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def settings(relay: SmtpDouble, certificate: Certificate) -> SmtpSettings:
    return SmtpSettings(
        host=relay.host,
        port=relay.port,
        sender="Ana Ng <ana@acme.example>",
        unsubscribe=LINKS,
        username="ana",
        password=PASSWORD,
        tls_context=certificate.client_context(),
        timeout_seconds=5,
    )


@pytest.fixture
def sender(settings: SmtpSettings, sessionmaker: async_sessionmaker[AsyncSession]) -> SmtpSender:
    return SmtpSender(settings, sessionmaker=sessionmaker)


async def _rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[SmtpOutboxRow]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(SmtpOutboxRow).order_by(SmtpOutboxRow.created_at)))


async def test_a_message_carries_a_stable_id_and_one_click_unsubscribe(
    sender: SmtpSender, relay: SmtpDouble, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sent = await sender.send(to="ben@beta.example", subject="Quick question", body="Hi Ben,\n\nDo you ship to Graz?\n")

    [message] = relay.received
    [row] = await _rows(sessionmaker)
    assert sent.message_id == message.header("Message-ID") == row.message_id == f"<{row.outbox_id}@acme.example>"
    assert [name for name, _ in message.headers] == snapshot(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    token = unsubscribe_token(secret=UNSUBSCRIBE_SECRET, email="ben@beta.example")
    assert message.header("List-Unsubscribe") == (
        f"<mailto:unsubscribe@acme.example?subject=unsubscribe>, <https://signoff.acme.example/unsubscribe/{token}>"
    )
    assert message.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert (message.header("From"), message.header("To"), message.header("Subject")) == (
        "Ana Ng <ana@acme.example>",
        "ben@beta.example",
        "Quick question",
    )
    assert message.header("Content-Type") == 'text/plain; charset="utf-8"'
    assert message.body == "Hi Ben,\n\nDo you ship to Graz?\n"
    assert (message.mail_from, message.rcpt_tos) == ("ana@acme.example", ("ben@beta.example",))
    # The relay saw the session upgraded with STARTTLS and the login it requires.
    assert (message.tls, message.authenticated_as) == (True, "ana")
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 1, sent.sent_at, None)
    assert UNSUBSCRIBE_SECRET not in message.raw.decode()


async def test_the_same_send_asked_again_reaches_the_relay_once(
    sender: SmtpSender, relay: SmtpDouble, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    email = {"to": "ben@beta.example", "subject": "Hello", "body": "Hi Ben"}

    first = await sender.send(**email)
    again = await sender.send(**{**email, "to": "Ben@Beta.example"})
    clicks = await asyncio.gather(*(sender.send(**email, idempotency_key="approval-7") for _ in range(3)))

    assert again == first
    assert len({click.message_id for click in clicks}) == 1 and clicks[0].message_id != first.message_id
    assert [message.header("Message-ID") for message in relay.received] == [first.message_id, clicks[0].message_id]
    assert [(row.status, row.attempts) for row in await _rows(sessionmaker)] == [("sent", 1), ("sent", 1)]


async def test_a_connection_lost_after_the_data_is_unknown_and_never_sent_again(
    sender: SmtpSender, relay: SmtpDouble, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    relay.drop_after_data = True

    with pytest.raises(OutcomeUnknownError, match="may or may not have been delivered"):
        await sender.send(to="ben@beta.example", subject="Hello", body="Hi Ben")
    relay.drop_after_data = False
    with pytest.raises(OutcomeUnknownError, match="not sent again"):
        await sender.send(to="ben@beta.example", subject="Hello", body="Hi Ben")

    assert (len(relay.received), relay.dropped) == (1, 1)  # the relay has it; the client cannot know
    [row] = await _rows(sessionmaker)
    assert (row.status, row.attempts, row.sent_at) == ("unknown", 1, None)


async def test_a_refused_recipient_is_an_invalid_request(
    sender: SmtpSender, relay: SmtpDouble, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    relay.refuse_recipients.add("nobody@beta.example")

    with pytest.raises(InvalidRequestError) as refused:
        await sender.send(to="nobody@beta.example", subject="Hello", body="Hi")

    assert str(refused.value) == snapshot("provider 'smtp': the server refused the recipient address (550)")
    assert relay.received == []
    [row] = await _rows(sessionmaker)
    assert (row.status, row.last_error) == ("failed", "the server refused the recipient address (550)")


async def test_a_deferred_message_fails_its_row_and_a_later_ask_sends_it(
    sender: SmtpSender, relay: SmtpDouble, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    relay.defer_data_once = True

    with pytest.raises(ProviderUnavailableError, match=r"deferred the message \(451\)"):
        await sender.send(to="ben@beta.example", subject="Hello", body="Hi Ben")
    [failed] = await _rows(sessionmaker)
    sent = await sender.send(to="ben@beta.example", subject="Hello", body="Hi Ben")

    assert failed.status == "failed"
    [message] = relay.received
    assert message.header("Message-ID") == sent.message_id == failed.message_id
    [row] = await _rows(sessionmaker)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_tls_is_required_and_the_relays_certificate_is_checked(
    settings: SmtpSettings, relay: SmtpDouble, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    untrusting = SmtpSender(replace(settings, tls_context=None), sessionmaker=sessionmaker)
    plaintext = SmtpSender(replace(settings, start_tls=False, tls_context=None), sessionmaker=sessionmaker)

    with pytest.raises(ProviderUnavailableError, match="TLS handshake failed"):
        await untrusting.send(to="ben@beta.example", subject="Hello", body="Hi")
    with pytest.raises(UnauthorizedError):  # no STARTTLS: the relay offers no AUTH, and takes no mail
        await plaintext.send(to="carl@beta.example", subject="Hello", body="Hi")

    assert relay.received == []
    assert [row.status for row in await _rows(sessionmaker)] == ["failed", "failed"]


async def test_a_wrong_password_is_unauthorized_and_appears_nowhere(
    settings: SmtpSettings,
    relay: SmtpDouble,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "smtp-wrong-canary-3b8f"
    sender = SmtpSender(replace(settings, password=wrong), sessionmaker=sessionmaker)

    with pytest.raises(UnauthorizedError) as refused:
        await sender.send(to="ben@beta.example", subject="Hello", body="Hi")
    with pytest.raises(UnauthorizedError):
        await sender.check()
    await SmtpSender(settings, sessionmaker=sessionmaker).check()

    assert str(refused.value) == snapshot(
        "provider 'smtp': the server refused the login (535); check the SMTP settings"
    )
    assert relay.failed_logins > 0 and relay.received == []
    plain = base64.b64encode(f"\0ana\0{wrong}".encode()).decode()
    for secret in (wrong, PASSWORD, plain, UNSUBSCRIBE_SECRET):
        assert secret not in str(refused.value)
        assert secret not in caplog.text
        assert secret not in repr(sender)


async def test_the_outbox_table_comes_from_the_packs_migration(engine: AsyncEngine) -> None:
    pack = sales_pack()
    outbox = MetaData()
    sales_metadata.tables["sales_smtp_outbox"].to_metadata(outbox)

    def diff(connection: Connection) -> list[object]:
        def only_the_outbox(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
            return type_ != "table" or name == "sales_smtp_outbox"

        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": only_the_outbox})
        return list(compare_metadata(context, outbox))

    def unique_constraints(connection: Connection) -> list[tuple[str | None, list[str]]]:
        return [(c["name"], c["column_names"]) for c in inspect(connection).get_unique_constraints("sales_smtp_outbox")]

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []
        assert await connection.run_sync(unique_constraints) == [
            ("uq_sales_smtp_outbox_idempotency_key", ["idempotency_key"])
        ]
    assert await current_revision(engine, pack) == "sales_0002"
