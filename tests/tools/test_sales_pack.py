"""The sales tool specs: metadata, approval summaries, error translation, and a run through an agent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from inline_snapshot import snapshot
from pydantic import TypeAdapter
from pydantic_ai import Agent, models
from pydantic_ai.exceptions import ModelRetry, ToolFailed
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from signoff.tools.registry import ToolRegistry, ToolSpec
from signoff.tools.sales import (
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SalesProviders,
    build_sales_tools,
)
from signoff.tools.sales.models import EnrichmentReport, Lead
from signoff.tools.sales.offline import OfflineCrm, OfflineLeadSource, OfflineOutreach
from signoff.tools.sales.pack import CRM_SYNC_MAX_BATCH, ENRICH_MAX_BATCH, ENROLL_MAX_BATCH
from signoff.tools.sales.tables import CrmContactRow
from tests.tools.sales_support import RowCounter, call_spec


@pytest.fixture(autouse=True)
def _no_real_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)


def test_tool_metadata(sales_tools: dict[str, ToolSpec]) -> None:
    listing = [
        {k: v for k, v in spec.metadata().items() if k not in {"parameters", "description"}}
        for spec in sales_tools.values()
    ]
    assert listing == snapshot(
        [
            {
                "name": "discover_leads",
                "destructive": False,
                "requires_approval": False,
                "max_batch": None,
                "batch_arg": "limit",
                "unit_cost_usd": "0.10",
                "idempotent": True,
                "untrusted_output": True,
                "egress": {"icp": "filter"},
                "returns_contacts": True,
            },
            {
                "name": "enrich_contacts",
                "destructive": False,
                "requires_approval": False,
                "max_batch": 50,
                "batch_arg": "emails",
                "unit_cost_usd": "0.50",
                "idempotent": True,
                "untrusted_output": True,
                "egress": {"emails": "contacts"},
                "returns_contacts": False,
            },
            {
                "name": "get_contact",
                "destructive": False,
                "requires_approval": False,
                "max_batch": None,
                "batch_arg": None,
                "unit_cost_usd": "0",
                "idempotent": True,
                "untrusted_output": True,
                "egress": {},
                "returns_contacts": False,
            },
            {
                "name": "assign_contact_owner",
                "destructive": True,
                "requires_approval": True,
                "max_batch": None,
                "batch_arg": None,
                "unit_cost_usd": "0",
                "idempotent": True,
                "untrusted_output": True,
                "egress": {},
                "returns_contacts": False,
            },
            {
                "name": "sync_contacts_to_crm",
                "destructive": True,
                "requires_approval": True,
                "max_batch": 10,
                "batch_arg": "contacts",
                "unit_cost_usd": "0",
                "idempotent": True,
                "untrusted_output": False,
                "egress": {},
                "returns_contacts": False,
            },
            {
                "name": "create_campaign",
                "destructive": True,
                "requires_approval": True,
                "max_batch": None,
                "batch_arg": None,
                "unit_cost_usd": "0",
                "idempotent": False,
                "untrusted_output": False,
                "egress": {},
                "returns_contacts": False,
            },
            {
                "name": "enroll_contacts",
                "destructive": True,
                "requires_approval": True,
                "max_batch": 25,
                "batch_arg": "emails",
                "unit_cost_usd": "0",
                "idempotent": True,
                "untrusted_output": False,
                "egress": {},
                "returns_contacts": False,
            },
            {
                "name": "send_email",
                "destructive": True,
                "requires_approval": True,
                "max_batch": None,
                "batch_arg": None,
                "unit_cost_usd": "0.02",
                "idempotent": False,
                "untrusted_output": False,
                "egress": {},
                "returns_contacts": False,
            },
            {
                "name": "list_replies",
                "destructive": False,
                "requires_approval": False,
                "max_batch": None,
                "batch_arg": None,
                "unit_cost_usd": "0",
                "idempotent": True,
                "untrusted_output": True,
                "egress": {},
                "returns_contacts": False,
            },
            {
                "name": "classify_replies",
                "destructive": False,
                "requires_approval": False,
                "max_batch": None,
                "batch_arg": None,
                "unit_cost_usd": "0",
                "idempotent": True,
                "untrusted_output": True,
                "egress": {},
                "returns_contacts": False,
            },
        ]
    )


def test_recipient_arguments(sales_tools: dict[str, ToolSpec]) -> None:
    assert {name: spec.recipients_arg for name, spec in sales_tools.items()} == snapshot(
        {
            "discover_leads": None,
            "enrich_contacts": None,
            "get_contact": None,
            "assign_contact_owner": None,
            "sync_contacts_to_crm": None,
            "create_campaign": None,
            "enroll_contacts": "emails",
            "send_email": "to",
            "list_replies": None,
            "classify_replies": None,
        }
    )


def test_descriptions_are_the_docstrings_the_model_reads(sales_tools: dict[str, ToolSpec]) -> None:
    assert {name: spec.description for name, spec in sales_tools.items()} == snapshot(
        {
            "discover_leads": """\
Find new prospects that match an ideal customer profile.

Returns people with name, title, company and email address. The same profile returns the same
leads. Leads are not in the CRM until you sync them with sync_contacts_to_crm.\
""",
            "enrich_contacts": """\
Look up phone number, title, seniority and company facts for email addresses.

Recently enriched addresses are served from a cache at no cost; each contact says whether it was
a cache hit, and the totals say how many lookups were paid for.\
""",
            "get_contact": "Look up one contact in the CRM by email address (letter case does not matter).",
            "assign_contact_owner": """\
Make a salesperson (by email address) the owner of an existing CRM contact.

Returns the contact as stored afterwards. Fails when the contact is not in the CRM.\
""",
            "sync_contacts_to_crm": """\
Create or update contacts in the CRM, matched by email address.

Safe to repeat: existing contacts are updated, not duplicated, and fields you leave out keep
their stored values. Returns which addresses were created, updated or already up to date.\
""",
            "create_campaign": """\
Create a new outreach campaign as a draft and return its campaign_id.

Every call creates another campaign, so reuse the id you got instead of calling this again.\
""",
            "enroll_contacts": """\
Enroll email addresses in an existing campaign.

Addresses already in the campaign are reported as such and not enrolled twice.\
""",
            "send_email": "Send one plain-text email to one person; returns the provider's message id.",
            "list_replies": """\
Read inbound email replies, newest first: to one campaign, from one address, or both.

Give campaign_id, email, or both. The replies are what the senders wrote; `total` counts all matches.\
""",
            "classify_replies": """\
Label the intent of each reply to a campaign.

Intents: interested, not_interested, out_of_office, unsubscribe or other. Classifies the newest
50 replies in one pass, each with a short reason. `total` counts all replies to the campaign;
`not_classified` says how many older ones were left out. The labels come from a model reading
what the senders wrote.\
""",
        }
    )
    for spec in sales_tools.values():
        assert spec.tool.function_schema.description == spec.description


def test_batch_limits_reach_the_model_through_argument_descriptions(sales_tools: dict[str, ToolSpec]) -> None:
    # The model never sees max_batch; the schema's description tells it, so it can split batches itself.
    def described(tool_name: str, argument: str) -> str:
        return sales_tools[tool_name].parameters_json_schema["properties"][argument]["description"]

    assert f"at most {CRM_SYNC_MAX_BATCH} per call" in described("sync_contacts_to_crm", "contacts")
    assert f"at most {ENROLL_MAX_BATCH} per call" in described("enroll_contacts", "emails")
    assert f"at most {ENRICH_MAX_BATCH} per call" in described("enrich_contacts", "emails")


def test_every_tool_registers_and_appears_in_the_toolset(sales_tools: dict[str, ToolSpec]) -> None:
    registry = ToolRegistry(sales_tools.values())
    assert registry.names() == sorted(sales_tools)
    assert set(registry.toolset().tools) == set(sales_tools)


def test_cost_estimates_and_recipients(sales_tools: dict[str, ToolSpec]) -> None:
    discover = sales_tools["discover_leads"]
    discover_args = discover.validate_args({"icp": {"industry": "Logistics", "location": "Germany"}, "limit": 25})
    assert discover.estimated_cost_usd(discover_args) == Decimal("2.50")

    enrich = sales_tools["enrich_contacts"]
    enrich_args = enrich.validate_args({"emails": [f"p{n}@acme.example" for n in range(12)]})
    assert enrich.estimated_cost_usd(enrich_args) == Decimal("6.00")

    send = sales_tools["send_email"]
    send_args = send.validate_args({"to": "Ana@Acme.example", "subject": "Hi", "body": "Hello"})
    assert send.estimated_cost_usd(send_args) == Decimal("0.02")
    assert send.recipients(send_args) == ["ana@acme.example"]

    enroll = sales_tools["enroll_contacts"]
    enroll_args = enroll.validate_args({"campaign_id": "cmp_1", "emails": ["Ana@acme.example", "ben@acme.example"]})
    assert enroll.recipients(enroll_args) == ["ana@acme.example", "ben@acme.example"]
    assert enroll.estimated_cost_usd(enroll_args) == Decimal("0")


def test_approval_summaries(sales_tools: dict[str, ToolSpec]) -> None:
    raw_args: dict[str, dict[str, Any]] = {
        "discover_leads": {
            "icp": {
                "industry": "Logistics",
                "location": "Germany",
                "company_size": "51-200",
                "titles": ["Head of Operations", "COO"],
            },
            "limit": 25,
        },
        "enrich_contacts": {"emails": ["ana@acme.example", "ben@acme.example"]},
        "get_contact": {"email": "ana@acme.example"},
        "sync_contacts_to_crm": {
            "contacts": [
                {"email": "ana@acme.example", "first_name": "Ana", "last_name": "Lopez"},
                {"email": "ben@acme.example", "first_name": "Ben", "last_name": "Schmidt", "title": "COO"},
            ]
        },
        "create_campaign": {"name": "Logistics DACH", "description": "Ops leaders at mid-size carriers"},
        "enroll_contacts": {"campaign_id": "cmp_1a2b", "emails": ["ana@acme.example", "ben@acme.example"]},
        "send_email": {"to": "ana@acme.example", "subject": "Quick question", "body": "Hi Ana,\n\nShort note.\n\nBen"},
        "assign_contact_owner": {"email": "ana@acme.example", "owner": "ben@ourteam.example"},
        "list_replies": {"campaign_id": "cmp_1a2b", "limit": 10},
        "classify_replies": {"campaign_id": "cmp_1a2b"},
    }
    summaries = {name: spec.render_summary(spec.validate_args(raw_args[name])) for name, spec in sales_tools.items()}
    assert summaries == snapshot(
        {
            "discover_leads": (
                "Find 25 leads (Head of Operations, COO) in Logistics, Germany, companies of 51-200 employees"
            ),
            "enrich_contacts": "Enrich 2 contacts: ana@acme.example, ben@acme.example",
            "get_contact": "Look up ana@acme.example in the CRM",
            "assign_contact_owner": "Make ben@ourteam.example the owner of the CRM contact ana@acme.example",
            "sync_contacts_to_crm": "Create or update 2 contacts in the CRM: ana@acme.example, ben@acme.example",
            "create_campaign": 'Create the campaign "Logistics DACH": Ops leaders at mid-size carriers',
            "enroll_contacts": "Enroll 2 contacts in campaign cmp_1a2b: ana@acme.example, ben@acme.example",
            "send_email": """\
Send an email to ana@acme.example with the subject "Quick question":

Hi Ana,

Short note.

Ben\
""",
            "list_replies": "Read up to 10 replies to campaign cmp_1a2b",
            "classify_replies": "Classify the intent of the replies to campaign cmp_1a2b",
        }
    )


def test_summaries_leave_out_what_was_not_given(sales_tools: dict[str, ToolSpec]) -> None:
    discover = sales_tools["discover_leads"]
    campaign = sales_tools["create_campaign"]
    assert discover.render_summary(
        discover.validate_args({"icp": {"industry": "Retail", "location": "France"}, "limit": 5})
    ) == snapshot("Find 5 leads in Retail, France")
    assert campaign.render_summary(campaign.validate_args({"name": "Retail FR"})) == snapshot(
        'Create the campaign "Retail FR"'
    )


def test_a_summary_cannot_reach_into_argument_objects(sales_tools: dict[str, ToolSpec]) -> None:
    # Summaries render model-written values in Jinja's sandbox: markup in a value stays text.
    campaign = sales_tools["create_campaign"]
    summary = campaign.render_summary(campaign.validate_args({"name": "{{ ''.__class__.__mro__ }}"}))
    assert summary == "Create the campaign \"{{ ''.__class__.__mro__ }}\""


@dataclass(kw_only=True)
class _FailingProvider:
    """Stands in for every provider and raises the given error from any call."""

    error: ProviderError
    name: str = "flaky-vendor"
    calls: list[str] = field(default_factory=list[str])

    async def discover_leads(self, icp: Any, *, limit: int) -> Any:
        raise self.error

    async def enrich(self, emails: Sequence[str]) -> Any:
        raise self.error

    async def get_contact(self, email: str) -> Any:
        raise self.error

    async def upsert_contacts(self, contacts: Any) -> Any:
        raise self.error

    async def known_emails(self, emails: Any) -> set[str]:
        raise self.error

    async def create_campaign(self, name: str, *, description: str | None = None) -> Any:
        raise self.error

    async def enroll_contacts(self, campaign_id: str, emails: Sequence[str]) -> Any:
        raise self.error

    async def send_email(self, *, to: str, subject: str, body: str) -> Any:
        raise self.error

    async def set_owner(self, email: str, owner: str) -> Any:
        raise self.error

    async def list_replies(self, *, campaign_id: str | None = None, from_email: str | None = None, limit: int) -> Any:
        raise self.error


def _failing_tools(error: ProviderError) -> dict[str, ToolSpec]:
    failing = _FailingProvider(error=error)
    providers = SalesProviders(lead_source=failing, enricher=failing, crm=failing, outreach=failing)
    return {spec.name: spec for spec in build_sales_tools(providers)}


_VALID_ARGS: dict[str, dict[str, Any]] = {
    "discover_leads": {"icp": {"industry": "Logistics", "location": "Germany"}},
    "enrich_contacts": {"emails": ["ana@acme.example"]},
    "get_contact": {"email": "ana@acme.example"},
    "sync_contacts_to_crm": {"contacts": [{"email": "ana@acme.example", "first_name": "Ana", "last_name": "Lopez"}]},
    "create_campaign": {"name": "Q3"},
    "enroll_contacts": {"campaign_id": "cmp_1", "emails": ["ana@acme.example"]},
    "send_email": {"to": "ana@acme.example", "subject": "Hi", "body": "Hello"},
    "assign_contact_owner": {"email": "ana@acme.example", "owner": "ben@ourteam.example"},
    "list_replies": {"email": "ana@acme.example"},
    "classify_replies": {"campaign_id": "cmp_1"},
}


async def _call(spec: ToolSpec) -> Any:
    return await call_spec(spec, _VALID_ARGS[spec.name])


@pytest.mark.parametrize("tool_name", sorted(_VALID_ARGS))
async def test_provider_outages_become_terminal_tool_failures(tool_name: str) -> None:
    spec = _failing_tools(ProviderUnavailableError("timed out after 10 seconds", provider="flaky-vendor"))[tool_name]
    with pytest.raises(ToolFailed) as failed:
        await _call(spec)
    assert failed.value.message == f"{tool_name} failed: provider 'flaky-vendor': timed out after 10 seconds."


async def test_rate_limits_tell_the_model_when_to_try_again() -> None:
    error = RateLimitedError("too many requests", provider="flaky-vendor", retry_after=timedelta(seconds=30))
    assert error.retry_after == timedelta(seconds=30)
    with pytest.raises(ToolFailed) as failed:
        await _call(_failing_tools(error)["enrich_contacts"])
    assert failed.value.message == snapshot(
        "enrich_contacts failed: provider 'flaky-vendor': too many requests (retry after 30 seconds)."
        " Wait that long before calling it again."
    )


async def test_refused_arguments_ask_the_model_to_correct_its_call() -> None:
    error = InvalidRequestError("the subject contains a banned word", provider="flaky-vendor")
    with pytest.raises(ModelRetry) as retry:
        await _call(_failing_tools(error)["send_email"])
    assert retry.value.message == snapshot(
        "send_email was refused: provider 'flaky-vendor': the subject contains a banned word."
        " Correct the arguments and call it again."
    )


async def test_not_found_without_a_hint_is_a_plain_failure() -> None:
    error = NotFoundError("no such list", provider="flaky-vendor")
    with pytest.raises(ToolFailed) as failed:
        await _call(_failing_tools(error)["discover_leads"])
    assert failed.value.message == "discover_leads failed: provider 'flaky-vendor': no such list."


def _tool_results(messages: Sequence[ModelMessage]) -> list[tuple[str, str, Any]]:
    return [
        (part.tool_name, part.outcome, part.content)
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]


async def test_a_provider_failure_reaches_the_model_as_a_tool_result(providers: SalesProviders) -> None:
    def model_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            call = ToolCallPart(
                "enroll_contacts", {"campaign_id": "cmp_missing", "emails": ["ana@acme.example"]}, tool_call_id="c1"
            )
            return ModelResponse(parts=[call])
        return ModelResponse(parts=[TextPart("The campaign does not exist; I will create it first.")])

    agent = Agent(FunctionModel(model_script), toolsets=[ToolRegistry(build_sales_tools(providers)).toolset()])
    result = await agent.run("Enroll Ana in the Q3 campaign.")

    assert _tool_results(result.all_messages()) == snapshot(
        [
            (
                "enroll_contacts",
                "failed",
                "enroll_contacts failed: provider 'offline-outreach': there is no campaign with id 'cmp_missing'."
                " Use a campaign_id returned by create_campaign, or create the campaign first.",
            )
        ]
    )
    assert result.output == "The campaign does not exist; I will create it first."


async def test_a_workflow_through_an_agent_stores_its_effects(
    providers: SalesProviders, count_rows: RowCounter
) -> None:
    def model_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = sum(isinstance(message, ModelResponse) for message in messages)
        if step == 0:
            icp = {"industry": "Logistics", "location": "Germany", "titles": ["Head of Operations"]}
            return ModelResponse(parts=[ToolCallPart("discover_leads", {"icp": icp, "limit": 3}, tool_call_id="c1")])
        if step == 1:
            # Read the leads back from the JSON the model receives, as a real model would.
            leads_json = next(
                part.model_response_str()
                for part in messages[-1].parts
                if isinstance(part, ToolReturnPart) and part.tool_name == "discover_leads"
            )
            leads = TypeAdapter(list[Lead]).validate_json(leads_json)
            contacts = [
                {"email": lead.email, "first_name": lead.first_name, "last_name": lead.last_name} for lead in leads
            ]
            emails = [lead.email for lead in leads]
            return ModelResponse(
                parts=[
                    ToolCallPart("sync_contacts_to_crm", {"contacts": contacts}, tool_call_id="c2"),
                    ToolCallPart("enrich_contacts", {"emails": emails}, tool_call_id="c3"),
                ]
            )
        return ModelResponse(parts=[TextPart("Synced and enriched three leads.")])

    agent = Agent(FunctionModel(model_script), toolsets=[ToolRegistry(build_sales_tools(providers)).toolset()])
    result = await agent.run("Find three ops leaders in German logistics, add them to the CRM and enrich them.")

    assert result.output == "Synced and enriched three leads."
    assert await count_rows(CrmContactRow) == 3
    enrichment = next(
        part.content
        for message in result.all_messages()
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.tool_name == "enrich_contacts"
    )
    assert isinstance(enrichment, EnrichmentReport)
    assert (enrichment.paid_lookups, enrichment.cache_hits) == (3, 0)


def test_offline_providers_are_the_documented_classes(providers: SalesProviders) -> None:
    assert isinstance(providers.lead_source, OfflineLeadSource)
    assert isinstance(providers.crm, OfflineCrm)
    assert isinstance(providers.outreach, OfflineOutreach)
    assert providers.enricher.name == "offline-enrichment"
