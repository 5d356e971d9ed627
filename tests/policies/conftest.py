"""Fixtures for the policy tests: a small sales toolset with real `ToolSpec`s, and call/context factories.

Fixtures are session-scoped (they hold no state) so that hypothesis tests can use them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.tools.registry import ApprovalFacts, ToolRegistry, ToolSpec

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
RUN_ID = "run-0001"


class Contact(BaseModel):
    email: str
    name: str


async def find_leads(query: str, limit: int = 10) -> list[str]:
    """Search the lead provider."""
    return [query] * limit


async def enrich_leads(emails: list[str]) -> list[str]:
    """Enrich leads with company data."""
    return emails


async def sync_contacts_to_crm(contacts: list[Contact]) -> int:
    """Create or update contacts in the CRM."""
    return len(contacts)


async def send_outreach_email(to: list[str], subject: str, body: str) -> str:
    """Send one outreach email to each recipient."""
    return f"{subject}: {len(to)}"


async def delete_contacts(contact_ids: list[str]) -> int:
    """Delete contacts from the CRM."""
    return len(contact_ids)


async def get_account(account_id: str) -> str:
    """Read one account."""
    return account_id


def _more_than_one_contact(args: Mapping[str, Any], facts: ApprovalFacts) -> bool:
    # Deliberately strict about its input: under random arguments it raises, which must deny.
    return len(args["contact_ids"]) > 1


SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="find_leads",
        function=find_leads,
        description="Find leads.",
        destructive=False,
        requires_approval=False,
        approval_summary="Find {{ limit }} leads for {{ query }}",
        idempotent=True,
        max_batch=50,
        batch_arg="limit",
        unit_cost_usd=Decimal("0.05"),
    ),
    ToolSpec(
        name="enrich_leads",
        function=enrich_leads,
        description="Enrich leads.",
        destructive=False,
        requires_approval=False,
        approval_summary="Enrich {{ emails | length }} leads",
        idempotent=True,
        max_batch=25,
        batch_arg="emails",
        unit_cost_usd=Decimal("0.50"),
    ),
    ToolSpec(
        name="sync_contacts_to_crm",
        function=sync_contacts_to_crm,
        description="Sync contacts.",
        destructive=False,
        requires_approval=True,
        approval_summary="Create {{ contacts | length }} contacts in the CRM",
        max_batch=10,
        batch_arg="contacts",
    ),
    ToolSpec(
        name="send_outreach_email",
        function=send_outreach_email,
        description="Send email.",
        destructive=False,
        requires_approval=False,
        approval_summary="Email {{ to | join(', ') }}: {{ subject }}",
        max_batch=20,
        batch_arg="to",
        recipients_arg="to",
    ),
    ToolSpec(
        name="delete_contacts",
        function=delete_contacts,
        description="Delete contacts.",
        destructive=True,
        requires_approval=_more_than_one_contact,
        approval_summary="Delete {{ contact_ids | length }} contacts",
        batch_arg="contact_ids",
    ),
    ToolSpec(
        name="get_account",
        function=get_account,
        description="Read an account.",
        destructive=False,
        requires_approval=False,
        approval_summary="Read account {{ account_id }}",
        idempotent=True,
    ),
)

MakeCall = Callable[..., ToolCallRequest]
MakeContext = Callable[..., PolicyContext]


@pytest.fixture(scope="session")
def registry() -> ToolRegistry:
    return ToolRegistry(SPECS)


@pytest.fixture(scope="session")
def make_call(registry: ToolRegistry) -> MakeCall:
    """`make_call("find_leads", query="x", limit=3)`: a request with validated arguments."""

    def make(tool_name: str, /, **raw_args: Any) -> ToolCallRequest:
        spec = registry.require(tool_name)
        return ToolCallRequest(tool_name=tool_name, spec=spec, args=spec.validate_args(raw_args))

    return make


@pytest.fixture(scope="session")
def make_ctx(registry: ToolRegistry) -> MakeContext:
    """`make_ctx(run_spend_usd=Decimal("3"))`: a context at `NOW` that knows the registered tools."""

    def make(**overrides: Any) -> PolicyContext:
        fields: dict[str, Any] = {"run_id": RUN_ID, "now": NOW, "available_tools": frozenset(registry.names())}
        return PolicyContext(**(fields | overrides))

    return make


def contacts(count: int) -> list[dict[str, str]]:
    """Raw `contacts` arguments for sync_contacts_to_crm."""
    return [{"email": f"person{i}@acme.io", "name": f"Person {i}"} for i in range(count)]


@pytest.fixture(scope="session")
def make_contacts() -> Callable[[int], list[dict[str, str]]]:
    return contacts
