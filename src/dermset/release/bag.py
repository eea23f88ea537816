"""``bag/``: the release as a BagIt bag (RFC 8493) with SHA-256 manifests, via ``bagit``.

The payload is every file of the release except the bag itself. Files are hard-linked into
``bag/data/`` (a copy only where the file system cannot link), so the bag costs no second copy
of the images and holds exactly the bytes of the release.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import bagit

from dermset.release.isic_export import link_or_copy

BAG_DIR = "bag"


def payload_files(folder: Path) -> Iterable[Path]:
    """Every file of the release, bag excluded, in a stable order."""
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        if rel_root == Path("."):
            dirs[:] = sorted(d for d in dirs if d != BAG_DIR)
        else:
            dirs.sort()
        for name in sorted(files):
            yield rel_root / name


def write_bag(folder: Path, info: dict[str, str], processes: int = 1) -> Path:
    bag_dir = folder / BAG_DIR
    bag_dir.mkdir()
    for rel in payload_files(folder):
        target = bag_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(folder / rel, target)
    bagit.make_bag(str(bag_dir), bag_info=info, checksums=["sha256"], processes=processes)
    return bag_dir


def validate_bag(bag_dir: Path, processes: int = 1) -> list[str]:
    """Errors of the bag (empty: valid), as ``bagit`` reports them."""
    try:
        bag = bagit.Bag(str(bag_dir))
        bag.validate(processes=processes)
    except bagit.BagValidationError as exc:
        return [str(exc)] + [str(d) for d in exc.details or []]
    except bagit.BagError as exc:
        return [str(exc)]
    return []
