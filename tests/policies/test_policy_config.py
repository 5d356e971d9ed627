"""Loading the policy file: defaults, the shipped file, clear errors, checks against tools, versions."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from inline_snapshot import snapshot

from signoff.policies.config import (
    DEFAULT_POLICY_PATH,
    PolicyConfig,
    PolicyConfigError,
    load_policy_config,
    parse_policy_config,
)
from signoff.policies.rules import RULESET_VERSION
from signoff.tools.registry import ToolRegistry


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_gives_the_safe_defaults() -> None:
    config = load_policy_config(None)
    assert config == PolicyConfig()
    assert config.model_dump(mode="json") == snapshot(
        {
            "max_run_spend_usd": "20.00",
            "max_items_without_approval": 10,
            "max_conversation_spend_usd": "50.00",
            "max_requester_daily_spend_usd": "100.00",
            "max_daily_spend_usd": "500.00",
            "max_pending_approvals_per_run": 5,
            "allowed_email_domains": [],
            "require_approval_for_untrusted_values": True,
            "egress_findings": "require_approval",
            "tools": {},
            "rate_limits": {
                "*": {"max_calls": 30, "window_seconds": 60, "max_calls_per_run": 20, "global_max_calls": None}
            },
        }
    )


def test_shipped_default_policy_equals_the_defaults(registry: ToolRegistry) -> None:
    shipped = load_policy_config(DEFAULT_POLICY_PATH, tools=registry)
    assert shipped == PolicyConfig()
    assert shipped.version == PolicyConfig().version


def test_shipped_file_documents_every_option() -> None:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    options = [*PolicyConfig.model_fields, "requires_approval", "max_batch", "max_calls", "window_seconds"]
    assert [option for option in options if option not in text] == []


def test_a_full_file(tmp_path: Path, registry: ToolRegistry) -> None:
    path = _write(
        tmp_path,
        """
max_run_spend_usd = 5
max_items_without_approval = 3
allowed_email_domains = ["Acme.io", "globex.com", "acme.io"]

[tools.sync_contacts_to_crm]
max_batch = 5
requires_approval = false

[rate_limits.send_outreach_email]
max_calls = 5
window_seconds = 3600
""",
    )
    config = load_policy_config(path, tools=registry)
    assert config.max_run_spend_usd == Decimal("5.00")
    assert config.allowed_email_domains == ("acme.io", "globex.com")
    assert config.tools["sync_contacts_to_crm"].max_batch == 5
    assert set(config.rate_limits) == {"send_outreach_email"}, "a file's rate_limits replace the defaults"


def test_money_is_exact_and_equal_spellings_are_one_version(tmp_path: Path) -> None:
    versions = {
        parse_policy_config(f"max_run_spend_usd = {value}").version for value in ("20", "20.0", "20.00", '"20"')
    }
    assert versions == {PolicyConfig().version}
    assert parse_policy_config("max_run_spend_usd = 0.10").max_run_spend_usd == Decimal("0.10")


def test_unknown_option_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "max_run_spend = 5\n\n[tools.find_leads]\nmaxbatch = 3\n")
    with pytest.raises(PolicyConfigError) as caught:
        load_policy_config(path)
    assert str(caught.value).replace(str(path), "<path>") == snapshot(
        """\
policy config '<path>' is invalid:
  tools.find_leads.maxbatch: unknown option 'maxbatch' (every option is listed in default_policy.toml)
  max_run_spend: unknown option 'max_run_spend' (every option is listed in default_policy.toml)\
"""
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_run_spend_usd = -1", "max_run_spend_usd: Input should be greater than or equal to 0"),
        ("max_run_spend_usd = 0.001", "max_run_spend_usd: Value error, must be a whole number of cents, e.g. 20.00"),
        ('max_run_spend_usd = "nan"', "max_run_spend_usd: Input should be a finite number"),
        ("max_items_without_approval = 2.5", "max_items_without_approval: Input should be a valid integer"),
        ('allowed_email_domains = ["ana@acme.io"]', "'ana@acme.io' is not a domain"),
        ("[tools.find_leads]\nmax_batch = 0", "tools.find_leads.max_batch: Input should be greater than or equal to 1"),
        ("[rate_limits.find_leads]\nmax_calls = 1", "rate_limits.find_leads.window_seconds: Field required"),
        (
            "[rate_limits.find_leads]\nmax_calls = 1\nwindow_seconds = 604800",
            "rate_limits.find_leads.window_seconds: Input should be less than or equal to 86400",
        ),
        ('[tools." "]\nmax_batch = 1', "tools: Value error, tool names must not be empty"),
    ],
)
def test_bad_values_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=r"^policy config test\.toml is invalid:") as caught:
        parse_policy_config(text, source="test.toml")
    assert message in str(caught.value)


def test_not_toml_is_a_clear_error() -> None:
    with pytest.raises(PolicyConfigError, match=r"policy config x.toml is not valid TOML: .*line 1"):
        parse_policy_config("max_run_spend_usd = = 3", source="x.toml")


def test_missing_file_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match=r"policy config file not found: .*nope\.toml"):
        load_policy_config(tmp_path / "nope.toml")


def test_max_batch_above_the_hard_limit_is_rejected_at_load(tmp_path: Path, registry: ToolRegistry) -> None:
    path = _write(tmp_path, "[tools.sync_contacts_to_crm]\nmax_batch = 11\n")
    load_policy_config(path)  # without tools nothing to check against; the rule still never raises the limit
    with pytest.raises(PolicyConfigError) as caught:
        load_policy_config(path, tools=registry)
    assert str(caught.value) == snapshot(
        """\
policy config does not match the registered tools:
  tools.sync_contacts_to_crm.max_batch: 11 is above the tool's own hard limit of 10; the config may only lower it\
"""
    )


def test_tool_options_must_name_real_tools(registry: ToolRegistry) -> None:
    config = parse_policy_config(
        """
[tools.sync_contact_to_crm]
requires_approval = true
[tools.get_account]
max_batch = 2
[tools.delete_contacts]
max_batch = 500
[rate_limits.send_email]
max_calls = 1
window_seconds = 1
"""
    )
    with pytest.raises(PolicyConfigError) as caught:
        config.check_tools(registry)
    assert str(caught.value).splitlines() == snapshot(
        [
            "policy config does not match the registered tools:",
            "  tools.get_account.max_batch: 'get_account' takes no batch, so max_batch cannot apply",
            (
                "  tools.sync_contact_to_crm: no tool named 'sync_contact_to_crm'; registered tools: delete_contacts, "
                "enrich_leads, find_leads, get_account, send_outreach_email, sync_contacts_to_crm"
            ),
            (
                "  rate_limits.send_email: no tool named 'send_email'; registered tools: delete_contacts, "
                "enrich_leads, find_leads, get_account, send_outreach_email, sync_contacts_to_crm"
            ),
        ]
    )


def test_version_format_and_changes() -> None:
    default = PolicyConfig()
    assert default.version.startswith("sha256:")
    assert len(default.version) == len("sha256:") + 16
    variants = [
        "max_run_spend_usd = 20.01",
        "max_items_without_approval = 11",
        'allowed_email_domains = ["acme.io"]',
        "require_approval_for_untrusted_values = false",
        "[tools.find_leads]\nmax_batch = 5",
        "[tools.find_leads]\nrequires_approval = true",
        '[rate_limits."*"]\nmax_calls = 31\nwindow_seconds = 60',
        "rate_limits = {}",
    ]
    versions = {parse_policy_config(text).version for text in variants}
    assert len(versions) == len(variants)
    assert default.version not in versions


def test_version_covers_the_ruleset(monkeypatch: pytest.MonkeyPatch) -> None:
    before = PolicyConfig().version
    monkeypatch.setattr("signoff.policies.config.RULESET_VERSION", RULESET_VERSION + "-next")
    assert PolicyConfig().version != before


def test_version_ignores_domain_order() -> None:
    one = parse_policy_config('allowed_email_domains = ["b.io", "a.io"]')
    two = parse_policy_config('allowed_email_domains = ["A.io", "b.io"]')
    assert one.version == two.version
