"""The evaluation tests run with the sales pack's catalog loaded (its suite, world, goals and models registered)."""

from tests.evals.support import SALES_CATALOG

__all__ = ["SALES_CATALOG"]
