"""A synthetic dermoscopy cohort that dermset makes itself, with planted problems and truth.

``generate_cohort(out_dir, size=300, seed=0)`` writes plausible dermoscopy-like images (a
cartoon, but a recognisable one), an ISIC upload CSV and ``truth.json``: true diagnoses,
duplicates, SOP failures, broken files and privacy bait, each with what dermset should do. The
demo, the ingest, duplicate, release and web tests and the benchmarks all stand on it.
"""

from dermset.synthetic.manifest import CohortManifest
from dermset.synthetic.writer import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_SIZE,
    MIN_SIZE,
    generate_cohort,
    plan_cohort,
)

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_SIZE",
    "MIN_SIZE",
    "CohortManifest",
    "generate_cohort",
    "plan_cohort",
]
