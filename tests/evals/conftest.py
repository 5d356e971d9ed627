"""Fixtures of the evaluation tests: the `signoff` CLI fixture of the API tests (an empty database each)."""

from tests.api.test_cli import signoff  # noqa: F401
