"""The de-identification gate: every release is checked before it is sealed, and fails loudly.

It checks the files as written, not the code that wrote them:

* images (``images/``, the contribution package, and every image embedded in ``data.parquet``)
  carry no EXIF, XMP, IPTC, comment or other metadata block (:mod:`image_blocks` walks the
  containers itself, strictly: only pixel and colour blocks pass) and are named by public id;
* no original file name anywhere: a cell or word whose keyed hash equals the keyed hash of a
  file name the registry has seen is one (the names themselves are never stored);
* no local id: no cell or word equals a ``source_id`` of the registry;
* ages only in ISIC ``age_approx`` form (multiples of 5, 85 = 85 or older), no other age column;
* patient and lesion ids are the registry's pseudonyms (keyed HMACs: not reversible without
  the project secret), and the secret itself appears nowhere.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select

from dermset.model.ages import is_age_approx
from dermset.registry.project import Project
from dermset.registry.tables import Image, Lesion, Patient
from dermset.release.contents import METADATA_COLUMNS
from dermset.release.image_blocks import UnreadableImage, metadata_blocks
from dermset.release.isic_export import CONTRIBUTION_COLUMNS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".webp", ".gif"}
TEXT_SUFFIXES = {".json", ".md", ".html", ".svg", ".txt", ".jsonld"}
PSEUDONYM = {
    "patient_id": re.compile(r"^PAT_[0-9a-f]{16}$"),
    "lesion_id": re.compile(r"^LES_[0-9a-f]{16}$"),
}
AGE_COLUMNS = ("age_approx", "age")
#: columns whose text could carry a name or an id (the others are controlled vocabularies)
FREE_COLUMNS = (
    "isic_id",
    "filename",
    "patient_id",
    "lesion_id",
    "acquisition_device",
    "structure",
    "source",
)
_TOKEN = re.compile(r"[A-Za-z0-9_.\-]{4,}")
FORBIDDEN_FILES = {"secret.key", "registry.sqlite"}


@dataclass(frozen=True)
class Violation:
    rule: str
    file: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = (
            self.file
            + (f", row {self.row}" if self.row is not None else "")
            + (f", column {self.column!r}" if self.column else "")
        )
        return f"{where}: {self.message} [{self.rule}]"


class DeidentificationError(Exception):
    """The release failed the de-identification gate; nothing was published."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        shown = "\n  ".join(str(v) for v in violations[:20])
        more = f"\n  … and {len(violations) - 20} more" if len(violations) > 20 else ""
        super().__init__(
            f"the release failed the de-identification gate "
            f"({len(violations)} violations):\n  {shown}{more}"
        )


@dataclass
class RegistryFacts:
    """What the gate compares the release against (read once from the registry)."""

    source_ids: set[str]
    filename_hmacs: set[str]
    patients: set[str]
    lesions: set[str]
    project: Project
    _names: dict[str, bool] = field(default_factory=dict)

    def is_original_name(self, text: str) -> bool:
        known = self._names.get(text)
        if known is None:  # ids, devices and pseudonyms repeat: hash each distinct value once
            known = self._names[text] = self.project.keys.filename(text) in self.filename_hmacs
        return known

    @property
    def secret_hex(self) -> str:
        return (self.project.root / "secret.key").read_text().strip()


def registry_facts(project: Project) -> RegistryFacts:
    with project.db.read() as s:
        rows = s.execute(select(Image.source_id, Image.filename_hmac)).all()
        patients = set(s.execute(select(Patient.pseudonym)).scalars())
        lesions = set(s.execute(select(Lesion.pseudonym)).scalars())
    return RegistryFacts(
        source_ids={r[0] for r in rows if r[0]},
        filename_hmacs={r[1] for r in rows if r[1]},
        patients=patients,
        lesions=lesions,
        project=project,
    )


# -- images ----------------------------------------------------------------------------------
def image_violations(data: bytes, file: str) -> list[Violation]:
    """Metadata blocks in one image, found by walking its container.

    The walk is our own (:mod:`image_blocks`) and strict: any block that is not pixel data or
    colour information is reported, so there is nothing a second parser could add here; the
    tests cross-check the released files with Pillow.
    """
    try:
        blocks = metadata_blocks(data)
    except UnreadableImage as exc:
        return [Violation("unverifiable_image", file, str(exc))]
    return [Violation("image_metadata", file, f"carries a {b}") for b in blocks]


def _image_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            rel = path.relative_to(folder)
            if rel.parts[0] not in ("bag", "report"):  # bag: links to these; report: figures
                yield path


def check_images(folder: Path, public_ids: set[str]) -> list[Violation]:
    """Every image file and every image embedded in ``data.parquet``.

    A file hard-linked twice (the contribution package) and a Parquet blob with the bytes of a
    file already checked are recognised by inode and hash and not walked again.
    """
    out: list[Violation] = []
    seen_inodes: set[tuple[int, int]] = set()
    checked: dict[str, bool] = {}  # sha256 -> clean
    for path in _image_files(folder):
        rel = path.relative_to(folder).as_posix()
        if path.stem not in public_ids:
            out.append(
                Violation("file_name", rel, "an image file not named by a released public id")
            )
        st = path.stat()
        if (st.st_dev, st.st_ino) in seen_inodes:
            continue
        seen_inodes.add((st.st_dev, st.st_ino))
        data = path.read_bytes()
        found = image_violations(data, rel)
        checked[hashlib.sha256(data).hexdigest()] = not found
        out += found
    parquet = folder / "data.parquet"
    if parquet.is_file():
        pf = pq.ParquetFile(parquet)
        for batch in pf.iter_batches(columns=["image", "isic_id"], batch_size=500):
            for image, isic_id in zip(
                batch.column("image").to_pylist(), batch.column("isic_id").to_pylist(), strict=True
            ):
                where = f"data.parquet[{isic_id}]"
                if checked.get(hashlib.sha256(image["bytes"]).hexdigest()) is not True:
                    out += image_violations(image["bytes"], where)
                if image.get("path") and Path(image["path"]).stem != isic_id:
                    out.append(
                        Violation(
                            "file_name", where, f"image path {image['path']!r} is not the public id"
                        )
                    )
    return out


# -- tables and text -------------------------------------------------------------------------
def _cell_violations(
    facts: RegistryFacts, file: str, row: int, column: str, value: str
) -> list[Violation]:
    out = []
    if value in facts.source_ids:
        out.append(
            Violation(
                "local_id", file, "a source's own image id (local id) is released", row, column
            )
        )
    if column in FREE_COLUMNS and facts.is_original_name(value):
        out.append(
            Violation("original_file_name", file, "an original file name is released", row, column)
        )
    if column in AGE_COLUMNS and value:
        try:
            ok = is_age_approx(int(value))
        except ValueError:
            ok = False
        if not ok:
            out.append(
                Violation(
                    "age_form",
                    file,
                    f"age {value!r} is not in age_approx form (a multiple of 5 from 0 to 85)",
                    row,
                    column,
                )
            )
    if column in PSEUDONYM and value:
        known = facts.patients if column == "patient_id" else facts.lesions
        if not PSEUDONYM[column].match(value) or value not in known:
            out.append(
                Violation(
                    "pseudonym",
                    file,
                    f"{value!r} is not a registry pseudonym (keyed HMAC)",
                    row,
                    column,
                )
            )
    return out


def check_table(
    path: Path, rel: str, facts: RegistryFacts, allowed: Iterable[str] | None = None
) -> list[Violation]:
    out: list[Violation] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if allowed is not None:
            extra = [c for c in header if c not in set(allowed)]
            for c in extra:
                rule = "age_form" if "age" in c.lower() and c not in AGE_COLUMNS else "column"
                out.append(
                    Violation(rule, rel, f"column {c!r} is not part of the release format", 1, c)
                )
        if rel == "metadata.csv" and "age" in header:
            out.append(
                Violation(
                    "age_form",
                    rel,
                    "an 'age' column; a release publishes only age_approx",
                    1,
                    "age",
                )
            )
        for i, row in enumerate(reader, start=2):
            for column, value in zip(header, row, strict=False):
                if value:
                    out += _cell_violations(facts, rel, i, column, value)
    return out


def check_text(path: Path, rel: str, facts: RegistryFacts) -> list[Violation]:
    text = path.read_text(encoding="utf-8", errors="replace")
    out = []
    if facts.secret_hex in text:
        out.append(Violation("secret", rel, "the project secret appears in the file"))
    tokens = set(_TOKEN.findall(text))
    tokens |= {t.strip("._-") for t in tokens}  # "… at site X-12." ends a sentence
    for token in tokens:
        if token in facts.source_ids and not token.isdigit():
            out.append(Violation("local_id", rel, f"{token!r} is a source's own image id"))
        elif "." in token and facts.is_original_name(token):
            out.append(Violation("original_file_name", rel, f"{token!r} is an original file name"))
    return out


def check_dicom(folder: Path, facts: RegistryFacts) -> list[Violation]:
    """The DICOM export: empty name and birth date, pseudonymous id, approximate age, dummy
    serial number, no local id or file name in any text element, clean embedded JPEG."""
    import pydicom
    from pydicom.encaps import generate_frames

    out: list[Violation] = []
    for path in sorted((folder / "dicom").glob("*.dcm")):
        rel = path.relative_to(folder).as_posix()
        ds = pydicom.dcmread(path)
        if str(ds.get("PatientName", "")) or ds.get("PatientBirthDate", ""):
            out.append(Violation("dicom_identity", rel, "patient name or birth date is set"))
        if ds.get("DeviceSerialNumber", "UNKNOWN") != "UNKNOWN":
            out.append(Violation("dicom_identity", rel, "a device serial number is set"))
        age = str(ds.get("PatientAge", ""))
        if age and not (age.endswith("Y") and is_age_approx(int(age[:-1]))):
            out.append(Violation("age_form", rel, f"PatientAge {age!r} is not age_approx"))
        patient = str(ds.get("PatientID", ""))
        if patient:
            out += _cell_violations(facts, rel, 0, "patient_id", patient)
        for element in ds.iterall():
            if element.VR in ("LO", "SH", "LT", "ST", "UT", "PN", "CS") and element.value:
                values = element.value if element.VM > 1 else [element.value]
                for value in values:
                    out += [
                        Violation(v.rule, rel, f"{element.keyword}: {v.message}")
                        for v in _cell_violations(facts, rel, 0, "filename", str(value))
                    ]
        if ds.file_meta.TransferSyntaxUID.is_encapsulated:
            for frame in generate_frames(ds.PixelData, number_of_frames=1):
                out += image_violations(frame, f"{rel} (pixel data)")
    return out


def check_release(folder: Path, facts: RegistryFacts) -> list[Violation]:
    """Every de-identification violation of a release folder (empty: it may be published)."""
    folder = Path(folder)
    out: list[Violation] = []
    ids: set[str] = set()
    meta = folder / "metadata.csv"
    if meta.is_file():
        with meta.open(encoding="utf-8", newline="") as fh:
            ids = {row["isic_id"] for row in csv.DictReader(fh)}
        out += check_table(meta, "metadata.csv", facts, METADATA_COLUMNS)
    for rel, allowed in (
        ("structures.csv", None),
        ("splits.csv", None),
        ("contribution/metadata.csv", CONTRIBUTION_COLUMNS),
    ):
        if (folder / rel).is_file():
            out += check_table(folder / rel, rel, facts, allowed)
    out += check_images(folder, ids)
    if (folder / "dicom").is_dir():
        out += check_dicom(folder, facts)
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or rel.parts[0] == "bag":
            continue
        if path.name in FORBIDDEN_FILES:
            out.append(
                Violation(
                    "project_file",
                    rel.as_posix(),
                    "a project file (secret or registry) is in the release",
                )
            )
        if path.suffix.lower() in TEXT_SUFFIXES:
            out += check_text(path, rel.as_posix(), facts)
    return out
