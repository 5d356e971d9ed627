"""The one error hierarchy of the sales providers, offline and real.

A vendor's own exception types, HTTP errors and bodies never leave its client: each client translates
them into exactly these, so a tool (and a person reading a run) sees one vocabulary whoever the vendor is:

    ProviderError                 any provider failure; `service` names the provider ("hubspot", ...)
    ├── RateLimitedError          the vendor throttled us; `retry_after` says when to try again, if known
    ├── UnauthorizedError         the credentials were refused (401/403): a person must fix the settings
    ├── NotFoundError             a referenced thing (a campaign id, ...) does not exist at the vendor
    ├── InvalidRequestError       the vendor refused these arguments; different arguments may succeed
    ├── ProviderUnavailableError  outage, timeout or 5xx: the vendor could not answer now
    │   └── CircuitOpenError      not even tried: the service's breaker is open after repeated failures
    └── OutcomeUnknownError       the request left and no answer came back: it may or may not have acted

`message` is safe to show to the model and to people: clients build it from the status code and, at most,
a vendor's short machine-readable error code; never from a raw body (which can echo our data, or a key).
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "CircuitOpenError",
    "InvalidRequestError",
    "NotFoundError",
    "OutcomeUnknownError",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "UnauthorizedError",
]


class ProviderError(Exception):
    """A provider failed; `provider` (also `service`) names it and `str()` is a sentence the model can read."""

    def __init__(self, message: str, *, provider: str) -> None:
        self.provider = provider
        self.message = message
        super().__init__(f"provider {provider!r}: {message}")

    @property
    def service(self) -> str:
        """The provider's service name (the same as `provider`)."""
        return self.provider


class RateLimitedError(ProviderError):
    """The provider throttled us; `retry_after` is how long it asked us to wait, when it said."""

    def __init__(self, message: str, *, provider: str, retry_after: timedelta | None = None) -> None:
        self.retry_after = retry_after
        if retry_after is not None:
            message = f"{message} (retry after {retry_after.total_seconds():g} seconds)"
        super().__init__(message, provider=provider)


class UnauthorizedError(ProviderError):
    """The provider refused our credentials (missing, revoked, or without the scope this call needs)."""


class NotFoundError(ProviderError):
    """Something the call refers to does not exist at the provider, e.g. an unknown campaign id."""


class InvalidRequestError(ProviderError):
    """The provider refused these arguments; a corrected call may succeed."""


class ProviderUnavailableError(ProviderError):
    """The provider could not answer now (outage, timeout, server error); the same call may work later."""


class CircuitOpenError(ProviderUnavailableError):
    """The call was not attempted: the service's circuit breaker is open after repeated failures.

    `retry_after` is when the breaker lets a trial call through again, when known.
    """

    def __init__(self, message: str, *, provider: str, retry_after: timedelta | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider=provider)


class OutcomeUnknownError(ProviderError):
    """A request that may change something left, and no answer came back (a timeout, a dropped connection).

    Repeating it could do the thing twice, so clients raise this instead of retrying a write they cannot
    check, and the guard records the call's outcome as `unknown` for a person to resolve.
    """
