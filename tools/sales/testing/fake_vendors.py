"""All four vendor doubles at once, seeded for the demo tasks: the sales pack's `ToolPack.fake_providers`.

`async with fake_vendors() as options:` starts the HubSpot, Explorium and Lemlist doubles (each on a free
port of 127.0.0.1, `serving.serve_app`) and the SMTP double, and yields the complete sales pack options that
point the pack at them: fake credentials, base URLs, the relay's host and port, the sender and the
unsubscribe settings. `signoff dev fake-providers` serves them in the foreground for a person trying the
product without vendor accounts; with its `export SIGNOFF_PACK_OPTIONS=...` line every command talks to the
doubles through the real clients, exactly as it would to the vendors.

The doubles hold what the demo tasks (`demo_model.DEMO_TASKS`) need:

- Explorium: its deterministic people directory (fintech leads in Berlin, logistics leads in Hamburg, ...).
- HubSpot: `ana@acme.io` (owned by `maya@signoff-sales.example`) and the colleague the reassignment task
  names, `ben@signoff-sales.example`, as an owner.
- Lemlist: the campaign the replies tasks name (`cmp_5eedc0ffee000001`) with two leads who replied.
- SMTP: a plain local relay: no STARTTLS (it has no certificate a client would trust) and, like a relay on a
  trusted network, no login (aiosmtpd warns on every connection about a login offered without TLS).

Everything lives in memory and is gone when the block exits.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "FAKE_CAMPAIGN_ID",
    "FAKE_EXPLORIUM_API_KEY",
    "FAKE_HUBSPOT_TOKEN",
    "FAKE_LEMLIST_API_KEY",
    "fake_vendors",
]

# Shaped like each vendor's credentials, and saying what they are wherever they end up.
FAKE_HUBSPOT_TOKEN = "pat-na1-fake-signoff-double-0000"
FAKE_EXPLORIUM_API_KEY = "fake-explorium-key-signoff-double"
FAKE_LEMLIST_API_KEY = "fake-lemlist-key-signoff-double"
_FAKE_UNSUBSCRIBE_SECRET = "fake-unsubscribe-secret-signoff-double"

FAKE_CAMPAIGN_ID = "cmp_5eedc0ffee000001"
"""The campaign the demo's replies tasks name. Lemlist's own ids look like `cam_...`; the double keeps this
one under the id the demo (and the offline providers) use, so the same tasks work against it."""

_HOUSE_OWNER = "maya@signoff-sales.example"
_NEW_OWNER = "ben@signoff-sales.example"
_SENDER = "Signoff demo <outreach@signoff-sales.example>"
_UNSUBSCRIBE_URL = "https://signoff-sales.example/unsubscribe"
_UNSUBSCRIBE_MAILTO = "unsubscribe@signoff-sales.example"
# The double's default 2,000 records hold only 3 fintech people in Berlin; 5,000 hold 13, so the demo's
# "find 5 fintech leads in Berlin" finds 5 (and the directory still builds in about a tenth of a second).
_DIRECTORY_SIZE = 5_000


@dataclass(frozen=True, kw_only=True)
class _DemoContact:
    email: str
    first_name: str
    last_name: str
    company: str
    title: str
    reply_subject: str
    reply_text: str


_DEMO_CONTACTS = (
    _DemoContact(
        email="ana@acme.io", first_name="Ana", last_name="Lopez", company="Acme", title="COO",
        reply_subject="Re: Approvals without the spreadsheet", reply_text="Thanks, a demo on Tuesday works for us.",
    ),
    _DemoContact(
        email="jonas.weber@northwind-labs.example", first_name="Jonas", last_name="Weber", company="Northwind Labs",
        title="VP of Sales", reply_subject="Re: Approvals without the spreadsheet",
        reply_text="Please send pricing first.",
    ),
)  # fmt: skip


@contextlib.asynccontextmanager
async def fake_vendors(*, host: str = "127.0.0.1") -> AsyncIterator[dict[str, str]]:
    """Serve the seeded HubSpot, Explorium, Lemlist and SMTP doubles on `host`; yield the sales pack options."""
    # Imported here, not at the top: the pack module imports this one on every command, and only
    # `signoff dev fake-providers` needs uvicorn, FastAPI and aiosmtpd loaded.
    from signoff.tools.sales.testing.explorium import ExploriumState, build_directory, create_explorium_app
    from signoff.tools.sales.testing.hubspot import HubSpotState, create_hubspot_app
    from signoff.tools.sales.testing.lemlist import (
        LemlistCampaignRecord,
        LemlistLeadRecord,
        LemlistState,
        create_lemlist_app,
    )
    from signoff.tools.sales.testing.serving import serve_app
    from signoff.tools.sales.testing.smtp import SmtpDouble

    hubspot = HubSpotState()
    house_owner = hubspot.add_owner(email=_HOUSE_OWNER, first_name="Maya", last_name="Okafor")
    hubspot.add_owner(email=_NEW_OWNER, first_name="Ben", last_name="Adeyemi")
    for contact in _DEMO_CONTACTS:
        hubspot.add_contact(
            email=contact.email,
            firstname=contact.first_name,
            lastname=contact.last_name,
            company=contact.company,
            jobtitle=contact.title,
            hubspot_owner_id=house_owner.owner_id,
        )

    lemlist = LemlistState()
    # Seeded a week ago, replied to since: the replies are read newest first.
    seeded_at = datetime.now(UTC) - timedelta(days=7)
    campaign = LemlistCampaignRecord(
        campaign_id=FAKE_CAMPAIGN_ID, name="Approvals without the spreadsheet", status="running", created_at=seeded_at
    )
    lemlist.campaigns[FAKE_CAMPAIGN_ID] = campaign
    for index, contact in enumerate(_DEMO_CONTACTS):
        contact_id = lemlist.contacts.setdefault(contact.email, lemlist.new_id("ctc"))
        campaign.leads[contact.email] = LemlistLeadRecord(
            lead_id=lemlist.new_id("lea"),
            contact_id=contact_id,
            campaign_id=FAKE_CAMPAIGN_ID,
            email=contact.email,
            fields={"firstName": contact.first_name, "lastName": contact.last_name, "companyName": contact.company},
            created_at=seeded_at,
        )
        lemlist.seed_reply(
            lead_email=contact.email,
            subject=contact.reply_subject,
            text=contact.reply_text,
            campaign_id=FAKE_CAMPAIGN_ID,
            created_at=seeded_at + timedelta(days=1, hours=index),
        )

    explorium_app = create_explorium_app(
        ExploriumState(prospects=build_directory(_DIRECTORY_SIZE)), api_key=FAKE_EXPLORIUM_API_KEY
    )
    async with (
        serve_app(create_hubspot_app(hubspot, token=FAKE_HUBSPOT_TOKEN), host=host) as hubspot_served,
        serve_app(explorium_app, host=host) as explorium_served,
        serve_app(create_lemlist_app(lemlist, api_key=FAKE_LEMLIST_API_KEY), host=host) as lemlist_served,
        SmtpDouble(host=host) as relay,
    ):
        yield {
            "hubspot_token": FAKE_HUBSPOT_TOKEN,
            "hubspot_base_url": hubspot_served.base_url,
            "explorium_api_key": FAKE_EXPLORIUM_API_KEY,
            "explorium_base_url": explorium_served.base_url,
            "lemlist_api_key": FAKE_LEMLIST_API_KEY,
            "lemlist_base_url": lemlist_served.base_url,
            "smtp_host": relay.host,
            "smtp_port": str(relay.port),
            # The relay offers no STARTTLS: a certificate of its own would be one no client trusts.
            "smtp_starttls": "false",
            "smtp_sender": _SENDER,
            "unsubscribe_url": _UNSUBSCRIBE_URL,
            "unsubscribe_mailto": _UNSUBSCRIBE_MAILTO,
            "unsubscribe_secret": _FAKE_UNSUBSCRIBE_SECRET,
        }
