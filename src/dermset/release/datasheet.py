"""The release's datasheet: the "Datasheets for Datasets" questions, answered from the registry.

Gebru et al., "Datasheets for Datasets", CACM 64(12), 2021. What the registry and the protocol
know is answered from them (composition, labels, splits, exclusions, verification, agreement,
de-identification, preprocessing); what only people know (who funded the study, the ethics
approval, consent) comes from the curator's ``datasheet.toml`` in the project folder, and a
question nobody answered says so and names the key to fill in. The Croissant card's
Responsible-AI fields are drawn from the same answers.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from dermset.protocol import Protocol

DATASHEET_FILE = "datasheet.md"
ANSWERS_FILE = "datasheet.toml"

#: (section, key, question) — the questions the curator answers in datasheet.toml
CURATOR_QUESTIONS = (
    ("motivation", "purpose", "For what purpose was the dataset created?"),
    ("motivation", "creators", "Who created the dataset and on behalf of which entity?"),
    ("motivation", "funding", "Who funded the creation of the dataset?"),
    ("collection", "sites", "Where and by whom were the images captured?"),
    ("collection", "ethics", "Were any ethical review processes conducted?"),
    ("collection", "consent", "Did the individuals consent, and can they revoke consent?"),
    ("uses", "not_for", "Are there tasks for which the dataset should not be used?"),
    ("distribution", "how", "How will the dataset be distributed?"),
    ("maintenance", "contact", "How can the maintainer be contacted?"),
)


class DatasheetError(ValueError):
    """The curator's datasheet.toml cannot be read."""


def curator_answers(project_root: Path) -> dict[str, dict[str, str]]:
    path = project_root / ANSWERS_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DatasheetError(f"{path}: not valid TOML: {exc}") from None
    return {
        str(k): {str(q): str(a) for q, a in v.items()}
        for k, v in data.items()
        if isinstance(v, dict)
    }


def _answer(answers: dict[str, dict[str, str]], section: str, key: str) -> str:
    text = answers.get(section, {}).get(key)
    return text or (
        f"_Not recorded in the registry. The curator answers this in "
        f"`{ANSWERS_FILE}`, key `{section}.{key}`._"
    )


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f} %" if total else "–"


def facts(stats: dict[str, Any], info: dict[str, Any], protocol: Protocol) -> dict[str, str]:
    """Sentences about the release that the registry and the protocol can vouch for."""
    flow, _cohort, dx = stats["flow"], stats["cohort"], stats["diagnosis"]
    n = info["counts"]["images"]
    cats = ", ".join(
        f"{c['code']} ({c['name']}) {info['counts']['by_category'].get(c['code'], 0):,}"
        for c in dx["categories"]
    )
    stages = ", ".join(f"{k} {v:,}" for k, v in info["counts"]["by_verification_stage"].items())
    mal = dx["malignant"]
    missing = {
        k: stats[k].get("missing", 0)
        for k in ("sex", "fitzpatrick_skin_type", "anatom_site_general")
    }
    missing["age"] = stats["age"]["missing"]
    missing_text = (
        ", ".join(f"{k} {v:,} ({_pct(v, flow['unique_images'])})" for k, v in missing.items() if v)
        or "none of age, sex, Fitzpatrick type or site"
    )
    ag = stats.get("agreement")
    agreement = (
        f"Fleiss' kappa {ag['fleiss_kappa']:.2f} (95 % CI {ag['fleiss_kappa_ci'][0]:.2f}–"
        f"{ag['fleiss_kappa_ci'][1]:.2f}) over {ag['n_images']:,} images with all "
        f"{ag['raters_per_image']} reviews"
        if ag and ag.get("fleiss_kappa") is not None and None not in ag["fleiss_kappa_ci"]
        else "no specialist reviews are recorded"
    )
    review = protocol.review
    sop = ", ".join(
        f"{k} fails {'below' if t.higher_is_better else 'above'} {t.fail:g}"
        for k, t in protocol.sop.checks.items()
    )
    return {
        "instances": (
            f"Each instance is one dermoscopic image of a skin lesion with 16 structured metadata "
            f"fields in ISIC notation. The release holds {n:,} images of "
            f"{info['counts']['patients']:,} patients and {info['counts']['lesions']:,} lesions."
        ),
        "flow": stats["flow_line"] + ".",
        "excluded": ", ".join(f"{k}: {v:,}" for k, v in info["excluded"].items()) or "none",
        "labels": (
            f"Every image carries a diagnostic category of the protocol's taxonomy: {cats}. "
            f"{mal['lesions']:,} lesions are malignant; {mal['histopathology_lesions']:,} of them "
            "are confirmed by histopathology."
        ),
        "verification": (
            f"Stage 1: the attending clinician's diagnosis. Stage 2: blinded review by "
            f"{review.reviewers} specialists; at least {review.consensus_min_agree} agreeing make "
            f"a consensus, otherwise the {review.adjudicator_role} adjudicates. Stage 3: "
            f"histopathology for every lesion anyone called "
            f"{', '.join(sorted(protocol.taxonomy().histopathology_codes))}. "
            f"Labels confirmed by: {stages}. Agreement: {agreement}."
        ),
        "missing": f"Missing values: {missing_text}.",
        "relationships": (
            "Images of one lesion share lesion_id, lesions of one patient share patient_id "
            "(both pseudonyms); structures.csv links structures to images by isic_id."
        ),
        "splits": (
            f"splits.csv: {info['splits']['spec']}, stratified by diagnosis, grouped by patient "
            "(lesion where no patient is known); no patient is in two folds."
            if info["splits"]["kind"] != "none"
            else "No split is recommended in this release."
        ),
        "redundancy": (
            f"{flow['duplicates_excluded']:,} duplicate records were excluded (exact and near "
            "duplicates, verified on pixels). Second captures of one lesion are kept and share "
            "its lesion_id: split by patient, never by image."
        ),
        "identification": (
            "No direct identifier is released: patient and lesion ids are keyed HMACs of the "
            "site's ids (not reversible without the project secret), ages are in ISIC's "
            f"age_approx form, capture days are shifted per patient by up to "
            f"{protocol.privacy.date_shift_days} days, images carry no EXIF/XMP/GPS or other "
            "metadata blocks and no original file name. The release passed the "
            "de-identification gate. Dermoscopic images show skin only; they are not expected "
            "to identify a person, but tattoos or birthmarks at the lesion's edge might."
        ),
        "sensitive": (
            "Health data (diagnoses, histopathology) of pseudonymous patients, with sex, "
            "Fitzpatrick skin type and approximate age."
        ),
        "acquisition": (
            f"Images captured with mobile dermatoscopes under the study's SOP "
            f"(protocol {protocol.name} {protocol.version}); each is checked on intake: {sop}. "
            f"{flow['sop_failed']:,} records failed the SOP and are excluded."
        ),
        "timeframe": info.get("recorded_between", "not recorded"),
        "preprocessing": (
            "Images are stored as captured, losslessly stripped of metadata blocks (JPEG segments "
            "are copied, never re-encoded; TIFF/HEIF become lossless PNG). No resizing, colour "
            "correction or hair removal is applied."
        ),
        "software": "dermset (this release was made with `dermset release create`).",
    }


def rai_fields(fx: dict[str, str]) -> dict[str, Any]:
    """Croissant Responsible-AI properties (mlcroissant ``Metadata`` keywords)."""
    return {
        "data_collection": fx["acquisition"],
        "data_collection_type": ["Clinical capture", "Expert annotation"],
        "data_collection_missing_data": fx["missing"],
        "data_preprocessing_protocol": [fx["preprocessing"]],
        "data_annotation_protocol": [fx["verification"]],
        "data_annotation_platform": [fx["software"]],
        "data_annotation_analysis": [fx["verification"]],
        "annotations_per_item": fx["verification"].split(" Stage 2: ")[1].split(";")[0],
        "data_biases": [
            "The cohort reflects the patients of the capturing sites: check the distributions "
            "of age, sex, Fitzpatrick type and site (report/stats.json) against your target "
            "population.",
            fx["missing"],
        ],
        "data_limitations": [fx["redundancy"], fx["labels"]],
        "data_use_cases": [
            "Independent evaluation of dermoscopy classifiers with verified labels; "
            "domain-shift analysis; interpretability studies with expert structures."
        ],
        "personal_sensitive_information": [fx["sensitive"], fx["identification"]],
        "data_release_maintenance_plan": (
            "Releases are immutable and versioned; a later release is compared to this one "
            "with `dermset release diff` (added, removed, relabelled, re-staged images)."
        ),
    }


def render_datasheet(
    fx: dict[str, str], info: dict[str, Any], answers: dict[str, dict[str, str]]
) -> str:
    a = lambda s, k: _answer(answers, s, k)  # noqa: E731
    lines = [
        f"# Datasheet: {info['name']} (version {info['version']})",
        "",
        "Answers to the questions of *Datasheets for Datasets* (Gebru et al., 2021). Answers "
        "in plain text come from the registry and the study protocol; answers marked as not "
        f"recorded are for the curator to give in `{ANSWERS_FILE}`.",
        "",
        "## Motivation",
        f"**Purpose.** {a('motivation', 'purpose')}",
        f"**Creators.** {a('motivation', 'creators')}",
        f"**Funding.** {a('motivation', 'funding')}",
        "",
        "## Composition",
        f"**What do the instances represent; how many are there?** {fx['instances']}",
        f"**Sample or all instances?** {fx['flow']} Excluded from the release: {fx['excluded']}.",
        f"**Labels.** {fx['labels']}",
        f"**Missing information.** {fx['missing']}",
        f"**Relationships between instances.** {fx['relationships']}",
        f"**Recommended splits.** {fx['splits']}",
        f"**Errors, noise, redundancies.** {fx['redundancy']}",
        "**Self-contained?** Yes: images, metadata, structures and splits are in the release "
        "folder; manifest.json lists the SHA-256 of every file.",
        f"**Can individuals be identified?** {fx['identification']}",
        f"**Sensitive data.** {fx['sensitive']}",
        "",
        "## Collection process",
        f"**How was the data acquired?** {fx['acquisition']}",
        f"**Who collected it, where?** {a('collection', 'sites')}",
        f"**Timeframe.** Records entered the registry {fx['timeframe']}.",
        f"**Ethical review.** {a('collection', 'ethics')}",
        f"**Consent.** {a('collection', 'consent')}",
        "",
        "## Preprocessing, cleaning, labelling",
        f"**Preprocessing.** {fx['preprocessing']}",
        f"**Labelling.** {fx['verification']}",
        f"**Software.** {fx['software']}",
        "",
        "## Uses",
        "**Intended uses.** Evaluating dermoscopy classifiers on verified labels; domain-shift "
        "and interpretability studies (structures.csv).",
        f"**Uses to avoid.** {a('uses', 'not_for')}",
        "",
        "## Distribution",
        f"**How?** {a('distribution', 'how')} Formats: metadata.csv (ISIC notation), "
        "data.parquet (Hugging Face datasets), croissant.json, a BagIt bag, and an ISIC Archive "
        "contribution package.",
        f"**Licence.** {info.get('license') or _answer(answers, 'distribution', 'license')}",
        "",
        "## Maintenance",
        f"**Contact.** {a('maintenance', 'contact')}",
        "**Updates.** Releases are immutable; each new version is a new release, and "
        "`dermset release diff` lists what changed.",
        "",
    ]
    return "\n\n".join(line for line in lines if line) + "\n"


def write_datasheet(
    folder: Path, fx: dict[str, str], info: dict[str, Any], answers: dict[str, dict[str, str]]
) -> Path:
    path = folder / DATASHEET_FILE
    path.write_text(render_datasheet(fx, info, answers), encoding="utf-8")
    return path
