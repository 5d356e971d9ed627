"""Support for HTTP API tests: an app with its lifespan running, keys for each role, and polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic_ai.models import Model

from signoff.api.app import create_app
from signoff.api.keys import create_api_key
from signoff.api.rate_limit import RateLimiter
from signoff.api.settings import Settings
from signoff.tools.packs import ToolPack
from signoff.tools.sales.demo_model import DEMO_TASKS

DEMO = DEMO_TASKS[0]
"""The README's demo task: the offline model discovers, enriches, and asks to sync 5 contacts."""

# How long a test waits for a background run: the offline model finishes in well under a second.
WAIT_SECONDS = 20


@dataclass
class Api:
    """An app under test, with one client per principal."""

    app: FastAPI
    clients: dict[str, httpx.AsyncClient]
    keys: dict[str, str]
    """Each principal's API key, for an app started later on the same database (`running_api(keys=...)`)."""

    def __getitem__(self, principal: str) -> httpx.AsyncClient:
        return self.clients[principal]

    async def demo_awaiting_approval(self, principal: str = "alice") -> dict[str, Any]:
        """Start the demo task as `principal`; the run once its CRM sync waits for a person."""
        response = await self[principal].post("/v1/tasks", json={"message": DEMO})
        assert response.status_code == 202, response.text
        return await self.wait_for_run(
            principal, response.json()["run_id"], until=lambda r: r["status"] == "awaiting_approval"
        )

    async def start_demo(self, principal: str = "alice") -> tuple[str, str]:
        """Start the demo task as `principal`; (run id, id of its one pending approval)."""
        run = await self.demo_awaiting_approval(principal)
        [pending] = run["pending_approvals"]
        return run["run_id"], pending["approval_id"]

    async def wait_for_run(
        self, principal: str, run_id: str, *, until: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Poll the run until `until(run)` holds (at most WAIT_SECONDS)."""
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                response = await self[principal].get(f"/v1/runs/{run_id}")
                if response.status_code == 429:  # a poller honours the rate limit, as any client should
                    await asyncio.sleep(int(response.headers["Retry-After"]))
                    continue
                assert response.status_code == 200, response.text
                run = response.json()
                if until(run):
                    return run
                await asyncio.sleep(0.05)


# Principals and their roles in every API test.
PRINCIPALS: dict[str, list[str]] = {
    "alice": ["requester"],
    "bob": ["approver"],
    "carol": ["admin"],
    "dave": ["requester", "approver"],
}


def api_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test app: the given database, the offline model, no environment."""
    return Settings(database_url=database_url, data_dir=data_dir, model="offline", anthropic_api_key=None, **overrides)


@asynccontextmanager
async def running_api(
    settings: Settings,
    *,
    keys: dict[str, str] | None = None,
    model: Model | None = None,
    packs: Sequence[ToolPack] | None = None,
    rate_limiter: RateLimiter | None = None,
) -> AsyncIterator[Api]:
    """Start the app (lifespan included), create a key per principal, yield clients, shut down.

    `keys` are the keys an earlier app created on the same database (`Api.keys`): they are used
    instead of creating new ones. `model`, `packs` and `rate_limiter` go to `create_app`.
    """
    app = create_app(settings, model=model, packs=packs, rate_limiter=rate_limiter)
    async with app.router.lifespan_context(app):
        clients: dict[str, httpx.AsyncClient] = {}
        transport = httpx.ASGITransport(app=app)
        keys = dict(keys or {})
        for name, roles in PRINCIPALS.items():
            if name not in keys:
                _row, keys[name] = await create_api_key(app.state.runtime.session_factory, name=name, roles=roles)
            key = keys[name]
            clients[name] = httpx.AsyncClient(
                transport=transport, base_url="http://signoff.test", headers={"Authorization": f"Bearer {key}"}
            )
        clients["anonymous"] = httpx.AsyncClient(transport=transport, base_url="http://signoff.test")
        try:
            yield Api(app=app, clients=clients, keys=keys)
        finally:
            for client in clients.values():
                await client.aclose()
