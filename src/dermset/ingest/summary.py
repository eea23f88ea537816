"""What one ingest run did, in the study's terms ("N records → M duplicates excluded → …")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dermset.model.problems import Problem


class IngestError(Exception):
    """The ingest cannot start (bad arguments, another ingest running)."""


@dataclass
class IngestSummary:
    """What one ingest run did, in the study's terms."""

    records: int = 0
    duplicates_excluded: int = 0
    quality_excluded: int = 0
    quarantined: int = 0
    unique_images: int = 0
    #: files recorded by an earlier (possibly interrupted) run of the same batch
    already_ingested: int = 0
    quality_warnings: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    attached_to_metadata: int = 0
    without_metadata: int = 0
    metadata_rows_without_file: int = 0
    skipped_files: int = 0
    workers: int = 1
    executor: str = "inline"
    #: mean seconds per image of each worker stage, and of recording (main process)
    timings: dict[str, float] = field(default_factory=dict)
    #: images that failed each SOP check (an image can fail several)
    sop_failures: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    duplicate_groups: list[Any] = field(default_factory=list)

    def study_line(self) -> str:
        def n(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"

        return (
            f"{n(self.records, 'record')} → {n(self.duplicates_excluded, 'duplicate')} excluded"
            f" → {self.quality_excluded} failed SOP → {self.quarantined} quarantined → "
            f"{n(self.unique_images, 'unique image')}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "duplicates_excluded": self.duplicates_excluded,
            "quality_excluded": self.quality_excluded,
            "quarantined": self.quarantined,
            "unique_images": self.unique_images,
            "already_ingested": self.already_ingested,
            "quality_warnings": self.quality_warnings,
            "exact_duplicates": self.exact_duplicates,
            "near_duplicates": self.near_duplicates,
            "attached_to_metadata": self.attached_to_metadata,
            "without_metadata": self.without_metadata,
            "metadata_rows_without_file": self.metadata_rows_without_file,
            "skipped_files": self.skipped_files,
            "sop_failures": dict(sorted(self.sop_failures.items())),
            "timings": {k: round(v, 5) for k, v in self.timings.items()},
            "problems": [p.to_dict() for p in self.problems],
        }
