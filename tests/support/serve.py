"""Helpers for tests that talk to a real `signoff serve` process over HTTP, as a browser or client would."""

from __future__ import annotations

import re
import socket
import time

import httpx

__all__ = ["csrf_token", "free_port", "wait_until_ready"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(base_url: str, *, seconds: float = 60) -> None:
    """Wait until the server's /readyz answers 200 (it starts slowly on a loaded machine)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url} did not become ready within {seconds:g} s")


def csrf_token(html: str) -> str:
    """The CSRF token an inbox page carries in its forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)
