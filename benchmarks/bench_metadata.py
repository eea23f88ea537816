"""Validation and import throughput of a generated 100,000-row ISIC-format table.

Aim (issue 2): validation >= 20,000 rows/s on one core. Import is measured on SQLite and, when a
server is reachable, on PostgreSQL. Run: `python benchmarks/bench_metadata.py [--rows N]`.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import PG_URL, save, timer
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata import validate_table
from dermset.ingest.metadata_import import import_table
from dermset.protocol import Protocol
from dermset.registry.project import Project

SITES = ["head/neck", "upper extremity", "lower extremity", "anterior torso", "posterior torso"]
DX = ["nevus", "melanoma", "basal cell carcinoma", "seborrheic keratosis", "dermatofibroma"]


def make_table(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["isic_id", "patient_id", "lesion_id", "age_approx", "sex",
                    "anatom_site_general", "diagnosis", "diagnosis_confirm_type",
                    "image_type", "fitzpatrick_skin_type"])
        for i in range(rows):
            patient = rng.randrange(rows // 3)
            dx = rng.choice(DX)
            w.writerow([f"ISIC_{i:07d}", f"P{patient}", f"L{patient}_{rng.randrange(3)}",
                        5 * rng.randrange(1, 18), rng.choice(["male", "female"]),
                        rng.choice(SITES), dx,
                        "histopathology" if dx != "nevus" else "single image expert consensus",
                        "dermoscopic", rng.choice(["I", "II", "III", "IV"])])


def pg_database() -> str | None:
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        name = f"dermset_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    except Exception as exc:
        print(f"PostgreSQL not reachable ({exc}); skipping the PostgreSQL import", file=sys.stderr)
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    result: dict = {"rows": args.rows}
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "table.csv"
        make_table(table, args.rows)
        spec = load_mapping("isic")
        cpu0 = time.process_time()
        with timer() as t:
            report = validate_table(table, spec, Protocol().taxonomy())
        cpu = time.process_time() - cpu0
        assert report.valid_rows == args.rows, report.errors[:3]
        result["validate_rows_per_s"] = round(args.rows / t["seconds"])
        # per CPU-second of this process: what one core does, whatever else the machine runs
        result["validate_rows_per_cpu_s"] = round(args.rows / cpu)
        result["validate_target_rows_per_s"] = 20_000
        result["validate_vs_target"] = round(result["validate_rows_per_cpu_s"] / 20_000, 2)
        targets = {"sqlite": None}
        pg = pg_database()
        if pg:
            targets["postgresql"] = pg
        for name, url in targets.items():
            proj = Project.init(Path(tmp) / f"proj-{name}", database_url=url)
            try:
                with timer() as t:
                    rep = import_table(proj, table, spec, actor="bench")
                assert rep.imported == args.rows
                result[f"import_{name}_rows_per_s"] = round(args.rows / t["seconds"])
                with timer() as t:
                    rep = import_table(proj, table, spec, actor="bench")
                assert rep.unchanged == args.rows
                result[f"reimport_{name}_rows_per_s"] = round(args.rows / t["seconds"])
            finally:
                proj.close()
        if pg:
            drop_database(pg)
    save("metadata", result)


def drop_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
