"""Signoff's own persistence: tables, migrations, engines and data access.

Importing the package registers the audit chain's session events (`agent.store.chain`), so that no
session writing tool-call or approval rows can leave them out of the chain.
"""

from signoff.agent.store import chain as chain  # registers the session events
