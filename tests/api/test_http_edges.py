"""The edges of HTTP (issue #13, item 5): what a flood of connections, bodies and bad keys can do.

Connections are tested against a real `signoff serve` over raw sockets: a connection that never sends a
complete request head is closed after the header timeout, an idle keep-alive one after its timeout, and
a legitimate request succeeds while idle connections hold more descriptors than the server may open.
Repeated identical log lines are counted instead of written. Bodies and bad keys go through the ASGI app.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from signoff.api.errors import MAX_ERROR_DETAILS, MAX_ERROR_TEXT_CHARS
from signoff.api.limits import MAX_BODY_BYTES
from signoff.api.repeated_logs import RepeatedLogFilter
from tests.api.http_support import DEMO, Api, api_settings, running_api
from tests.support.serve import csrf_token, free_port, wait_until_ready

BIN = Path(sys.executable).parent
# How long past a timeout the server may take to close a connection on a loaded CI machine.
SLACK_SECONDS = 2.0


@dataclass
class Server:
    """A `signoff serve` process, its address and where its log goes."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@contextmanager
def serving(tmp_path: Path, *, open_files: int | None = None, **settings: str) -> Iterator[Server]:
    """`signoff serve` with these SIGNOFF_* settings (and at most `open_files` descriptors), stopped after."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SIGNOFF_", "ANTHROPIC_"))}
    env |= {"SIGNOFF_DATA_DIR": str(tmp_path / "data"), "SIGNOFF_MODEL": "offline"}
    env |= {f"SIGNOFF_{name.upper()}": value for name, value in settings.items()}

    def limit_open_files() -> None:
        if open_files is not None:
            _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, hard))

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(BIN / "signoff"), "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_open_files,
        )
    server = Server(process=process, port=port, log=log)
    try:
        wait_until_ready(server.base_url)
        yield server
    finally:
        server.stop()


def _connect(server: Server) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return connection


def _seconds_until_closed(connection: socket.socket, *, within: float) -> float:
    """Read until the server closes the connection; the seconds that took (fails after `within`)."""
    started = time.monotonic()
    connection.settimeout(within)
    try:
        while connection.recv(65536):
            pass
    except TimeoutError:
        raise AssertionError(f"the server left the connection open for more than {within:g} s") from None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


@pytest.fixture(scope="module")
def short_timeouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("serve"), http_header_timeout_seconds="1", http_keep_alive_seconds="1") as s:
        yield s


@pytest.mark.slow  # starts `signoff serve`
def test_a_connection_that_sends_no_complete_request_head_is_closed(short_timeouts: Server) -> None:
    silent = _connect(short_timeouts)
    trickling = _connect(short_timeouts)
    started = time.monotonic()
    trickling.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    # A byte at a time, never ending the head: each byte used to keep the connection alive for ever.
    closed = False
    while not closed and time.monotonic() - started < 1 + SLACK_SECONDS:
        try:
            trickling.sendall(b"X")
        except OSError:  # reset or broken pipe: the server closed it
            closed = True
        time.sleep(0.2)
    assert closed, "the server kept a connection trickling its request head open"
    assert _seconds_until_closed(silent, within=1 + SLACK_SECONDS) >= 0
    assert httpx.get(f"{short_timeouts.base_url}/healthz").status_code == 200


@pytest.mark.slow  # starts `signoff serve`
def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(short_timeouts: Server) -> None:
    connection = _connect(short_timeouts)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    # The keep-alive timeout is 1 s here (uvicorn's fixed default was 5 s).
    assert _seconds_until_closed(connection, within=1 + SLACK_SECONDS) < 1 + SLACK_SECONDS


@pytest.mark.slow  # starts `signoff serve`
def test_repeated_identical_log_lines_are_counted_not_written(short_timeouts: Server) -> None:
    before = short_timeouts.log_text().count("Invalid HTTP request received.")
    for _ in range(50):
        with _connect(short_timeouts) as connection:
            connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert connection.recv(65536).startswith(b"HTTP/1.1 400")
    time.sleep(0.5)  # the log is written by another process
    log = short_timeouts.log_text()
    assert log.count("Invalid HTTP request received.") - before <= 3, log[-2000:]
    assert "further identical messages are counted" in log


@pytest.mark.slow  # starts `signoff serve`
def test_legitimate_requests_succeed_while_idle_connections_outnumber_the_open_file_limit(tmp_path: Path) -> None:
    # 256 descriptors: the default connection limit is 128, the rest is for the database and the logs.
    # Without a limit, 300 idle connections took every descriptor and the server could accept nobody.
    with serving(tmp_path, open_files=256, http_header_timeout_seconds="120") as server:
        idle: list[socket.socket] = []
        for _ in range(300):
            idle.append(_connect(server))
            # Paced a little: a client that connects faster than the server accepts fills its (small)
            # listen queue, and each connection then waits a second for the kernel to retry it.
            time.sleep(0.002)
        try:
            for _ in range(3):
                response = httpx.get(f"{server.base_url}/healthz", timeout=10)
                assert response.status_code == 200
            time.sleep(0.5)
            evicted = 0
            for connection in idle:
                connection.settimeout(0.01)
                with suppress(TimeoutError):
                    evicted += connection.recv(1) == b""
            # Each new connection past the limit closed the longest-idle one, so the oldest are gone.
            assert evicted >= 300 - 128
            assert server.process.poll() is None
        finally:
            for connection in idle:
                connection.close()
        server.stop()
        log = server.log_text()
    # One line a connection closed would be 170 lines; a few, then one count.
    assert log.count("connection limit (128) reached") <= 3, log[-3000:]
    assert "further identical messages are counted" in log
    assert "out of system resource" not in log and "Too many open files" not in log


def test_identical_lines_past_the_burst_are_summarised_when_the_window_ends() -> None:
    now = [0.0]
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("tests.repeated")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(Collect())
    log_filter = RepeatedLogFilter(burst=2, window_seconds=30, clock=lambda: now[0])
    logger.addFilter(log_filter)

    for _ in range(1000):
        logger.warning("Invalid HTTP request received.")
    logger.warning("a different line")
    logger.info("info lines pass: %d", 1)
    logger.info("info lines pass: %d", 1)
    assert records == [
        "Invalid HTTP request received.",
        "Invalid HTTP request received. (further identical messages are counted for 30 s)",
        "a different line",
        "info lines pass: 1",
        "info lines pass: 1",
    ]
    now[0] += 31
    logger.warning("Invalid HTTP request received.")
    assert records[5:] == [
        "Invalid HTTP request received. (repeated 998 more times in 31 s)",
        "Invalid HTTP request received.",
    ]
    log_filter.flush()
    assert len(records) == 7  # nothing was held back since, so there is nothing to summarise


# --- bodies and bad keys, through the ASGI app -----------------------------------------------------


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    settings = api_settings(database_url, tmp_path, auth_failure_burst=3, auth_failures_per_minute=1)
    async with running_api(settings) as running:
        yield running


def _client_at(api: Api, address: str, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://signoff.test", headers=headers)


async def test_a_chunked_body_over_the_limit_gets_413_like_a_sized_one(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 10_000 + 2):
            yield b" " * 10_000

    chunked = await api["alice"].post("/v1/tasks", content=chunks(), headers={"content-type": "application/json"})
    sized = await api["alice"].post("/v1/tasks", content=b" " * (MAX_BODY_BYTES + 1))
    assert "content-length" not in chunked.request.headers
    assert (chunked.status_code, chunked.json()) == (sized.status_code, sized.json())
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "body_too_large"

    # Under the limit, a chunked body is read as usual.
    async def small() -> AsyncIterator[bytes]:
        yield json.dumps({"message": DEMO}).encode()

    accepted = await api["alice"].post("/v1/tasks", content=small(), headers={"content-type": "application/json"})
    assert accepted.status_code == 202, accepted.text


async def test_a_validation_error_stays_small_however_large_the_request(api: Api) -> None:
    # 20,000 unknown fields in 249 KB: the 422 listing each one was 1.3 MB.
    fields = {f"k{i}": 0 for i in range(20_000)}
    body = json.dumps({"message": "hi", **fields, "x" * 5000: 0})
    assert len(body) < MAX_BODY_BYTES
    response = await api["alice"].post("/v1/tasks", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert len(response.content) < 8_000
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert len(error["details"]) == MAX_ERROR_DETAILS and error["details_omitted"] == 20_001 - MAX_ERROR_DETAILS
    assert error["details"][0] == {"loc": ["body", "k0"], "msg": "Extra inputs are not permitted"}

    # A field error whose location echoes a huge key keeps only the start of it.
    huge_key = {"message": "hi", "y" * 50_000: 0}
    response = await api["alice"].post("/v1/tasks", json=huge_key)
    [detail] = response.json()["error"]["details"]
    assert len(detail["loc"][1]) < MAX_ERROR_TEXT_CHARS + 50 and detail["loc"][1].startswith("yyy")
    assert len(response.content) < 1_000


async def test_failed_authentication_is_limited_per_client_address(api: Api) -> None:
    guesser = _client_at(api, "203.0.113.7", Authorization="Bearer sk-signoff-guess")
    for _ in range(3):
        assert (await guesser.get("/v1/tools")).status_code == 401
    limited = await guesser.get("/v1/tools")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "too_many_failed_authentications"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60

    # Another address is not held up by the first one's failures.
    neighbour = _client_at(api, "198.51.100.9", Authorization="Bearer sk-signoff-typo")
    assert (await neighbour.get("/v1/tools")).status_code == 401

    # Successes never count: a client that authenticates does not use up the budget of failures.
    working = _client_at(api, "192.0.2.1", Authorization=f"Bearer {api.keys['alice']}")
    for _ in range(10):
        assert (await working.get("/v1/tools")).status_code == 200
    working.headers["Authorization"] = "Bearer sk-signoff-revoked"
    assert [(await working.get("/v1/tools")).status_code for _ in range(4)] == [401, 401, 401, 429]


async def test_failed_inbox_sign_ins_are_limited_and_share_the_budget_with_the_api(api: Api) -> None:
    browser = _client_at(api, "203.0.113.8")
    form = await browser.get("/inbox/sign-in")
    token = csrf_token(form.text)
    for _ in range(2):
        bad = await browser.post("/inbox/sign-in", data={"csrf_token": token, "api_key": "sk-signoff-nope"})
        assert bad.status_code == 401
    # The same address fails once more through the API: its budget of three is spent.
    assert (await browser.get("/v1/tools", headers={"Authorization": "Bearer sk-signoff-nope"})).status_code == 401
    limited = await browser.post("/inbox/sign-in", data={"csrf_token": token, "api_key": api.keys["bob"]})
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "Too many failed sign-ins from this address" in limited.text

    elsewhere = _client_at(api, "198.51.100.10")
    token = csrf_token((await elsewhere.get("/inbox/sign-in")).text)
    signed_in = await elsewhere.post("/inbox/sign-in", data={"csrf_token": token, "api_key": api.keys["bob"]})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/inbox"
