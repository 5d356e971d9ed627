"""A child process that resumes a run and dies in the middle of executing the approved call.

Usage: python -m tests.support.crash_child DATABASE_URL RUN_ID

Its CRM applies the upsert and then the process exits at once (`os._exit`), as a killed worker would:
after the side effect, before the approval row records `executed`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from signoff.agent.runtime import build_runtime
from signoff.agent.store.engine import create_engine, create_session_factory
from signoff.policies import PolicyConfig, build_policy_engine
from signoff.tools.sales import Crm, offline_providers, sales_pack
from signoff.tools.sales.models import Contact, CrmContact, CrmSyncResult
from tests.support.scripted import ScriptedModel, text

CRASH_EXIT_CODE = 17


@dataclass
class CrmThatDiesAfterWriting:
    inner: Crm

    async def get_contact(self, email: str) -> CrmContact | None:
        return await self.inner.get_contact(email)

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        await self.inner.upsert_contacts(contacts)
        os._exit(CRASH_EXIT_CODE)

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        return await self.inner.known_emails(emails)


async def main(database_url: str, run_id: str) -> None:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    providers = offline_providers(sessions)
    runtime = build_runtime(
        session_factory=sessions,
        model=ScriptedModel([[text("the child must die before asking the model")]]).model,
        policy=build_policy_engine(PolicyConfig()),
        packs=[sales_pack(providers=lambda _context: replace(providers, crm=CrmThatDiesAfterWriting(providers.crm)))],
        ledger_spool_path=Path(tempfile.mkdtemp()) / "ledger-spool.jsonl",
    )
    await runtime.runner.resume(run_id)
    raise SystemExit("the child process was expected to die during execution")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
