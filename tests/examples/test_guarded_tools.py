"""examples/guarded_tools.py runs as documented: the small refund at once, the large one after approval, once."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

from inline_snapshot import snapshot

import signoff
from signoff.agent.records import ledger_entries

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "guarded_tools.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("guarded_tools_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_the_example_refunds_each_order_once_and_the_large_one_only_after_approval(
    tmp_path: Path, capsys: object
) -> None:
    example = _load_example()
    outcome = await example.main(tmp_path)
    assert outcome.status == "completed"
    # The run used the pack's own prompt (from its prompts folder, at the production label).
    engine = signoff.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'signoff.db'}")
    try:
        entries = await ledger_entries(signoff.create_session_factory(engine), outcome.run_id)
    finally:
        await engine.dispose()
    assert {(entry.prompt_name, entry.prompt_version) for entry in entries} == {("refund_agent", "1")}
    assert example.refunded == [("A-1001", Decimal("12.50")), ("A-1002", Decimal("180.00"))]
    printed = capsys.readouterr().out  # type: ignore[attr-defined]
    assert printed.splitlines() == snapshot(
        [
            "awaiting_approval: 1 approval(s) waiting",
            "completed: refunded $12.50 on order A-1001; refunded $180.00 on order A-1002",
            "  refund_order {'amount_usd': '12.50', 'order_id': 'A-1001'} -> allow (default_allow), succeeded",
            "  refund_order {'amount_usd': '180.00', 'order_id': 'A-1002'} -> require_approval "
            "(tool_metadata_approval), succeeded",
            "  2 model requests, cost unknown",
        ]
    )


def test_the_public_api_is_exactly_what_signoff_exports() -> None:
    # Every public name is a promise: a new one is added here on purpose, with a CHANGELOG line.
    assert sorted(signoff.__all__) == signoff.__all__
    assert all(getattr(signoff, name).__doc__ for name in signoff.__all__)
    assert signoff.__all__ == snapshot(
        [
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
    )
