"""FastAPI dependencies, as named `Annotated` aliases: the runtime, the caller, and role checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from signoff.agent.runtime import Runtime
from signoff.api.auth_limit import AuthFailureLimiter, client_address
from signoff.api.background import BackgroundRuns
from signoff.api.errors import ApiError
from signoff.api.keys import Principal, Role, authenticate
from signoff.api.rate_limit import RateLimiter

__all__ = ["ApproverDep", "BackgroundDep", "PrincipalDep", "RequesterDep", "RuntimeDep", "require_role"]


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _background(request: Request) -> BackgroundRuns:
    return request.app.state.background


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
BackgroundDep = Annotated[BackgroundRuns, Depends(_background)]


async def _authenticated(request: Request, runtime: RuntimeDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(
            401,
            "unauthenticated",
            "send an API key: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    failures: AuthFailureLimiter = request.app.state.auth_failure_limiter
    client = client_address(request)
    if (retry_after := failures.retry_after(client)) is not None:
        raise ApiError(
            429,
            "too_many_failed_authentications",
            f"too many failed authentications from this address; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    principal = await authenticate(runtime.session_factory, presented.strip())
    if principal is None:
        failures.record_failure(client)
        raise ApiError(
            401, "unauthenticated", "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal
    return principal


async def _principal(request: Request, principal: Annotated[Principal, Depends(_authenticated)]) -> Principal:
    """The authenticated caller, within its key's rate limit (429 with Retry-After otherwise).

    Every authenticated route depends on this (directly or through a role check), so every one is limited;
    health, readiness and metrics take no principal and are not."""
    limiter: RateLimiter = request.app.state.rate_limiter
    retry_after = limiter.acquire(principal.name)
    if retry_after is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"this key is over its limit of {limiter.per_minute} requests a minute; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]


def require_role(*roles: Role):
    """A dependency that admits principals holding any of `roles` (403 otherwise)."""

    async def check(principal: PrincipalDep) -> Principal:
        if not any(principal.has(role) for role in roles):
            raise ApiError(403, "forbidden", f"this needs the role {' or '.join(roles)}")
        return principal

    return check


RequesterDep = Annotated[Principal, Depends(require_role("requester", "admin"))]
ApproverDep = Annotated[Principal, Depends(require_role("approver"))]
AdminDep = Annotated[Principal, Depends(require_role("admin"))]
