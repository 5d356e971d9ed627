"""Assembles one Signoff runtime from explicit parts: store, tools, policy, model, prompt, runner.

Nothing here reads the environment: `api/` maps settings onto these arguments, and tests pass their
own. The tools come from tool packs (`tools.packs`): the runtime builds each enabled pack on its
database and clock, and never imports a pack itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import logfire
from pydantic_ai.models import Model
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.answers import AnswerCheck, check_run_answer
from signoff.agent.approvals import ApprovalService
from signoff.agent.decider import CallDecider, KnownRecipientsLookup
from signoff.agent.effects import CallResolution
from signoff.agent.ledger import LedgerEntry, LedgerWriter
from signoff.agent.model_calls import ModelCalls
from signoff.agent.models import ModelRoutes
from signoff.agent.records import LedgerTotals, ToolCallRecord, audit_trail, ledger_entries, ledger_totals
from signoff.agent.resolutions import resolve_unknown_call
from signoff.agent.runner import Runner
from signoff.agent.runs import RunnerSettings
from signoff.agent.store.engine import SessionFactory, create_session_factory
from signoff.agent.store.migrate import upgrade_database
from signoff.policies import PolicyEngine
from signoff.prompts import DEFAULT_LABEL, PromptError, PromptRegistry, PromptTemplate
from signoff.tools.packs import (
    CredentialCheck,
    DescribeChanges,
    KnownDomains,
    LoadedPack,
    PackContext,
    PackTools,
    ServiceHealth,
    ToolPack,
    build_packs,
)
from signoff.tools.registry import ToolRegistry

__all__ = [
    "Runtime",
    "build_runtime",
    "check_pack_options",
    "default_prompt",
    "prepare_database",
    "prompt_registries",
    "prompt_registry_for",
]


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """Everything a front end (CLI, API, evals, tests) needs to drive runs and decide approvals."""

    session_factory: SessionFactory
    registry: ToolRegistry
    packs: Sequence[LoadedPack]
    decider: CallDecider
    approvals: ApprovalService
    ledger: LedgerWriter
    runner: Runner
    model_calls: ModelCalls | None
    """Routed one-shot calls (summaries, classifications) for tools, charged to the run in the ledger
    (None under a `Guard`: a developer's tools make their own model calls)."""
    known_domains: KnownDomains | None = None
    """Which of these domains the packs' CRMs have contacts at, for the approval display (None when no
    pack can tell: the display then says "not checked")."""
    describe_changes: DescribeChanges | None = None
    """What a waiting call would overwrite in stored data, from the pack that owns the tool (None when no
    pack can tell)."""

    async def audit_trail(self, run_id: str) -> list[ToolCallRecord]:
        """Every tool call of the run: arguments, the policy's decision, the approval, the outcome."""
        return await audit_trail(self.session_factory, run_id)

    async def answer_check(self, run_id: str) -> AnswerCheck:
        """The run's effects as the audit holds them, and where its final answer claims one that did not happen."""
        return await check_run_answer(self.session_factory, run_id, registry=self.registry)

    async def resolve_unknown_call(
        self, *, run_id: str, tool_call_id: str, happened: bool, resolved_by: str, note: str | None = None
    ) -> CallResolution:
        """Record what a person found in the outside system about a call whose outcome is unknown
        (`agent.resolutions`); `ToolCallNotFound` or `OutcomeNotUnknown` when there is nothing to resolve."""
        return await resolve_unknown_call(
            self.session_factory,
            run_id=run_id,
            tool_call_id=tool_call_id,
            happened=happened,
            resolved_by=resolved_by,
            note=note,
            now=self.decider.clock(),
        )

    async def ledger_entries(self, run_id: str) -> list[LedgerEntry]:
        """Every model request attempt of the run: tokens, price (None when unknown), prompt, latency."""
        await self.ledger.flush_spool()
        return await ledger_entries(self.session_factory, run_id)

    async def ledger_totals(self, run_id: str) -> LedgerTotals:
        """The run's answered requests and their cost (`cost_usd` is None when any price is unknown)."""
        return await ledger_totals(self.ledger, self.session_factory, run_id)

    async def service_health(self) -> list[ServiceHealth]:
        """Every outside service the enabled packs call, by name (breaker state, queue depth, counters)."""
        services: list[ServiceHealth] = []
        for loaded in self.packs:
            if loaded.tools.health is not None:
                services.extend(await loaded.tools.health())
        return sorted(services, key=lambda service: service.service)

    async def check_credentials(self) -> list[CredentialCheck]:
        """One cheap read call per configured credential of every enabled pack."""
        checks: list[CredentialCheck] = []
        for loaded in self.packs:
            if loaded.tools.check_credentials is not None:
                checks.extend(await loaded.tools.check_credentials())
        return checks

    async def close_packs(self) -> None:
        """Release what the packs opened (connection pools); each pack is closed even if another fails."""
        for loaded in self.packs:
            if loaded.tools.aclose is not None:
                try:
                    await loaded.tools.aclose()
                except Exception:
                    logfire.exception("pack {pack} did not close cleanly", pack=loaded.pack.name)

    def pack_tools(self, pack_name: str) -> PackTools:
        """What the named pack built for this runtime (its tools and resources)."""
        for loaded in self.packs:
            if loaded.pack.name == pack_name:
                return loaded.tools
        enabled = ", ".join(loaded.pack.name for loaded in self.packs) or "(none)"
        raise LookupError(f"tool pack {pack_name!r} is not enabled in this runtime; enabled packs: {enabled}")


async def prepare_database(engine: AsyncEngine, packs: Sequence[ToolPack] = ()) -> SessionFactory:
    """Migrate the database to the current schema of the core and these packs; a session factory for it."""
    await upgrade_database(engine, packs)
    return create_session_factory(engine)


def check_pack_options(options: Mapping[str, object], packs: Sequence[ToolPack]) -> None:
    """Options for a pack that is not enabled are refused: a misspelt name would drop them silently."""
    unknown = sorted(set(options) - {pack.name for pack in packs})
    if unknown:
        enabled = ", ".join(pack.name for pack in packs) or "(none)"
        raise ValueError(f"pack options name {', '.join(map(repr, unknown))}, not enabled packs ({enabled})")


def prompt_registries(packs: Sequence[ToolPack]) -> list[tuple[str, PromptRegistry]]:
    """Each pack that ships prompts, by name, with its prompts folder (the core ships none)."""
    return [(pack.name, PromptRegistry(root=pack.prompt_dir)) for pack in packs if pack.prompt_dir is not None]


def prompt_registry_for(prompt_name: str, packs: Sequence[ToolPack]) -> PromptRegistry:
    """Where a prompt lives: the prompts folder of the first enabled pack that ships it."""
    for _name, registry in prompt_registries(packs):
        if (registry.templates_dir / prompt_name).is_dir():
            return registry
    shipping = ", ".join(name for name, _ in prompt_registries(packs)) or "none of them ships prompts"
    raise PromptError(f"no enabled tool pack ships a prompt {prompt_name!r} ({shipping})")


def default_prompt(packs: Sequence[ToolPack], *, label: str = DEFAULT_LABEL) -> PromptTemplate:
    """The prompt a runtime of these packs runs with when none is given: the first pack's that names one,
    at `label`, from the pack's own prompts folder (`ToolPack.prompt_dir`)."""
    for pack in packs:
        if pack.prompt is not None:
            assert pack.prompt_dir is not None  # ToolPack refuses a prompt without its folder
            return PromptRegistry(root=pack.prompt_dir).load(pack.prompt, label=label)
    names = ", ".join(pack.name for pack in packs) or "(none)"
    raise ValueError(f"no enabled tool pack ({names}) names a prompt, so the agent has no instructions; pass one")


def _known_recipients(packs: Sequence[LoadedPack]) -> KnownRecipientsLookup | None:
    lookups = [loaded.tools.known_recipients for loaded in packs if loaded.tools.known_recipients is not None]
    if not lookups:
        return None
    if len(lookups) == 1:
        return lookups[0]

    async def known_to_any(addresses: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for lookup in lookups:
            known |= await lookup(addresses)
        return known

    return known_to_any


def _describe_changes(packs: Sequence[LoadedPack]) -> DescribeChanges | None:
    lookups = [loaded.tools.describe_changes for loaded in packs if loaded.tools.describe_changes is not None]
    if not lookups:
        return None

    async def described_by_any(tool_name: str, args: Mapping[str, Any]) -> list[str]:
        lines: list[str] = []
        for lookup in lookups:
            lines += await lookup(tool_name, args)
        return lines

    return described_by_any


def _known_domains(packs: Sequence[LoadedPack]) -> KnownDomains | None:
    lookups = [loaded.tools.known_domains for loaded in packs if loaded.tools.known_domains is not None]
    if not lookups:
        return None
    if len(lookups) == 1:
        return lookups[0]

    async def known_to_any(domains: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for lookup in lookups:
            known |= await lookup(domains)
        return known

    return known_to_any


def build_runtime(
    *,
    session_factory: SessionFactory,
    model: Model,
    policy: PolicyEngine,
    model_routes: ModelRoutes | None = None,
    prompt: PromptTemplate | None = None,
    runner_settings: RunnerSettings | None = None,
    packs: Sequence[ToolPack],
    pack_options: Mapping[str, Mapping[str, str]] | None = None,
    ledger_spool_path: Path,
    daily_cost_warning_usd: Decimal | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    worker_id: str | None = None,
    allow_self_approval: bool = True,
) -> Runtime:
    """Wire a runtime. The database must already be migrated (see `prepare_database`).

    `model` plans; `model_routes` picks the models for tools' short calls (default: `model` for all).
    `packs` bring the tools (each built once here, with its `pack_options`); `prompt` defaults to the
    production version of the first pack's prompt. A tool name two packs share is a `PackLoadError`.
    """
    options = pack_options or {}
    check_pack_options(options, packs)
    registry, loaded = build_packs(
        packs,
        lambda pack: PackContext(session_factory=session_factory, clock=clock, options=options.get(pack.name, {})),
    )
    decider = CallDecider(
        registry=registry,
        policy=policy,
        session_factory=session_factory,
        known_recipients=_known_recipients(loaded),
        clock=clock,
    )
    ledger = LedgerWriter(
        session_factory, spool_path=ledger_spool_path, daily_warning_usd=daily_cost_warning_usd, clock=clock
    )
    settings = runner_settings or RunnerSettings()
    model_calls = ModelCalls(
        routes=model_routes or ModelRoutes(default=model),
        ledger=ledger,
        max_run_cost_usd=settings.max_run_cost_usd,
        clock=clock,
    )
    runner_kwargs: dict[str, str] = {} if worker_id is None else {"worker_id": worker_id}
    runner = Runner(
        decider=decider,
        model=model,
        prompt=prompt or default_prompt(packs),
        ledger=ledger,
        settings=settings,
        model_calls=model_calls,
        prompt_loader=lambda name, version: prompt_registry_for(name, packs).load(name, version=version),
        **runner_kwargs,  # pyright: ignore[reportArgumentType]
    )
    return Runtime(
        session_factory=session_factory,
        registry=registry,
        packs=loaded,
        decider=decider,
        approvals=ApprovalService(decider=decider, clock=clock, allow_self_approval=allow_self_approval),
        ledger=ledger,
        runner=runner,
        model_calls=model_calls,
        known_domains=_known_domains(loaded),
        describe_changes=_describe_changes(loaded),
    )
