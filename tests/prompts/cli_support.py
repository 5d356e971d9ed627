"""`signoff prompts` in process, on a copy of the prompts directory and an empty database of each backend."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.agent.store.migrate import upgrade_database
from signoff.evals.records import EvalRunRecord, record_eval_run
from signoff.prompts import PromptRegistry
from signoff.tools.sales import sales_pack
from tests.support.cli import Signoff


@dataclass(frozen=True, kw_only=True)
class PromptsCli(Signoff):
    """`signoff prompts --dir <copy>` bound to one test's prompts copy and database."""

    registry: PromptRegistry

    def record(self, record: EvalRunRecord) -> None:
        """Store an evaluation run in this CLI's database, as `signoff eval run` would."""

        async def store() -> None:
            engine = create_engine(self.database_url)
            try:
                await upgrade_database(engine, [sales_pack()])
                sessions: SessionFactory = create_session_factory(engine)
                await record_eval_run(sessions, record)
            finally:
                await engine.dispose()

        asyncio.run(store())
