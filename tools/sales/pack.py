"""The sales tools: typed async functions over the sales providers, with their safety metadata.

Each tool is a closure over a `SalesProviders` bundle. Its docstring is the description the model
reads, its annotated parameters are the argument schema (a leading `RunContext[RunDeps]`, as
`classify_replies` takes for its routed model call, is the run's context and not an argument), and
the `ToolSpec` around it carries what the model never sees (destructive, approval, batch limits, unit
cost, the summary a person approves).
Batch limits live only in that metadata: the schema accepts an over-limit batch so the policy layer can
answer "split it" instead of the model getting a validation error.

Provider failures reach the model as tool results it can act on: `InvalidRequestError` as `ModelRetry`
(fix the arguments), every other `ProviderError` as `ToolFailed` (a terminal, readable reason).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

from pydantic import EmailStr, Field, StringConstraints
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry, ToolFailed

from signoff.prompts import PromptTemplate

# Tools that make routed model calls take the run's deps (pydantic-ai's `RunContext[RunDeps]`).
from signoff.tools.context import RunDeps
from signoff.tools.outcomes import OutcomeUnknown
from signoff.tools.registry import ApprovalPredicate, Egress, ToolSpec
from signoff.tools.sales.classification import (
    CLASSIFY_MAX_REPLIES,
    ReplyClassification,
    ReplyLabels,
    check_labels,
    classification_of,
    frame_replies,
    load_classifier_prompt,
)
from signoff.tools.sales.models import (
    MAX_ITEMS_PER_CALL,
    Campaign,
    Contact,
    CrmLookup,
    CrmSyncResult,
    EnrichmentReport,
    EnrollmentResult,
    IdealCustomerProfile,
    Lead,
    ReplyList,
    SentEmail,
)
from signoff.tools.sales.prices import SALES_PRICES
from signoff.tools.sales.providers import (
    CircuitOpenError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderError,
    RateLimitedError,
    SalesProviders,
    UnauthorizedError,
)

__all__ = [
    "CLASSIFY_MAX_REPLIES",
    "CRM_SYNC_MAX_BATCH",
    "EMAIL_SEND_USD_PER_MESSAGE",
    "ENRICHMENT_USD_PER_CONTACT",
    "ENRICH_MAX_BATCH",
    "ENROLL_MAX_BATCH",
    "LEAD_DISCOVERY_MAX_LIMIT",
    "LEAD_DISCOVERY_USD_PER_LEAD",
    "REPLIES_MAX_LIMIT",
    "build_sales_tools",
]

# Unit costs are estimates of the external spend per item, used for budgets and approval thresholds: the
# highest price of each item in the pack's dated price table (prices.toml), whichever vendor is configured.
LEAD_DISCOVERY_USD_PER_LEAD = SALES_PRICES.estimate("lead")
ENRICHMENT_USD_PER_CONTACT = SALES_PRICES.estimate("enrichment")
EMAIL_SEND_USD_PER_MESSAGE = SALES_PRICES.estimate("email")

# Batch limits (enforced by the policy layer through `max_batch`, never by the schema):
# ten contacts is as many as a person can check by name in one approval; the seed platform's CRM limit.
CRM_SYNC_MAX_BATCH = 10
# Enrollment starts email sequences, so a batch stays small enough to review (and to undo) by hand.
ENROLL_MAX_BATCH = 25
# Fifty lookups bound one unreviewed enrichment call to $25 at the unit price above.
ENRICH_MAX_BATCH = 50
# A lead search of a hundred fills a campaign for weeks; more in one call is a runaway, so the schema refuses it.
LEAD_DISCOVERY_MAX_LIMIT = 100
# Replies are read to be summarised: fifty is more than a person reads in one sitting, and bounds the text
# (up to 10,000 characters each) one call puts in the model's window.
REPLIES_MAX_LIMIT = 50

LeadLimit = Annotated[
    int,
    Field(ge=1, le=LEAD_DISCOVERY_MAX_LIMIT, description=f"How many leads to find, 1 to {LEAD_DISCOVERY_MAX_LIMIT}."),
]
EmailsToEnrich = Annotated[
    list[EmailStr],
    Field(
        min_length=1,
        max_length=MAX_ITEMS_PER_CALL,
        description=f"Addresses to enrich, at most {ENRICH_MAX_BATCH} per call.",
    ),
]
ContactEmail = Annotated[EmailStr, Field(description="The contact's email address.")]
ContactsToSync = Annotated[
    list[Contact],
    Field(
        min_length=1,
        max_length=MAX_ITEMS_PER_CALL,
        description=f"Contacts to create or update, at most {CRM_SYNC_MAX_BATCH} per call.",
    ),
]
CampaignName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="A short name people will recognise, e.g. 'Logistics DACH Q3'."),
]
CampaignDescription = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None,
    Field(description="What the campaign is for and who it targets."),
]
CampaignId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
    Field(description="An id returned by create_campaign, e.g. 'cmp_1a2b3c4d5e6f7a8b'."),
]
EmailsToEnroll = Annotated[
    list[EmailStr],
    Field(
        min_length=1,
        max_length=MAX_ITEMS_PER_CALL,
        description=f"Addresses to enroll, at most {ENROLL_MAX_BATCH} per call.",
    ),
]
Recipient = Annotated[EmailStr, Field(description="The recipient's email address.")]
OwnerEmail = Annotated[EmailStr, Field(description="The email address of the salesperson who becomes the owner.")]
ReplyCampaignId = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None,
    Field(description="Only replies to this campaign, e.g. 'cmp_1a2b3c4d5e6f7a8b'."),
]
ClassifiedCampaignId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
    Field(description="The campaign whose replies to classify, e.g. 'cmp_1a2b3c4d5e6f7a8b'."),
]
ReplySender = Annotated[EmailStr | None, Field(description="Only replies from this email address.")]
RepliesLimit = Annotated[
    int, Field(ge=1, le=REPLIES_MAX_LIMIT, description=f"How many replies to return, 1 to {REPLIES_MAX_LIMIT}.")
]
# One line only: a line break in a subject would let the text forge extra mail headers.
EmailSubject = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\r\n]*$")
]
EmailBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
    Field(description="Plain-text body, signed by the sender."),
]


def build_sales_tools(providers: SalesProviders, *, classifier_prompt: PromptTemplate | None = None) -> list[ToolSpec]:
    """The ten sales tools over these providers, in workflow order (find, enrich, store, reach out, read replies).

    Tools whose output is outside data (lead profiles, enrichment facts, CRM notes, inbound email) are
    marked `untrusted_output`: anyone can write a bio, a web-form note or a reply, so the provenance
    policy rule asks a person before a destructive call uses an address or id that came only from there.
    `classifier_prompt` is the prompt `classify_replies` runs under; None loads the `reply_classifier`
    version the `production` label points at (a bad prompt file raises `PromptError` here, not mid-run).
    """

    async def discover_leads(icp: IdealCustomerProfile, limit: LeadLimit = 10) -> list[Lead]:
        """Find new prospects that match an ideal customer profile.

        Returns people with name, title, company and email address. The same profile returns the same
        leads. Leads are not in the CRM until you sync them with sync_contacts_to_crm.
        """
        with _reported_to_model("discover_leads"):
            leads = await providers.lead_source.discover_leads(icp, limit=limit)
        SALES_PRICES.charge(providers.lead_source.name, "lead", len(leads))
        return leads

    async def enrich_contacts(emails: EmailsToEnrich) -> EnrichmentReport:
        """Look up phone number, title, seniority and company facts for email addresses.

        Recently enriched addresses are served from a cache at no cost; each contact says whether it was
        a cache hit, and the totals say how many lookups were paid for.
        """
        with _reported_to_model("enrich_contacts"):
            # The cache charges each paid lookup as it stores it; a cache hit costs nothing.
            return await providers.enricher.enrich(emails)

    async def get_contact(email: ContactEmail) -> CrmLookup:
        """Look up one contact in the CRM by email address (letter case does not matter)."""
        with _reported_to_model("get_contact"):
            contact = await providers.crm.get_contact(email)
        return CrmLookup(email=email.lower(), found=contact is not None, contact=contact)

    async def sync_contacts_to_crm(contacts: ContactsToSync) -> CrmSyncResult:
        """Create or update contacts in the CRM, matched by email address.

        Safe to repeat: existing contacts are updated, not duplicated, and fields you leave out keep
        their stored values. Returns which addresses were created, updated or already up to date.
        """
        with _reported_to_model("sync_contacts_to_crm"):
            return await providers.crm.upsert_contacts(contacts)

    async def assign_contact_owner(email: ContactEmail, owner: OwnerEmail) -> CrmLookup:
        """Make a salesperson (by email address) the owner of an existing CRM contact.

        Returns the contact as stored afterwards. Fails when the contact is not in the CRM.
        """
        with _reported_to_model(
            "assign_contact_owner", not_found_hint="Look the contact up with get_contact, or sync it first."
        ):
            contact = await providers.crm.set_owner(email, owner)
        return CrmLookup(email=email.lower(), found=True, contact=contact)

    async def create_campaign(name: CampaignName, description: CampaignDescription = None) -> Campaign:
        """Create a new outreach campaign as a draft and return its campaign_id.

        Every call creates another campaign, so reuse the id you got instead of calling this again.
        """
        with _reported_to_model("create_campaign"):
            return await providers.outreach.create_campaign(name, description=description)

    async def enroll_contacts(campaign_id: CampaignId, emails: EmailsToEnroll) -> EnrollmentResult:
        """Enroll email addresses in an existing campaign.

        Addresses already in the campaign are reported as such and not enrolled twice.
        """
        with _reported_to_model(
            "enroll_contacts",
            not_found_hint="Use a campaign_id returned by create_campaign, or create the campaign first.",
        ):
            return await providers.outreach.enroll_contacts(campaign_id, emails)

    async def send_email(to: Recipient, subject: EmailSubject, body: EmailBody) -> SentEmail:
        """Send one plain-text email to one person; returns the provider's message id."""
        with _reported_to_model("send_email"):
            # The provider charges each transmission itself (a send its outbox already made costs nothing).
            return await providers.outreach.send_email(to=to, subject=subject, body=body)

    async def list_replies(
        campaign_id: ReplyCampaignId = None, email: ReplySender = None, limit: RepliesLimit = 20
    ) -> ReplyList:
        """Read inbound email replies, newest first: to one campaign, from one address, or both.

        Give campaign_id, email, or both. The replies are what the senders wrote; `total` counts all matches.
        """
        if campaign_id is None and email is None:
            raise ModelRetry("list_replies needs a campaign_id, an email address, or both.")
        with _reported_to_model("list_replies"):
            return await providers.outreach.list_replies(campaign_id=campaign_id, from_email=email, limit=limit)

    # Loaded and rendered once per build, not per call: every call of this build sends the same bytes and
    # records the same version, and the file is read (and its pin checked) before any run starts. No
    # values are passed to the template, so nothing from the replies can reach the instructions.
    classifier = classifier_prompt if classifier_prompt is not None else load_classifier_prompt()
    classifier_instructions = classifier.render()

    async def classify_replies(ctx: RunContext[RunDeps], campaign_id: ClassifiedCampaignId) -> ReplyClassification:
        """Label the intent of each reply to a campaign.

        Intents: interested, not_interested, out_of_office, unsubscribe or other. Classifies the newest
        50 replies in one pass, each with a short reason. `total` counts all replies to the campaign;
        `not_classified` says how many older ones were left out. The labels come from a model reading
        what the senders wrote.
        """
        with _reported_to_model("classify_replies"):
            listed = await providers.outreach.list_replies(campaign_id=campaign_id, limit=CLASSIFY_MAX_REPLIES)
        if not listed.replies:
            return classification_of(campaign_id, [], ReplyLabels(labels=[]), total=listed.total)
        # Deps other than a run's (a bare pydantic-ai Agent, as the unguarded eval harness uses) offer none.
        model_calls = ctx.deps.model_calls if isinstance(ctx.deps, RunDeps) else None
        if model_calls is None:
            raise ToolFailed("classify_replies failed: this runtime offers no model for classification.")
        try:
            labels = await model_calls.complete_as(
                "classification",
                ReplyLabels,
                instructions=classifier_instructions,
                content=frame_replies(listed.replies),
                deps=ctx.deps,
                output_validator=check_labels(listed.replies),
                prompt=classifier,
            )
        except ToolFailed as error:
            raise ToolFailed(f"classify_replies failed: {error.message}.") from error
        return classification_of(campaign_id, listed.replies, labels, total=listed.total)

    return [
        _spec(
            discover_leads,
            destructive=False,
            # The policy layer adds approval for large or costly searches; a small one may just run.
            requires_approval=False,
            approval_summary=(
                "Find {{ limit }} leads{% if icp.titles %} ({{ icp.titles|join(', ') }}){% endif %}"
                " in {{ icp.industry }}, {{ icp.location }}"
                "{% if icp.company_size %}, companies of {{ icp.company_size }} employees{% endif %}"
            ),
            idempotent=True,
            batch_arg="limit",
            unit_cost_usd=LEAD_DISCOVERY_USD_PER_LEAD,
            untrusted_output=True,  # bios are written by the people themselves
            # The profile goes to the lead vendor: search criteria only, never data the agent read.
            egress=(Egress("icp", holds="filter"),),
            returns_contacts=True,  # the leads found may be enriched without a person
        ),
        _spec(
            enrich_contacts,
            destructive=False,
            requires_approval=False,
            approval_summary=(
                "Enrich {{ emails|length }} {{ 'contact' if emails|length == 1 else 'contacts' }}: "
                "{{ emails|join(', ') }}"
            ),
            idempotent=True,
            max_batch=ENRICH_MAX_BATCH,
            batch_arg="emails",
            unit_cost_usd=ENRICHMENT_USD_PER_CONTACT,
            untrusted_output=True,  # scraped from pages the companies write
            # The addresses go to the enrichment vendor: people we know or found, never anyone else.
            egress=(Egress("emails", holds="contacts"),),
        ),
        _spec(
            get_contact,
            destructive=False,
            requires_approval=False,
            approval_summary="Look up {{ email }} in the CRM",
            idempotent=True,
            untrusted_output=True,  # notes come from web forms, imports and anyone with CRM access
        ),
        _spec(
            assign_contact_owner,
            destructive=True,
            # Who owns a contact decides who works (and is paid for) the deal: a person signs it off, as
            # every change of stored data. The provenance rule adds why when the owner came from outside data.
            requires_approval=True,
            approval_summary="Make {{ owner }} the owner of the CRM contact {{ email }}",
            idempotent=True,
            untrusted_output=True,  # it returns the stored contact, notes included
        ),
        _spec(
            sync_contacts_to_crm,
            destructive=True,
            requires_approval=True,
            approval_summary=(
                "Create or update {{ contacts|length }} {{ 'contact' if contacts|length == 1 else 'contacts' }} "
                "in the CRM: "
                "{{ contacts|map(attribute='email')|join(', ') }}"
            ),
            idempotent=True,
            max_batch=CRM_SYNC_MAX_BATCH,
            batch_arg="contacts",
        ),
        _spec(
            create_campaign,
            destructive=True,
            requires_approval=True,
            approval_summary='Create the campaign "{{ name }}"{% if description %}: {{ description }}{% endif %}',
            idempotent=False,
        ),
        _spec(
            enroll_contacts,
            destructive=True,
            requires_approval=True,
            approval_summary=(
                "Enroll {{ emails|length }} contacts in campaign {{ campaign_id }}: {{ emails|join(', ') }}"
            ),
            idempotent=True,
            max_batch=ENROLL_MAX_BATCH,
            batch_arg="emails",
            # Enrollment starts the campaign's emails to these people, so the outbound-email rule applies.
            recipients_arg="emails",
        ),
        _spec(
            send_email,
            destructive=True,
            requires_approval=True,
            approval_summary='Send an email to {{ to }} with the subject "{{ subject }}":\n\n{{ body }}',
            idempotent=False,
            unit_cost_usd=EMAIL_SEND_USD_PER_MESSAGE,
            recipients_arg="to",
        ),
        _spec(
            list_replies,
            destructive=False,
            requires_approval=False,
            approval_summary=(
                "Read up to {{ limit }} replies"
                "{% if campaign_id %} to campaign {{ campaign_id }}{% endif %}"
                "{% if email %} from {{ email }}{% endif %}"
            ),
            idempotent=True,
            untrusted_output=True,  # anyone can send us an email
        ),
        _spec(
            classify_replies,
            destructive=False,
            # A read: it changes nothing, and its model call is charged to the run like any other request.
            requires_approval=False,
            approval_summary="Classify the intent of the replies to campaign {{ campaign_id }}",
            # It reads and labels, nothing outside changes: running it again is harmless (a model may word
            # its reasons differently the second time).
            idempotent=True,
            # Labels, reasons, addresses and subjects all come from, or were written about, outside email.
            untrusted_output=True,
        ),
    ]


def _spec(
    function: Callable[..., Awaitable[Any]],
    *,
    destructive: bool,
    requires_approval: bool | ApprovalPredicate,
    approval_summary: str,
    idempotent: bool,
    max_batch: int | None = None,
    batch_arg: str | None = None,
    unit_cost_usd: Decimal = Decimal("0"),
    recipients_arg: str | None = None,
    untrusted_output: bool = False,
    egress: tuple[Egress, ...] = (),
    returns_contacts: bool = False,
) -> ToolSpec:
    """A spec named after the function, described by its docstring (what the model reads)."""
    description = inspect.getdoc(function)
    if not description:
        raise ValueError(f"tool {function.__name__!r} needs a docstring: it is the model's description")
    return ToolSpec(
        name=function.__name__,
        function=function,
        description=description,
        destructive=destructive,
        requires_approval=requires_approval,
        approval_summary=approval_summary,
        idempotent=idempotent,
        max_batch=max_batch,
        batch_arg=batch_arg,
        unit_cost_usd=unit_cost_usd,
        recipients_arg=recipients_arg,
        untrusted_output=untrusted_output,
        egress=egress,
        returns_contacts=returns_contacts,
    )


@contextmanager
def _reported_to_model(tool_name: str, *, not_found_hint: str | None = None) -> Iterator[None]:
    """Turn provider errors into results the model can act on instead of crashes of the run."""
    try:
        yield
    except InvalidRequestError as error:
        raise ModelRetry(f"{tool_name} was refused: {error}. Correct the arguments and call it again.") from error
    except OutcomeUnknownError as error:
        # The request may have acted: the guard records `unknown` and nobody retries it blindly.
        raise OutcomeUnknown(f"{tool_name}: {error}") from error
    except NotFoundError as error:
        hint = f" {not_found_hint}" if not_found_hint else ""
        raise ToolFailed(f"{tool_name} failed: {error}.{hint}") from error
    except UnauthorizedError as error:
        raise ToolFailed(
            f"{tool_name} failed: {error}. Retrying will not help; tell the user the connection needs attention."
        ) from error
    except (RateLimitedError, CircuitOpenError) as error:
        wait = "that long" if error.retry_after is not None else "a while"
        raise ToolFailed(f"{tool_name} failed: {error}. Wait {wait} before calling it again.") from error
    except ProviderError as error:
        raise ToolFailed(f"{tool_name} failed: {error}.") from error
