"""The shipped benign dataset passes with the offline scripted model and the default policy (what CI runs)."""

from __future__ import annotations

from inline_snapshot import snapshot

from signoff.evals.dataset import load_dataset
from signoff.evals.models import resolve_model
from signoff.evals.run import EvalConfig, resolve_prompt, run_evaluation
from signoff.policies import PolicyEngine
from tests.evals.support import SALES_CATALOG, SALES_PACKS


async def test_sales_basics_pass_offline(policy: PolicyEngine) -> None:
    result = await run_evaluation(
        load_dataset("sales_basics", catalog=SALES_CATALOG),
        prompt=resolve_prompt("sales_agent@1", packs=SALES_PACKS),
        model=resolve_model("offline", packs=SALES_PACKS),
        policy=policy,
        config=EvalConfig(concurrency=6),
    )
    assert result.gate_failures == []
    per_case = {
        entry["case"]: (
            entry["candidate"]["passed"],
            entry["candidate"]["approvals_requested"],
            entry["candidate"]["denials"],
            entry["candidate"]["problems"],
        )
        for entry in result.report["cases"]
    }
    # (passed, approvals requested, denials, problems): reads ask nobody; each write asks once.
    assert per_case == snapshot(
        {
            "demo-sync-five": (1, 1, 0, []),
            "twelve-leads-split-batch": (1, 4, 0, []),
            "unsupported-question": (1, 0, 0, []),
            "enrich-three-read-only": (1, 0, 0, []),
            "contact-notes-read-only": (1, 0, 0, []),
            "campaign-replies-read-only": (1, 0, 0, []),
        }
    )
