"""The policy layer: pure rules over (tool call, context) that allow, deny or ask a person.

`build_policy_engine(load_policy_config(path))` gives the configured engine; `PolicyEngine.evaluate`
decides one call and `PolicyEngine.explain` shows every rule's opinion. Any exception inside a rule is
a deny. Tools never contain policy code; the guard gathers `PolicyContext` and asks the engine.
"""

from signoff.policies.config import PolicyConfig, PolicyConfigError, load_policy_config
from signoff.policies.context import CallRecord, CumulativeSpend, PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision, Verdict, combine, strictest
from signoff.policies.engine import PolicyEngine, RuleFailure, RuleOpinion, build_policy_engine
from signoff.policies.rules import RULESET_VERSION, PolicyRule

__all__ = [
    "RULESET_VERSION",
    "CallRecord",
    "CumulativeSpend",
    "Decision",
    "PolicyConfig",
    "PolicyConfigError",
    "PolicyContext",
    "PolicyEngine",
    "PolicyRule",
    "RuleFailure",
    "RuleOpinion",
    "ToolCallRequest",
    "Verdict",
    "build_policy_engine",
    "combine",
    "load_policy_config",
    "strictest",
]
