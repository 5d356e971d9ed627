"""Inbox sessions live on the server and keys are checked on every request (issue #13, item 6).

Sign-out ends the session itself, not only the browser's copy of the cookie; revoking a key refuses it at
once in every process, and ends the inbox sessions signed in with it. The first tests run in process
(ASGI); the last start two real `signoff serve` processes on one database and revoke in a third.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from signoff.agent.runtime import prepare_database
from signoff.agent.store.engine import create_engine, create_session_factory
from signoff.agent.store.tables import InboxSessionRow
from signoff.api.inbox.session import SESSION_COOKIE, SESSION_MAX_AGE_SECONDS, SESSION_TOUCH_SECONDS
from signoff.api.keys import create_api_key, revoke_api_key
from signoff.tools.sales import sales_pack
from tests.api.http_support import Api, api_settings, running_api
from tests.support.serve import csrf_token, free_port, wait_until_ready


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(api_settings(database_url, tmp_path)) as running:
        yield running


def _browser(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://signoff.test")


async def _sign_in(api: Api, browser: httpx.AsyncClient, principal: str = "bob") -> None:
    form = await browser.get("/inbox/sign-in")
    signed_in = await browser.post(
        "/inbox/sign-in", data={"csrf_token": csrf_token(form.text), "api_key": api.keys[principal]}
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/inbox", signed_in.text


async def _session_rows(api: Api) -> list[InboxSessionRow]:
    async with api.app.state.runtime.session_factory() as session:
        return list((await session.execute(select(InboxSessionRow))).scalars())


async def test_a_saved_cookie_cannot_approve_after_sign_out(api: Api) -> None:
    _run_id, approval_id = await api.start_demo()
    async with _browser(api) as browser, _browser(api) as thief:
        await _sign_in(api, browser)
        detail = await browser.get(f"/inbox/approvals/{approval_id}")
        saved_cookie, saved_csrf = browser.cookies[SESSION_COOKIE], csrf_token(detail.text)
        signed_out = await browser.post("/inbox/sign-out", data={"csrf_token": saved_csrf})
        assert signed_out.status_code == 303
        assert await _session_rows(api) == []

        # The cookie as it was before sign-out, signature and CSRF token intact: signed out all the same.
        thief.cookies.set(SESSION_COOKIE, saved_cookie, domain="signoff.test", path="/inbox")
        approve = await thief.post(f"/inbox/approvals/{approval_id}/approve", data={"csrf_token": saved_csrf})
        assert approve.status_code in {303, 403} and approve.headers.get("location") != "/inbox", approve.text
        assert (await api["bob"].get(f"/v1/approvals/{approval_id}")).json()["state"] == "pending"
        thief.cookies.set(SESSION_COOKIE, saved_cookie, domain="signoff.test", path="/inbox")
        page = await thief.get("/inbox")
        assert page.status_code == 303 and page.headers["location"] == "/inbox/sign-in"
        assert "Your session has ended" in (await thief.get("/inbox/sign-in")).text


async def test_each_sign_in_is_its_own_session_and_ends_alone(api: Api) -> None:
    async with _browser(api) as laptop, _browser(api) as phone:
        await _sign_in(api, laptop)
        await _sign_in(api, phone)
        assert len(await _session_rows(api)) == 2
        inbox = await laptop.get("/inbox")
        await laptop.post("/inbox/sign-out", data={"csrf_token": csrf_token(inbox.text)})
        assert (await laptop.get("/inbox")).status_code == 303
        assert (await phone.get("/inbox")).status_code == 200


async def test_revoking_the_key_ends_its_sessions_and_deletes_them(api: Api) -> None:
    async with _browser(api) as browser, _browser(api) as other:
        await _sign_in(api, browser, "bob")
        await _sign_in(api, other, "dave")
        await revoke_api_key(api.app.state.runtime.session_factory, name="bob")
        assert (await browser.get("/inbox")).status_code == 303
        assert "Your session has ended" in (await browser.get("/inbox/sign-in")).text
        assert (await other.get("/inbox")).status_code == 200
        assert len(await _session_rows(api)) == 1  # dave's; bob's is deleted with the revocation


async def test_a_session_unused_for_the_idle_limit_is_over(api: Api) -> None:
    async with _browser(api) as browser:
        await _sign_in(api, browser)
        idle_since = datetime.now(UTC) - timedelta(seconds=SESSION_MAX_AGE_SECONDS + 1)
        async with api.app.state.runtime.session_factory.begin() as session:
            await session.execute(update(InboxSessionRow).values(last_seen_at=idle_since))
        assert (await browser.get("/inbox")).status_code == 303
        # The next sign-in forgets sessions that are over.
        await _sign_in(api, browser)
        [row] = await _session_rows(api)
        assert row.last_seen_at > idle_since + timedelta(seconds=SESSION_MAX_AGE_SECONDS)


async def test_a_session_records_its_use_at_most_once_a_minute(api: Api) -> None:
    async with _browser(api) as browser:
        await _sign_in(api, browser)
        [signed_in] = await _session_rows(api)
        for _ in range(3):
            assert (await browser.get("/inbox")).status_code == 200
        [unchanged] = await _session_rows(api)
        assert unchanged.last_seen_at == signed_in.last_seen_at
        earlier = signed_in.last_seen_at - timedelta(seconds=SESSION_TOUCH_SECONDS)
        async with api.app.state.runtime.session_factory.begin() as session:
            await session.execute(update(InboxSessionRow).values(last_seen_at=earlier))
        assert (await browser.get("/inbox")).status_code == 200
        [touched] = await _session_rows(api)
        assert touched.last_seen_at > signed_in.last_seen_at


# --- several processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoServers:
    """Two `signoff serve` processes on one database, and API keys made before they started."""

    urls: tuple[str, str]
    keys: dict[str, str]
    database_url: str


async def _prepare(database_url: str) -> dict[str, str]:
    engine = create_engine(database_url)
    try:
        session_factory = await prepare_database(engine, [sales_pack()])
        keys = {}
        for name, roles in (("bob", ["approver"]), ("erin", ["approver"]), ("alice", ["requester"])):
            _row, keys[name] = await create_api_key(session_factory, name=name, roles=roles)
    finally:
        await engine.dispose()
    return keys


async def _revoke(database_url: str, name: str) -> None:
    engine = create_engine(database_url)
    try:
        await revoke_api_key(create_session_factory(engine), name=name)
    finally:
        await engine.dispose()


async def _count_sessions(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(InboxSessionRow))).scalar_one())
    finally:
        await engine.dispose()


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[TwoServers]:
    keys = asyncio.run(_prepare(database_url))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SIGNOFF_", "ANTHROPIC_"))}
    env |= {
        "SIGNOFF_DATABASE_URL": database_url,
        "SIGNOFF_DATA_DIR": str(tmp_path / "data"),
        # One secret for both, as replicas behind a load balancer share it: a cookie from one is read by the other.
        "SIGNOFF_SESSION_SECRET": "a-shared-secret-of-enough-length-for-both-replicas",
        "ANTHROPIC_API_KEY": "",
    }
    ports = (free_port(), free_port())
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "signoff.api.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
    try:
        for url in urls:
            wait_until_ready(url)
        yield TwoServers(urls=urls, keys=keys, database_url=database_url)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


@contextmanager
def _signed_in_browser(url: str, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url) as browser:
        form = browser.get("/inbox/sign-in")
        signed_in = browser.post("/inbox/sign-in", data={"csrf_token": csrf_token(form.text), "api_key": key})
        assert signed_in.status_code == 303, signed_in.text
        yield browser


def _inbox_with(url: str, cookie: str) -> httpx.Response:
    """GET /inbox with exactly this session cookie, as a saved copy of it would be replayed."""
    return httpx.get(f"{url}/inbox", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})


def test_sign_out_and_revocation_count_at_once_on_every_server(two_servers: TwoServers) -> None:
    first, second = two_servers.urls

    # Sign-out on one server ends the session on both, for every copy of the cookie.
    with _signed_in_browser(first, two_servers.keys["erin"]) as browser:
        cookie = browser.cookies[SESSION_COOKIE]
        assert _inbox_with(second, cookie).status_code == 200  # the same session, through the other server
        browser.post("/inbox/sign-out", data={"csrf_token": csrf_token(browser.get("/inbox").text)})
    for url in two_servers.urls:
        ended = _inbox_with(url, cookie)
        assert ended.status_code == 303 and ended.headers["location"] == "/inbox/sign-in"

    # A key revoked in a third process is refused by both servers at once (no cache window), and its
    # inbox session ends with it.
    bob = {"Authorization": f"Bearer {two_servers.keys['bob']}"}
    with _signed_in_browser(first, two_servers.keys["bob"]) as browser:
        cookie = browser.cookies[SESSION_COOKIE]
    for url in two_servers.urls:  # each server has authenticated the key (and would have cached it)
        assert httpx.get(f"{url}/v1/approvals", headers=bob).status_code == 200
        assert _inbox_with(url, cookie).status_code == 200
    asyncio.run(_revoke(two_servers.database_url, "bob"))
    for url in two_servers.urls:
        refused = httpx.get(f"{url}/v1/approvals", headers=bob)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
        assert _inbox_with(url, cookie).status_code == 303
    assert asyncio.run(_count_sessions(two_servers.database_url)) == 0
    alice = {"Authorization": f"Bearer {two_servers.keys['alice']}"}
    assert httpx.get(f"{second}/v1/tools", headers=alice).status_code == 200
