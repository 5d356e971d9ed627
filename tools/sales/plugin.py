"""The sales pack as a plugin: the `ToolPack` the `signoff.tool_packs` entry point `sales` names.

It is registered in `pyproject.toml` exactly as a third-party pack would be, and the core never
imports it. `sales_pack()` with no arguments is what the entry point loads: offline providers on the
runtime's database. Tests and benchmarks pass `providers` to build the pack over their own
(instrumented) providers, and reach the providers a runtime built through `providers_of`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from signoff.prompts import PromptTemplate
from signoff.tools.packs import PackContext, PackLoadError, PackTools, ToolPack
from signoff.tools.sales.changes import changes_describer
from signoff.tools.sales.demo_model import DEMO_TASKS, sales_script
from signoff.tools.sales.pack import build_sales_tools
from signoff.tools.sales.prompt_dir import SALES_PROMPTS_DIR
from signoff.tools.sales.providers import CrmDomains, SalesProviders
from signoff.tools.sales.tables import sales_metadata
from signoff.tools.sales.testing.fake_vendors import fake_vendors
from signoff.tools.sales.vendors.config import VendorProviders, vendor_providers

__all__ = ["SALES_PACK_NAME", "SALES_PROMPT_NAME", "providers_of", "sales_pack"]

SALES_PACK_NAME = "sales"
SALES_PROMPT_NAME = "sales_agent"

ProvidersFactory = Callable[[PackContext], SalesProviders]
"""Builds the sales providers once the runtime's database is open (they may store their effects in it)."""

_MIGRATIONS = Path(__file__).with_name("migrations")
_DATASETS = Path(__file__).with_name("datasets")


def _from_options(context: PackContext) -> VendorProviders:
    """Real vendors where the pack's options configure them (tools/sales/vendors/config.py), offline otherwise."""
    try:
        return vendor_providers(context.options, sessionmaker=context.session_factory, clock=context.clock)
    except ValueError as error:
        raise PackLoadError(SALES_PACK_NAME, str(error)) from None


def sales_pack(
    *, providers: ProvidersFactory | None = None, classifier_prompt: PromptTemplate | None = None
) -> ToolPack:
    """The sales pack: lead discovery, enrichment, CRM sync, campaigns, outreach email, replies.

    `providers` builds the providers its tools close over; by default they come from the pack's options
    (`vendors.config`): HubSpot, Explorium, Lemlist and SMTP where credentials are configured, the offline
    providers (which keep their effects in the pack's `sales_` tables) for the rest. `classifier_prompt`
    replaces the reply classifier's production prompt.
    """

    def tools_over(built: SalesProviders, vendors: VendorProviders | None) -> PackTools:
        real = vendors if vendors is not None and vendors.configured else None
        return PackTools(
            tools=build_sales_tools(built, classifier_prompt=classifier_prompt),
            known_recipients=built.crm.known_emails,
            known_domains=built.crm.known_domains if isinstance(built.crm, CrmDomains) else None,
            describe_changes=changes_describer(built.crm),
            health=real.service_health if real is not None else None,
            check_credentials=real.check_credentials if real is not None else None,
            aclose=vendors.aclose if vendors is not None else None,
            resources=built,
        )

    def build(context: PackContext) -> PackTools:
        if providers is not None:
            return tools_over(providers(context), None)
        vendors = _from_options(context)
        return tools_over(vendors.providers, vendors)

    return ToolPack(
        name=SALES_PACK_NAME,
        description=(
            "Lead discovery, enrichment, CRM sync, campaigns and outreach email"
            " (HubSpot, Explorium, Lemlist, SMTP where configured; offline providers otherwise)."
        ),
        build=build,
        metadata=sales_metadata,
        migrations=_MIGRATIONS,
        prompt=SALES_PROMPT_NAME,
        prompt_dir=SALES_PROMPTS_DIR,
        eval_modules=("signoff.tools.sales.injection",),
        datasets=_DATASETS,
        offline_script=sales_script,
        demo_tasks=DEMO_TASKS,
        fake_providers=fake_vendors,
    )


def providers_of(tools: PackTools) -> SalesProviders:
    """The providers a built sales pack closes over (`runtime.pack_tools('sales')`)."""
    if not isinstance(tools.resources, SalesProviders):
        raise TypeError(f"not a built sales pack: its resources are {type(tools.resources).__name__}")
    return tools.resources
