"""Several processes migrating one empty database at the same moment take turns and all succeed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from signoff.agent.store.engine import create_engine
from signoff.agent.store.migrate import current_revision, head_revision, upgrade_database
from signoff.tools.sales import sales_pack

# What each process runs: migrate, as every Signoff process does at start-up, from the same instant
# (argv[2], a wall-clock time after every process has imported), so that the migrations overlap.
_MIGRATE = (
    "import asyncio, sys, time\n"
    "from signoff.agent.store.engine import create_engine\n"
    "from signoff.agent.store.migrate import upgrade_database\n"
    "async def main():\n"
    "    engine = create_engine(sys.argv[1])\n"
    "    await asyncio.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
    "    from signoff.tools.sales import sales_pack\n    await upgrade_database(engine, [sales_pack()])\n"
    "    await engine.dispose()\n"
    "asyncio.run(main())\n"
)
# Time for the processes to start and import before the common instant.
_START_DELAY_SECONDS = 5.0
_ROOT = Path(__file__).resolve().parents[2]


async def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def test_engines_of_one_process_migrating_at_once_take_turns(database_url: str) -> None:
    # Before the migration lock, on PostgreSQL this deadlocked: each transaction waited for the other's tables.
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(upgrade_database(engine, [sales_pack()]) for engine in engines)), timeout=60
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert await _revision(database_url) == head_revision()


@pytest.mark.slow
async def test_processes_migrating_at_once_all_start(database_url: str) -> None:
    start_at = time.time() + _START_DELAY_SECONDS
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _MIGRATE,
            database_url,
            str(start_at),
            cwd=_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    results = [await asyncio.wait_for(process.communicate(), timeout=120) for process in processes]
    failures = [
        stderr.decode()[-2000:] for process, (_, stderr) in zip(processes, results, strict=True) if process.returncode
    ]
    assert failures == []
    assert await _revision(database_url) == head_revision()
