"""Tool packs load through their entry points, and everything wrong with one fails at load, naming it."""

from __future__ import annotations

import asyncio
import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot

from signoff.tools.packs import (
    ENTRY_POINT_GROUP,
    PackContext,
    PackLoadError,
    PackTools,
    ToolPack,
    available_packs,
    build_packs,
    load_packs,
)
from signoff.tools.registry import ToolSpec
from signoff.tools.sales import sales_pack
from tests.support.cli import Signoff

_CONTEXT = PackContext.unbound()


async def close_ticket(ticket_id: str, note: str = "") -> str:
    """Close a support ticket."""
    return f"closed {ticket_id}"


def _spec(name: str = "close_ticket", **overrides: Any) -> ToolSpec:
    options: dict[str, Any] = {
        "name": name,
        "function": close_ticket,
        "description": "Close a support ticket.",
        "destructive": True,
        "requires_approval": False,
        "approval_summary": "Close ticket {{ ticket_id }}",
    }
    return ToolSpec(**(options | overrides))


def _pack(name: str, build: Any) -> ToolPack:
    return ToolPack(name=name, description=f"the {name} pack", build=build)


def test_the_sales_pack_is_installed_through_the_entry_point_group_like_any_pack() -> None:
    entry = available_packs()["sales"]
    assert (entry.group, entry.value) == (ENTRY_POINT_GROUP, "signoff.tools.sales.plugin:sales_pack")
    [pack] = load_packs(["sales", "sales"])  # a name given twice is loaded once
    assert pack.name == "sales" and pack.prompt == "sales_agent"


def test_a_pack_that_is_not_installed_names_the_installed_ones() -> None:
    with pytest.raises(PackLoadError) as raised:
        load_packs(["support_desk_typo"])
    assert str(raised.value) == snapshot(
        "tool pack 'support_desk_typo': not installed (no 'signoff.tool_packs' entry point); installed packs: sales"
    )


def test_entry_points_that_do_not_import_or_name_no_pack_fail_naming_the_pack() -> None:
    from signoff.tools.packs import _load_entry_point  # pyright: ignore[reportPrivateUsage]

    def entry(name: str, value: str) -> EntryPoint:
        return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)

    problems = []
    for name, value in (
        ("missing", "support_desk_nowhere.pack:support_pack"),
        ("not_a_pack", "signoff.tools.packs:ENTRY_POINT_GROUP"),
        ("renamed", "signoff.tools.sales.plugin:sales_pack"),
    ):
        with pytest.raises(PackLoadError) as raised:
            _load_entry_point(entry(name, value))
        problems.append(str(raised.value))
    assert problems == snapshot(
        [
            "tool pack 'missing': entry point 'support_desk_nowhere.pack:support_pack' does not import: "
            "ModuleNotFoundError(\"No module named 'support_desk_nowhere'\")",
            "tool pack 'not_a_pack': entry point 'signoff.tools.packs:ENTRY_POINT_GROUP' is not a ToolPack (got str)",
            "tool pack 'renamed': entry point 'signoff.tools.sales.plugin:sales_pack' names a pack called 'sales'",
        ]
    )


def test_two_packs_registering_one_tool_name_fail_naming_both() -> None:
    first = _pack("helpdesk", lambda _context: PackTools(tools=[_spec()]))
    second = _pack("tickets", lambda _context: PackTools(tools=[_spec()]))
    with pytest.raises(PackLoadError) as raised:
        build_packs([first, second], lambda _pack: _CONTEXT)
    assert str(raised.value) == snapshot(
        "tool pack 'tickets': tool 'close_ticket' is registered also by pack 'helpdesk'"
    )
    twice = _pack("twice", lambda _context: PackTools(tools=[_spec(), _spec()]))
    with pytest.raises(PackLoadError, match="tool pack 'twice': tool 'close_ticket' is registered twice"):
        build_packs([twice], lambda _pack: _CONTEXT)
    with pytest.raises(PackLoadError, match="tool pack 'helpdesk': is enabled twice"):
        build_packs([first, first], lambda _pack: _CONTEXT)


def test_tool_metadata_that_does_not_fit_the_tool_fails_naming_the_pack_and_the_tool() -> None:
    problems = []
    for overrides in (
        {"max_batch": 5, "batch_arg": "tickets"},
        {"recipients_arg": "customer_email"},
        {"approval_summary": "Close ticket {{ ticket }} with {{ reason }}"},
        {"approval_summary": "Close {% if %}"},
    ):
        pack = _pack("helpdesk", lambda _context, o=overrides: PackTools(tools=[_spec(**o)]))
        with pytest.raises(PackLoadError) as raised:
            build_packs([pack], lambda _pack: _CONTEXT)
        problems.append(str(raised.value).removeprefix("tool pack 'helpdesk': building its tools failed: "))
    assert problems == snapshot(
        [
            "tool 'close_ticket': batch_arg 'tickets' is not one of its parameters",
            "tool 'close_ticket': recipients_arg 'customer_email' is not one of its parameters",
            "tool 'close_ticket': approval_summary names 'reason', 'ticket', which are not parameters",
            "tool 'close_ticket': approval_summary is not a valid template: "
            "Expected an expression, got 'end of statement block'",
        ]
    )


def test_a_pack_declaring_tables_without_migrations_is_refused(tmp_path: Path) -> None:
    metadata = sales_pack().metadata
    with pytest.raises(PackLoadError, match="tool pack 'helpdesk': it declares tables but no migrations folder"):
        ToolPack(name="helpdesk", description="", build=lambda _c: PackTools(tools=[]), metadata=metadata)
    with pytest.raises(PackLoadError, match=r"its migrations folder .* does not exist"):
        ToolPack(name="helpdesk", description="", build=lambda _c: PackTools(tools=[]), migrations=tmp_path / "no")
    with pytest.raises(PackLoadError, match="a pack name is a lower-case identifier"):
        ToolPack(name="Help Desk", description="", build=lambda _c: PackTools(tools=[]))


def test_signoff_packs_lists_the_loaded_packs_with_their_tools_tables_and_migrations(signoff: Signoff) -> None:
    [view] = signoff.json("packs")
    assert {key: view[key] for key in ("name", "enabled", "tables", "version_table", "head_revision")} == snapshot(
        {
            "name": "sales",
            "enabled": True,
            "tables": [
                "sales_campaigns",
                "sales_crm_contacts",
                "sales_enrichment_cache",
                "sales_enrollments",
                "sales_outbox",
                "sales_replies",
                "sales_smtp_outbox",
            ],
            "version_table": "alembic_version_sales",
            "head_revision": "sales_0002",
        }
    )
    assert view["applied_revision"] == view["head_revision"]
    assert "sync_contacts_to_crm" in view["tools"]
    assert "sales  (signoff.tools.sales.plugin:sales_pack)  enabled" in signoff.ok("packs")


def test_bad_pack_settings_and_policy_tables_for_unknown_tools_are_clear_errors(
    signoff: Signoff, tmp_path: Path
) -> None:
    unknown = signoff.with_env(SIGNOFF_PACKS="sales,helpdesk").error("tools")
    assert unknown.startswith("tool pack 'helpdesk': not installed")
    assert "SIGNOFF_PACKS" in signoff.with_env(SIGNOFF_PACKS=" , ").error("tools")
    policy = tmp_path / "policy.toml"
    policy.write_text("[tools.close_ticket]\nrequires_approval = true\n")
    lines = signoff.with_env(SIGNOFF_POLICY_FILE=str(policy)).fails("tools")
    assert lines[0] == "Error: policy config does not match the registered tools:"
    assert lines[1].startswith(
        "  tools.close_ticket: no tool named 'close_ticket'; registered tools: assign_contact_owner"
    )


def test_an_unbound_context_builds_the_sales_tools_without_a_database() -> None:
    registry, [loaded] = build_packs([sales_pack()], lambda _pack: _CONTEXT)
    assert loaded.pack.name == "sales" and len(registry) == len(loaded.tools.tools) == 10
    assert asyncio.iscoroutinefunction(registry.require("get_contact").function)


def test_signoff_migrate_applies_the_core_and_every_enabled_packs_migrations(signoff: Signoff) -> None:
    assert signoff.json("migrate") == snapshot({"core": "0011", "packs": {"sales": "sales_0002"}})
    assert signoff.ok("migrate").splitlines() == ["core: 0011", "sales: sales_0002"]


def test_a_build_that_returns_no_pack_tools_or_tables_outside_the_packs_prefix_are_refused() -> None:
    not_tools = _pack("helpdesk", lambda _context: [_spec()])
    with pytest.raises(PackLoadError, match="tool pack 'helpdesk': its build returned list, not PackTools"):
        build_packs([not_tools], lambda _pack: _CONTEXT)
    not_a_spec = _pack("helpdesk", lambda _context: PackTools(tools=[close_ticket]))  # type: ignore[list-item]
    with pytest.raises(PackLoadError, match="tool pack 'helpdesk': its tools include function, not a ToolSpec"):
        build_packs([not_a_spec], lambda _pack: _CONTEXT)
    sales = sales_pack()
    with pytest.raises(
        PackLoadError, match=r"tool pack 'crm': its table names must start with 'crm_': sales_campaigns"
    ):
        ToolPack(name="crm", description="", build=sales.build, metadata=sales.metadata, migrations=sales.migrations)


def test_serve_refuses_a_bad_configuration_with_one_line_before_starting(signoff: Signoff, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[tools.close_ticket]\nrequires_approval = true\n")
    lines = signoff.with_env(SIGNOFF_POLICY_FILE=str(policy)).fails("serve")
    assert lines[0] == "Error: policy config does not match the registered tools:"
    assert signoff.with_env(SIGNOFF_PACKS="helpdesk").error("serve").startswith("tool pack 'helpdesk': not installed")
    assert signoff.with_env(SIGNOFF_PACK_OPTIONS='{"sals": {"key": "x"}}').error("serve") == (
        "pack options name 'sals', not enabled packs (sales)"
    )
    assert signoff.with_env(SIGNOFF_PACK_OPTIONS='{"sals": {"key": "x"}}').error("tools") == (
        "pack options name 'sals', not enabled packs (sales)"
    )


def test_signoff_packs_lists_a_broken_pack_with_its_error_and_exits_1(signoff: Signoff) -> None:
    result = signoff.with_env(SIGNOFF_PACKS="sales,helpdesk").invoke("packs", "--json")
    assert result.exit_code == 1
    views = {view["name"]: view for view in json.loads(result.stdout)}
    assert views["helpdesk"]["entry_point"] is None and views["helpdesk"]["enabled"] is True
    assert views["helpdesk"]["error"].startswith("not installed")
    assert views["sales"]["entry_point"] == "signoff.tools.sales.plugin:sales_pack"  # still listed
    assert result.stderr.strip().startswith("Error: tool pack 'helpdesk': not installed")
    human = signoff.with_env(SIGNOFF_PACKS="helpdesk").invoke("packs")
    assert "helpdesk  (not installed)  BROKEN: not installed" in human.stdout
