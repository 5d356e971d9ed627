"""Signoff: Claude plans and carries out work through typed tools; a person signs off on every side effect.

The public API is exactly the names in `__all__` below; every other module is internal and may change
between releases (the CLI, the HTTP API and the `signoff.tool_packs` entry-point contract are the other
promises, documented in docs/). In the order a developer meets them:

- **Guard an agent you already have**: `Guard` is a pydantic-ai capability. Give each tool a `ToolSafety` as
  its metadata (`@agent.tool_plain(metadata={"signoff": ToolSafety(...)})`), put the guard on the agent
  (`Agent(..., capabilities=[guard])` or `guard.bind(agent)`), and drive it with `guard.run(...)` and
  `guard.resume(...)`; `guard.approvals` decides. docs/tutorial.md walks through it.
- **Declare tools** with their safety metadata: `ToolSpec` (destructive, requires approval, batch limit,
  unit cost, the summary a person approves), and `ApprovalFacts` for conditional approval.
  A tool that makes routed model calls takes `RunContext[RunDeps]` first. A tool that pays a vendor reports
  it with `charge(...)` (a provider-spend row on the ledger); one that cannot know whether its effect
  happened raises `OutcomeUnknown` (the call is `unknown`, never retried blindly).
- **Ship them as a pack**: `ToolPack`, built per runtime from a `PackContext` into `PackTools`, found
  through the entry-point group `signoff.tool_packs`. Anything wrong with a pack is a `PackLoadError`.
- **Policy rules**: `PolicyConfig` (or `load_policy_config(path)`) and `build_policy_engine`; a
  `PolicyEngine` turns each call into a `Decision` (allow, deny, require approval).
- **Build a guarded agent**: `prepare_database(create_engine(url), packs)` then `build_runtime(...)`, which
  gives a `Runtime`: its `runner` starts and resumes runs (`RunOutcome`), its `approvals` approve, edit and
  deny pending calls (`ApprovalError` and subclasses say why one cannot be decided).
- `Runtime.packs` holds each enabled pack as a `LoadedPack`; `RunDeps.prompt` is a `PromptRef`. The
  runtime's other parts (`decider`, `ledger`, `model_calls`, `registry`) are internal: use its methods.
- **Extend the evaluations** (docs/evals.md): a pack's `eval_modules` register worlds (`register_world`,
  a `WorldSeeder`), suites (`register_suite`, an `EvalSuite`), injection goals (`register_attack_goal`,
  an `AttackGoal`) and named models (`register_eval_model`).
- **Read what happened**: `Runtime.audit_trail(run_id)` (`ToolCallRecord`s), `Runtime.ledger_entries(run_id)`
  (`LedgerEntry`s) and `Runtime.ledger_totals(run_id)` (`LedgerTotals`, cost None when any price is unknown).
"""

from signoff.agent.approvals import (
    ApprovalAlreadyDecided,
    ApprovalError,
    ApprovalNotFound,
    ApprovalRefused,
    ApprovalService,
    SelfApprovalRefused,
)
from signoff.agent.guarded import Guard
from signoff.agent.ledger import LedgerEntry
from signoff.agent.records import LedgerTotals, ToolCallRecord
from signoff.agent.runner import Runner
from signoff.agent.runs import RunnerSettings, RunNotFound, RunOutcome
from signoff.agent.runtime import Runtime, build_runtime, prepare_database
from signoff.agent.store.engine import create_engine, create_session_factory
from signoff.evals.attacks import AttackGoal, register_attack_goal
from signoff.evals.models import register_eval_model
from signoff.evals.suites import EvalSuite, register_suite
from signoff.evals.worlds import WorldSeeder, register_world
from signoff.policies import Decision, PolicyConfig, PolicyEngine, build_policy_engine, load_policy_config
from signoff.prompts import PromptRegistry, PromptTemplate
from signoff.tools.charges import charge
from signoff.tools.context import PromptRef, RunDeps
from signoff.tools.outcomes import OutcomeUnknown
from signoff.tools.packs import LoadedPack, PackContext, PackLoadError, PackTools, ToolPack, load_packs
from signoff.tools.registry import (
    ApprovalFacts,
    Egress,
    ToolArgumentsError,
    ToolSafety,
    ToolSpec,
    UnknownToolError,
)

__all__ = [
    "ApprovalAlreadyDecided",
    "ApprovalError",
    "ApprovalFacts",
    "ApprovalNotFound",
    "ApprovalRefused",
    "ApprovalService",
    "AttackGoal",
    "Decision",
    "Egress",
    "EvalSuite",
    "Guard",
    "LedgerEntry",
    "LedgerTotals",
    "LoadedPack",
    "OutcomeUnknown",
    "PackContext",
    "PackLoadError",
    "PackTools",
    "PolicyConfig",
    "PolicyEngine",
    "PromptRef",
    "PromptRegistry",
    "PromptTemplate",
    "RunDeps",
    "RunNotFound",
    "RunOutcome",
    "Runner",
    "RunnerSettings",
    "Runtime",
    "SelfApprovalRefused",
    "ToolArgumentsError",
    "ToolCallRecord",
    "ToolPack",
    "ToolSafety",
    "ToolSpec",
    "UnknownToolError",
    "WorldSeeder",
    "build_policy_engine",
    "build_runtime",
    "charge",
    "create_engine",
    "create_session_factory",
    "load_packs",
    "load_policy_config",
    "prepare_database",
    "register_attack_goal",
    "register_eval_model",
    "register_suite",
    "register_world",
]
