"""Signoff: guarded tool calling for pydantic-ai agents, with durable approvals, audit and a cost ledger."""
