"""Reading metadata tables (CSV) defensively: encodings, BOMs, delimiters, broken headers.

Streams rows so memory stays flat; every problem names the file and the row as a spreadsheet
numbers it (header = row 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dermset.model.problems import Problem

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a huge field is reported, not a crash

_SNIFF_BYTES = 64 * 1024


class TableError(Exception):
    """The file cannot be read as a table at all."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class Table:
    path: Path
    header: list[str]
    encoding: str
    delimiter: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def rows(self) -> Iterator[tuple[int, dict[str, str] | None, Problem | None]]:
        """(spreadsheet row number, row dict or None, problem or None) for every data row."""
        with self.path.open("r", encoding=self.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=self.delimiter)
            next(reader, None)
            width = len(self.header)
            for index, cells in enumerate(reader, start=2):
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) != width:
                    yield (
                        index,
                        None,
                        Problem(
                            f"row has {len(cells)} fields but the header has {width}",
                            rule="field_count",
                            file=self.name,
                            row=index,
                        ),
                    )
                    continue
                yield index, dict(zip(self.header, cells, strict=True)), None


def _detect_encoding(path: Path) -> tuple[str, list[Problem]]:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", []
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return "cp1252", [
            Problem(
                f"file is not UTF-8 (byte 0x{exc.object[exc.start]:02x}); read as Windows-1252/"
                "Latin-1 — check accented characters",
                rule="encoding",
                file=path.name,
                severity="warning",
            )
        ]
    return "utf-8-sig", []


def open_table(path: str | Path) -> Table:
    """Open a CSV file and check its header; raises TableError when it is not a usable table."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise TableError(Problem("file not found", rule="not_found", file=str(path)))
    if path.stat().st_size == 0:
        raise TableError(Problem("file is empty", rule="empty_file", file=name))
    with path.open("rb") as fh:
        sample = fh.read(_SNIFF_BYTES)
    if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TableError(Problem("file is binary, not a CSV table", rule="binary", file=name))
    encoding, problems = _detect_encoding(path)
    try:
        text = (
            sample.decode(encoding, errors="replace")
            if encoding != "utf-16"
            else path.read_text(encoding="utf-16")[:_SNIFF_BYTES]
        )
    except UnicodeError:
        raise TableError(Problem("file cannot be decoded", rule="encoding", file=name)) from None
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if not first_line.strip():
        raise TableError(Problem("file has no header row", rule="empty_file", file=name))
    delimiter = max((",", ";", "\t"), key=first_line.count)
    header_cells = next(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter))
    header = [h.strip() for h in header_cells]
    blanks = [i + 1 for i, h in enumerate(header) if not h]
    if blanks and len(header) > 1:
        problems.append(
            Problem(
                f"header has unnamed columns at positions {blanks}",
                rule="unnamed_column",
                file=name,
                row=1,
                severity="warning",
            )
        )
    seen: dict[str, int] = {}
    dupes = []
    for h in header:
        if h and h in seen:
            dupes.append(h)
        seen[h] = 1
    if dupes:
        raise TableError(
            Problem(
                f"header repeats column(s) {', '.join(sorted(set(dupes)))}; each column must "
                "appear once",
                rule="duplicate_header",
                file=name,
                row=1,
            )
        )
    return Table(
        path=path, header=header, encoding=encoding, delimiter=delimiter, problems=problems
    )
