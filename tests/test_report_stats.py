"""stats.json against counts computed independently: from planted ground truth and from
HAM10000's own metadata table (never through dermset's statistics code)."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import Counter, defaultdict

import numpy as np
import pytest

from cli_helpers import dermset
from conftest import TABLES
from dermset.model.record import ImageRecord
from dermset.registry.project import Project
from dermset.registry.record_writer import ImageInput, RecordWriter
from dermset.report.dataset_report import build_report
from release_cohort import DEVICES, STRUCTS, build_cohort

CATEGORY_OF = {
    "nv": "NV",
    "mel": "MEL",
    "bkl": "BKL",
    "bcc": "BCC",
    "akiec": "AK",
    "vasc": "VASC",
    "df": "DF",
}
MALIGNANT = {"MEL", "BCC", "SCC"}
# HAM10000 localization -> ISIC anatom_site_general, written out here from the two vocabularies
HAM_SITE = {
    "scalp": "head/neck",
    "face": "head/neck",
    "ear": "head/neck",
    "neck": "head/neck",
    "back": "posterior torso",
    "chest": "anterior torso",
    "abdomen": "anterior torso",
    "upper extremity": "upper extremity",
    "hand": "upper extremity",
    "lower extremity": "lower extremity",
    "foot": "lower extremity",
    "acral": "palms/soles",
    "genital": "oral/genital",
    "trunk": None,
    "unknown": None,
}


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _fleiss(rows: list[list[str]], codes: list[str]) -> float:
    """Fleiss' kappa written out from Fleiss (1971), eq. 1-9."""
    n, m = len(rows), len(rows[0])
    counts = [[r.count(c) for c in codes] for r in rows]
    p_j = [sum(c[j] for c in counts) / (n * m) for j in range(len(codes))]
    p_i = [(sum(x * x for x in c) - m) / (m * (m - 1)) for c in counts]
    p_bar, p_e = sum(p_i) / n, sum(p * p for p in p_j)
    return (p_bar - p_e) / (1 - p_e)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    proj = Project.init(tmp_path_factory.mktemp("planted") / "proj")
    truth = build_cohort(proj, n_patients=22, seed=3)
    out = tmp_path_factory.mktemp("report")
    build_report(proj, out, n_bootstrap=50)
    yield proj, truth, json.loads((out / "stats.json").read_text())
    proj.close()


def test_flow_and_cohort_equal_the_planted_records(planted):
    _, truth, stats = planted
    active = truth.images
    f = stats["flow"]
    assert f["records"] == len(active) + len(truth.duplicates) + len(truth.sop_failed)
    assert f["duplicates_excluded"] == len(truth.duplicates)
    assert f["sop_failed"] == len(truth.sop_failed)
    assert f["unique_images"] == len(active)
    patients = Counter(x["patient"] for x in active.values())
    lesions = Counter(x["lesion"] for x in active.values())
    c = stats["cohort"]
    assert c["patients"] == len(patients)
    assert c["lesions"] == len(lesions)
    assert c["images_per_patient"]["counts"] == {
        str(k): v for k, v in sorted(Counter(patients.values()).items())
    }
    assert c["images_per_lesion"]["counts"] == {
        str(k): v for k, v in sorted(Counter(lesions.values()).items())
    }
    assert c["images_per_patient"]["median"] == statistics.median(patients.values())
    first = {}
    for x in active.values():
        first.setdefault(x["patient"], x["sex"])
    assert c["patient_sex"] == dict(sorted(Counter(first.values()).items()))
    assert stats["flow_line"] == (
        f"{f['records']} records → {len(truth.duplicates)} duplicates excluded → "
        f"{len(truth.sop_failed)} failed the acquisition SOP → {len(active)} unique images of "
        f"{len(patients)} patients"
    )


def test_demographics_equal_the_planted_facts(planted):
    _, truth, stats = planted
    facts = list(truth.images.values())
    ages = [x["age_approx"] for x in facts]
    q1, med, q3 = _quartiles(ages)
    a = stats["age"]
    assert (a["min"], a["max"], a["known"], a["missing"]) == (min(ages), max(ages), len(ages), 0)
    assert (a["q1"], a["median"], a["q3"]) == pytest.approx((q1, med, q3))
    for sex in ("female", "male"):
        expect = Counter(x["age_approx"] for x in facts if x["sex"] == sex)
        assert a["by_sex"].get(sex, {}) == {str(k): v for k, v in sorted(expect.items())}
    for key in ("sex", "fitzpatrick_skin_type", "anatom_site_general", "acquisition_device"):
        assert stats[key] == dict(Counter(x[key] for x in facts)), key
    assert set(stats["acquisition_device"]) <= set(DEVICES)
    assert stats["dermoscopic_type"] == {"contact polarized": len(facts)}


def test_categories_verification_and_structures_equal_the_planted_labels(planted):
    proj, truth, stats = planted
    final = {i: truth.final_label(i) for i in truth.images}
    histo_lesion = set(truth.histopathology)
    rows = {r["code"]: r for r in stats["diagnosis"]["categories"]}
    for code in proj.protocol.taxonomy().codes:
        mine = [i for i, dx in final.items() if dx == code]
        verified = [i for i in mine if truth.images[i]["lesion"] in histo_lesion]
        r = rows[code]
        assert r["images"] == len(mine), code
        assert r["lesions"] == len({truth.images[i]["lesion"] for i in mine}), code
        assert r["patients"] == len({truth.images[i]["patient"] for i in mine}), code
        assert r["histopathology_images"] == len(verified), code
        assert r["histopathology_lesions"] == len({truth.images[i]["lesion"] for i in verified})
    mal = {truth.images[i]["lesion"] for i, dx in final.items() if dx in MALIGNANT}
    assert stats["diagnosis"]["malignant"]["lesions"] == len(mal)
    # every lesion anyone called malignant went to the pathologist: all malignant are verified
    assert stats["diagnosis"]["malignant"]["histopathology_lesions"] == len(mal) > 0

    v = stats["verification"]
    assert v["by_stage"] == dict(Counter(truth.expected_stage(i) for i in truth.images))
    n = len(truth.images)
    assert v["funnel"]["clinical_annotation"] == n
    assert v["funnel"]["reviews_complete"] == n
    assert v["funnel"]["adjudicated"] == len(truth.adjudicated) > 0
    assert v["funnel"]["consensus"] == n - len(truth.adjudicated)
    assert v["reviews_submitted"] == 3 * n
    assert v["release_blockers"] == {}

    expect: dict[str, Counter] = defaultdict(Counter)
    for image_id, calls in truth.reviews.items():
        seen = Counter(s for call in calls.values() for s in STRUCTS.get(call, []))
        expect[final[image_id]].update(s for s, k in seen.items() if 2 * k > len(calls))
    for code, entry in stats["structures"]["by_category"].items():
        assert entry["counts"] == dict(expect[code]), code
        assert entry["images"] == sum(1 for dx in final.values() if dx == code)


def test_agreement_and_quality_equal_the_planted_reviews_and_measures(planted):
    proj, truth, stats = planted
    codes = proj.protocol.taxonomy().codes
    ratings = [list(truth.reviews[i].values()) for i in sorted(truth.reviews)]
    ag = stats["agreement"]
    assert ag["n_images"] == len(ratings)
    assert ag["fleiss_kappa"] == pytest.approx(_fleiss(ratings, codes), abs=1e-4)
    matrix = np.zeros((len(codes), len(codes)), dtype=int)
    for image_id, calls in truth.reviews.items():
        for call in calls.values():
            matrix[codes.index(truth.final_label(image_id)), codes.index(call)] += 1
    assert ag["review_vs_final"]["matrix"] == matrix.tolist()

    q = stats["quality"]
    for check, values in truth.quality.items():
        entry = q["checks"][check]
        verdicts = Counter(v for _, v in values)
        assert (entry["pass"], entry["warn"], entry["fail"]) == (
            verdicts["pass"],
            verdicts["warn"],
            verdicts["fail"],
        )
        assert entry["median"] == pytest.approx(statistics.median(x for x, _ in values), abs=1e-4)
        assert sum(entry["histogram"]["counts"]) == len(values)
    worst = Counter()
    n_records = len(truth.quality["sharpness"])
    for k in range(n_records):
        vs = [truth.quality[c][k][1] for c in truth.quality]
        worst[max(vs, key=["pass", "warn", "fail"].index)] += 1
    assert q["verdicts"] == dict(sorted(worst.items()))


def test_study_flow_line_reads_like_the_paper(tmp_path):
    """1,044 records of 443 patients, 18 duplicates: the study's own numbers."""
    proj = Project.init(tmp_path / "proj")
    items = []
    for n in range(1044):
        rec = ImageRecord.model_validate({"diagnosis": "NV", "age_approx": 40, "sex": "female"})
        items.append(
            ImageInput(
                record=rec,
                source_id=f"R{n}",
                patient_local=f"P{n % 443}",
                lesion_local=f"L{n}",
                image_columns={"status": "duplicate" if n >= 1026 else "active"},
            )
        )
    with proj.db.session() as s:
        RecordWriter(proj, s, actor="t", source="t").write(items)
    build_report(proj, tmp_path / "r", n_bootstrap=10)
    stats = json.loads((tmp_path / "r" / "stats.json").read_text())
    assert stats["flow_line"] == (
        "1,044 records → 18 duplicates excluded → 1,026 unique images of 443 patients"
    )
    svg = (tmp_path / "r" / "figures" / "flow.svg").read_text()
    for text in (
        "1,044 image records",
        "18 duplicates excluded",
        "1,026 unique images",
        "of 443 patients",
    ):
        assert text in svg
    html = (tmp_path / "r" / "report.html").read_text()
    assert stats["flow_line"] in html
    proj.close()


# -- HAM10000 -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ham(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("ham")
    table = TABLES / "ham10000" / "HAM10000_metadata.csv"
    assert dermset("init", root / "proj").code == 0
    r = dermset("import-metadata", table, "--mapping", "ham10000", "--project", root / "proj")
    assert r.code == 0, r.err
    r = dermset("report", "--out", root / "report", "--project", root / "proj")
    assert r.code == 0, r.err
    with table.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows, json.loads((root / "report" / "stats.json").read_text()), root


def _age_approx(text: str) -> int:
    return int(5 * math.floor(min(float(text), 85) / 5 + 0.5))


def test_ham10000_stats_equal_counts_from_the_csv(ham):
    rows, stats, _ = ham
    n = len(rows)
    assert stats["flow"]["records"] == stats["flow"]["unique_images"] == n == 10015
    assert stats["flow"]["duplicates_excluded"] == 0
    assert stats["cohort"]["patients"] == 0  # HAM10000 names lesions, not patients
    assert stats["cohort"]["images_without_patient"] == n
    per_lesion = Counter(r["lesion_id"] for r in rows)
    assert stats["cohort"]["lesions"] == len(per_lesion)
    assert stats["cohort"]["images_per_lesion"]["counts"] == {
        str(k): v for k, v in sorted(Counter(per_lesion.values()).items())
    }

    sex = Counter(r["sex"] if r["sex"] in ("male", "female") else "missing" for r in rows)
    assert stats["sex"] == dict(sex)
    ages = [_age_approx(r["age"]) for r in rows if r["age"]]
    a = stats["age"]
    assert (a["known"], a["missing"]) == (len(ages), n - len(ages))
    assert (a["min"], a["max"]) == (min(ages), max(ages))
    assert (a["q1"], a["median"], a["q3"]) == pytest.approx(_quartiles(ages))
    for s in ("male", "female"):
        expect = Counter(_age_approx(r["age"]) for r in rows if r["age"] and r["sex"] == s)
        assert a["by_sex"][s] == {str(k): v for k, v in sorted(expect.items())}

    # a lesion keeps the first site given for it (later rows only fill gaps)
    site_of: dict[str, str | None] = {}
    for r in rows:
        if site_of.get(r["lesion_id"]) is None:
            site_of[r["lesion_id"]] = HAM_SITE[r["localization"]]
    sites = Counter(site_of[r["lesion_id"]] or "missing" for r in rows)
    assert stats["anatom_site_general"] == dict(sites)


def test_ham10000_categories_and_stages_equal_counts_from_the_csv(ham):
    rows, stats, _ = ham
    cats = {r["code"]: r for r in stats["diagnosis"]["categories"]}
    for dx, code in CATEGORY_OF.items():
        mine = [r for r in rows if r["dx"] == dx]
        histo = [r for r in mine if r["dx_type"] == "histo"]
        assert cats[code]["images"] == len(mine), code
        assert cats[code]["lesions"] == len({r["lesion_id"] for r in mine}), code
        assert cats[code]["histopathology_images"] == len(histo), code
        assert cats[code]["histopathology_lesions"] == len({r["lesion_id"] for r in histo}), code
    assert cats["SCC"]["images"] == cats["OTHER"]["images"] == 0
    malignant = [r for r in rows if r["dx"] in ("mel", "bcc")]
    m = stats["diagnosis"]["malignant"]
    assert m["images"] == len(malignant) == 1113 + 514
    assert m["lesions"] == len({r["lesion_id"] for r in malignant})
    assert m["histopathology_lesions"] == len(
        {r["lesion_id"] for r in malignant if r["dx_type"] == "histo"}
    )
    bm = Counter(
        "malignant"
        if r["dx"] in ("mel", "bcc")
        else "indeterminate"
        if r["dx"] == "akiec"
        else "benign"
        for r in rows
    )
    assert stats["diagnosis"]["benign_malignant"] == dict(bm)
    stage = {
        "histo": "histopathology",
        "follow_up": "follow-up",
        "consensus": "consensus",
        "confocal": "confocal",
    }
    assert stats["verification"]["by_stage"] == dict(Counter(stage[r["dx_type"]] for r in rows))
    assert stats["agreement"] is None  # no specialist reviews in an imported table
    assert stats["quality"]["checks"] == {}  # no image files, nothing measured


def test_ham10000_report_names_what_it_cannot_show(ham):
    _, stats, root = ham
    html = (root / "report" / "report.html").read_text()
    assert "No specialist reviews are recorded" in html
    assert "No SOP measurements are recorded" in html
    made = {p.stem for p in (root / "report" / "figures").glob("*.png")}
    assert made == {"flow", "categories", "age_sex", "sites", "verification_funnel"}
    assert {p.stem for p in (root / "report" / "figures").glob("*.svg")} == made
    assert stats["flow_line"] == "10,015 records → 0 duplicates excluded → 10,015 unique images"


def test_stats_on_postgresql_equal_sqlite(tmp_path, postgres_url):
    """The statistics' SQL gives the same numbers on PostgreSQL (same planted cohort)."""
    out = {}
    for name, url in (("sqlite", None), ("postgresql", postgres_url)):
        proj = Project.init(tmp_path / name, database_url=url)
        build_cohort(proj, n_patients=8, seed=5)
        build_report(proj, tmp_path / f"r-{name}", n_bootstrap=20)
        stats = json.loads((tmp_path / f"r-{name}" / "stats.json").read_text())
        stats.pop("generated_at")
        out[name] = stats
        proj.close()
    # pseudonyms differ (each project has its own secret); everything counted must not
    assert out["sqlite"] == out["postgresql"]
