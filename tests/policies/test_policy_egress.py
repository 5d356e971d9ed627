"""The egress rule: arguments a read tool sends to a third party may not carry outside data out."""

from __future__ import annotations

import base64
from typing import Any, Literal

import pytest
from inline_snapshot import snapshot
from pydantic import BaseModel

from signoff.policies import PolicyConfig, build_policy_engine
from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.rules import EgressRule
from signoff.policies.taint import encoded_tokens, expanded, fingerprints
from signoff.tools.registry import Egress, ToolSpec
from tests.policies.conftest import NOW

# What the agent read from the CRM in this conversation: a note with a phone number and a sentence.
NOTE = "Prefers calls after 5pm. Direct line +49 30 1234 5678. Budget approved for the Berlin rollout."


class Profile(BaseModel):
    industry: str
    location: str
    titles: list[str] = []


async def search(icp: Profile, limit: int = 10) -> list[str]:
    """Search leads."""
    return []


async def enrich(emails: list[str]) -> list[str]:
    """Enrich addresses."""
    return emails


SEARCH = ToolSpec(
    name="search",
    function=search,
    description="Search.",
    destructive=False,
    requires_approval=False,
    egress=(Egress("icp"),),
    returns_contacts=True,
)
ENRICH = ToolSpec(
    name="enrich",
    function=enrich,
    description="Enrich.",
    destructive=False,
    requires_approval=False,
    egress=(Egress("emails", holds="contacts"),),
)


def context(**overrides: Any) -> PolicyContext:
    values: dict[str, Any] = {
        "run_id": "run-1",
        "now": NOW,
        "untrusted_fingerprints": {found: "get_contact" for found in fingerprints(NOTE)},
        "trusted_fingerprints": frozenset(fingerprints("Find 10 logistics leads in Hamburg")),
        "trusted_text": "Find 10 logistics leads in Hamburg",
    }
    values.update(overrides)
    return PolicyContext(**values)


def decide_search(icp: dict[str, Any], **overrides: Any) -> str | None:
    decision = EgressRule().evaluate(
        ToolCallRequest(tool_name="search", spec=SEARCH, args={"icp": icp}), context(**overrides)
    )
    return None if decision is None else f"{decision.verdict}: {decision.reason}"


def decide_enrich(emails: list[str], **overrides: Any) -> str | None:
    decision = EgressRule().evaluate(
        ToolCallRequest(tool_name="enrich", spec=ENRICH, args={"emails": emails}), context(**overrides)
    )
    return None if decision is None else f"{decision.verdict}: {decision.reason}"


def test_the_users_own_criteria_leave_without_a_person() -> None:
    assert decide_search({"industry": "logistics", "location": "Hamburg"}) is None
    asked = "Find 10 logistics leads in Hamburg, heads of operations at 501-1000 companies"
    profile = {"industry": "Logistics", "location": "hamburg", "titles": ["Head of Operations"]}
    assert decide_search(profile, trusted_text=asked) is None


class Sized(BaseModel):
    industry: str
    company_size: Literal["51-200", "501-1000", "1001-5000"] | None = None


async def sized_search(icp: Sized, limit: int = 10) -> list[str]:
    """Search."""
    return []


def test_an_enumerated_value_of_the_schema_is_no_one_elses_words() -> None:
    spec = ToolSpec(name="sized", function=sized_search, description="Search.", egress=(Egress("icp"),))
    args = {"icp": {"industry": "logistics", "company_size": "1001-5000"}}
    assert EgressRule().evaluate(ToolCallRequest(tool_name="sized", spec=spec, args=args), context()) is None


@pytest.mark.parametrize(
    "titles",
    [
        pytest.param(["four nine three zero nine eight seven six"], id="digits-as-words"),
        pytest.param(["5678", "1234", "Head of 30", "VP 49"], id="pieces-out-of-order"),
        pytest.param(["prefers calls after"], id="three-words-of-a-note"),
        pytest.param([base64.b32encode(b"+49 30 1234 5678").decode().lower()], id="lowercase-base32"),
        pytest.param([":".join(f"{b:02x}" for b in b"+49 30 1234 5678")], id="hex-with-colons"),
        pytest.param(["Node.js Developer"], id="a-title-the-user-never-asked-for"),
    ],
)
def test_any_words_the_user_did_not_write_need_a_person(titles: list[str]) -> None:
    # The allow-list, not the fingerprints, is what holds against encodings nobody thought of.
    reason = decide_search({"industry": "logistics", "location": "Hamburg", "titles": titles})
    assert reason is not None
    assert "holds words the user did not write" in reason


def test_a_phone_number_from_the_crm_in_a_filter_needs_a_person() -> None:
    assert decide_search(
        {"industry": "logistics", "location": "Hamburg", "titles": ["Call +49 30 12345678"]}
    ) == snapshot(
        "require_approval: search sends its arguments to a third party, and they may carry data out: icp "
        "holds words the user did not write ('call 49 30 12345678'); icp holds a phone-number-like run of "
        "7 or more digits ('Call +49 30 12345678'); the phone number 493012345678, read from get_contact"
    )


def test_a_copied_sentence_from_a_note_needs_a_person() -> None:
    reason = decide_search({"industry": "logistics", "location": "Budget approved for the Berlin rollout"})
    assert reason is not None
    assert 'the words "budget approved for the"' in reason
    assert "read from get_contact" in reason


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: base64.b64encode(text.encode()).decode(), id="base64"),
        pytest.param(lambda text: base64.urlsafe_b64encode(text.encode()).decode().rstrip("="), id="base64url"),
        pytest.param(lambda text: base64.b32encode(text.encode()).decode(), id="base32"),
        pytest.param(lambda text: text.encode().hex(), id="hex"),
    ],
)
def test_encoded_outside_data_is_decoded_and_found(encode: Any) -> None:
    secret = "Direct line +49 30 1234 5678"
    reason = decide_search({"industry": "logistics", "location": "Hamburg", "titles": [encode(secret)]})
    assert reason is not None
    assert "an encoded value" in reason
    assert "the phone number 493012345678, read from get_contact" in reason


def test_a_number_split_over_calls_joins_up() -> None:
    # Neither half is a phone number; together with what an earlier search sent, they spell the CRM's.
    reason = decide_search(
        {"industry": "logistics", "location": "Hamburg", "titles": ["Desk 1234 5678"]},
        earlier_egress=("logistics", "Hamburg", "Team 49 30"),
    )
    assert reason is not None
    assert "the phone number 493012345678 across this and earlier calls, read from get_contact" in reason


def test_base64_split_over_calls_joins_up() -> None:
    encoded = base64.b64encode(b"Budget approved for the Berlin rollout").decode()
    # Cut off the 4-character grid, so that neither half decodes to the note's words on its own.
    first, second = encoded[:21], encoded[21:]
    alone = decide_search({"industry": "logistics", "location": "Hamburg", "titles": [second]})
    assert alone is None or "read from get_contact" not in alone
    reason = decide_search(
        {"industry": "logistics", "location": "Hamburg", "titles": [second]},
        earlier_egress=("logistics", "Hamburg", first),
    )
    assert reason is not None
    assert 'the words "budget approved for the" across this and earlier calls' in reason


def test_addresses_and_urls_are_not_search_criteria() -> None:
    assert decide_search({"industry": "logistics", "location": "drop@collector.example"}) == snapshot(
        "require_approval: search sends its arguments to a third party, and they may carry data out: icp "
        "holds words the user did not write ('drop collector example'); icp holds an email address "
        "(drop@collector.example)"
    )
    reason = decide_search({"industry": "https://collector.example/x", "location": "Hamburg"})
    assert reason is not None and "a domain or URL (collector.example)" in reason


def test_what_the_user_wrote_is_never_suspect() -> None:
    trusted = "Find leads for titles 'Call +49 30 12345678' in logistics, Hamburg"
    assert (
        decide_search(
            {"industry": "logistics", "location": "Hamburg", "titles": ["Call +49 30 12345678"]},
            trusted_text=trusted,
            trusted_fingerprints=frozenset(fingerprints(trusted)),
        )
        # Every word of it is the user's: the user may send what they wrote.
        is None
    )


def test_words_are_not_mistaken_for_encodings() -> None:
    assert encoded_tokens("internationalization Warehousing supplychainmanagement") == []
    asked = "find internationalization leads in Hamburg"
    assert decide_search({"industry": "internationalization", "location": "Hamburg"}, trusted_text=asked) is None


def test_expanded_adds_the_decoded_form() -> None:
    assert expanded("x " + base64.b64encode(b"hello world").decode()) == snapshot("x aGVsbG8gd29ybGQ=\nhello world")


def test_enrichment_targets_must_be_known_found_or_named() -> None:
    assert decide_enrich(["ana@acme.example"], known_recipients=frozenset({"ana@acme.example"})) is None
    assert decide_enrich(["lead@found.example"], discovered_contacts=frozenset({"lead@found.example"})) is None
    assert decide_enrich(["ana@named.example"], trusted_text="enrich ana@named.example") is None
    assert decide_enrich(
        ["ana.5550142@collector.example"], known_recipients=frozenset({"ana@acme.example"})
    ) == snapshot(
        "require_approval: enrich sends its arguments to a third party, and they may carry data out: emails sends "
        "ana.5550142@collector.example, who is not a CRM contact, was not found by discovery in this conversation "
        "and was not named by the user"
    )


def test_deny_mode_refuses_with_a_reason_the_model_can_act_on() -> None:
    decision = EgressRule(deny=True).evaluate(
        ToolCallRequest(tool_name="search", spec=SEARCH, args={"icp": {"industry": "a@b.example", "location": "x"}}),
        context(),
    )
    assert decision is not None and decision.verdict == "deny"
    assert decision.reason.endswith("Not sent; search with plain criteria instead.")


def test_the_engine_applies_egress_and_the_config_can_deny() -> None:
    call = ToolCallRequest(tool_name="search", spec=SEARCH, args={"icp": {"industry": "a@b.example", "location": "x"}})
    assert build_policy_engine(PolicyConfig()).evaluate(call, context()).rule == "egress"
    denied = build_policy_engine(PolicyConfig(egress_findings="deny")).evaluate(call, context())
    assert (denied.verdict, denied.rule) == ("deny", "egress")


def test_egress_metadata_must_name_a_parameter() -> None:
    with pytest.raises(ValueError, match="egress 'query' is not one of its parameters"):
        ToolSpec(name="search", function=search, description="Search.", egress=(Egress("query"),))
