"""Every table module of the registry, imported so that Alembic and tests see the whole schema.

Each concept keeps its tables in its own module; add its import here.
"""

import dermset.registry.duplicate_tables
import dermset.registry.ingest_ledger
import dermset.registry.quality_tables
import dermset.registry.user_tables
import dermset.registry.verification_tables  # noqa: F401
from dermset.registry import tables  # noqa: F401
from dermset.registry.tables import Base

metadata = Base.metadata
