"""Every table the migrations manage: Signoff's own and the offline sales providers'."""

from __future__ import annotations

from sqlalchemy import MetaData

from signoff.agent.store.tables import Base
from signoff.tools.sales import sales_metadata

__all__ = ["target_metadata"]

target_metadata: list[MetaData] = [Base.metadata, sales_metadata]
