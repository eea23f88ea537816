"""Blinding, call by call: nothing a reviewer's call returns reveals another label too early.

Before a reviewer has submitted *and* the consensus is closed, no call made on their behalf may
return another reviewer's review, the clinician's diagnosis, structures or note, the image's
current label, or the source's own image id.
"""

from __future__ import annotations

import dataclasses

import pytest

from dermset.protocol import Protocol
from dermset.registry.project import Project
from dermset.verification import (
    VerificationError,
    assign_reviewers,
    clinical_annotate,
    reviewer_view,
)
from dermset.verification.export import export_rows
from verification_helpers import make_images

A, B, C = "rev_alpha", "rev_bravo", "rev_charlie"
CLINICIAN = "clin_delta"
SECRETS = {
    "clinical note": "CLINNOTE-7f3a",
    "alpha note": "ALPHANOTE-91c2",
    "bravo note": "BRAVONOTE-55e0",
    "source id": "SRCSECRET-0001",
}


def _dump(value) -> str:
    """Everything a call returned, as text (dataclasses, lists, dicts, strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return repr(value)


@pytest.fixture
def study(tmp_path):
    # a protocol that (wrongly) lists the diagnosis among a reviewer's fields: the core still
    # withholds it
    protocol = Protocol()
    protocol.visibility["reviewer"] = [*protocol.visibility["reviewer"], "diagnosis"]
    project = Project.init(tmp_path / "p", protocol=protocol)
    ids = make_images(
        project,
        [
            {
                "isic_id": SECRETS["source id"],
                "lesion_id": "L1",
                "age_approx": 60,
                "sex": "male",
                "anatom_site_general": "head/neck",
            },
            {"isic_id": "SRC-OTHER", "lesion_id": "L2", "age_approx": 30, "sex": "female"},
        ],
    )
    image, other = ids[SECRETS["source id"]], ids["SRC-OTHER"]
    with project.db.session() as s:
        clinical_annotate(
            s,
            project,
            image=image,
            annotator=CLINICIAN,
            diagnosis="MEL",
            structures="blue-white veil",
            note=SECRETS["clinical note"],
        )
        assign_reviewers(s, project, [A, B, C], actor="curator", images=[image])
    yield project, image, other
    project.close()


def _forbidden_for(reviewer: str, *, unblinded: bool) -> list[str]:
    words = [SECRETS["source id"], CLINICIAN]
    if not unblinded:
        # as values ('MEL'), not as part of a list of every category an error may print
        words += [SECRETS["clinical note"], "'MEL'", "'blue_white_veil'"]
    others = {A: SECRETS["alpha note"], B: SECRETS["bravo note"]}
    words += [name for name in (A, B, C) if name != reviewer]
    words += [note for name, note in others.items() if name != reviewer]
    return words


def _check(result, reviewer: str, *, unblinded: bool = False) -> None:
    text = _dump(result)
    for word in _forbidden_for(reviewer, unblinded=unblinded):
        assert word not in text, f"{reviewer} saw {word!r} in {text}"


def test_every_reviewer_call_is_blinded_until_own_review_and_closed_consensus(study):
    project, image, other = study
    alpha, bravo, charlie = (reviewer_view(project, r) for r in (A, B, C))

    # before anyone reviewed: the queue, the next item, the item, the progress
    for rs in (alpha, bravo, charlie):
        for call in (
            rs.queue,
            lambda rs=rs: rs.queue(include_done=True),
            rs.next,
            rs.progress,
            lambda rs=rs: rs.view(image),
        ):
            _check(call(), rs.reviewer)
    item = charlie.view(image)
    assert item.image_id == image and item.own_review is None and item.unblinded is None
    assert item.metadata["age_approx"] == 60 and item.metadata["anatom_site_general"] == "head/neck"
    assert not {
        "diagnosis",
        "benign_malignant",
        "verification_stage",
        "diagnosis_confirm_type",
        "patient_id",
        "lesion_id",
        "acquisition_day",
    } & set(item.metadata)

    # alpha and bravo submit (they disagree); each sees only their own review afterwards
    own = alpha.submit(
        image, "nevus", confidence=4, structures="globules", note=SECRETS["alpha note"]
    )
    _check(own, A)
    assert own.diagnosis == "NV"
    _check(bravo.submit(image, "DF", confidence=3, note=SECRETS["bravo note"]), B)
    for rs in (alpha, bravo, charlie):
        for call in (
            rs.queue,
            lambda rs=rs: rs.queue(include_done=True),
            rs.next,
            rs.progress,
            lambda rs=rs: rs.view(image),
        ):
            _check(call(), rs.reviewer)
    assert alpha.view(image).own_review.note == SECRETS["alpha note"]
    assert alpha.view(image).unblinded is None  # submitted, but the consensus is not closed

    # the errors a reviewer can provoke name nothing of the others
    for who, call in (
        (A, lambda: alpha.submit(image, "MEL", confidence=5)),  # twice
        (C, lambda: charlie.view(other)),  # not theirs
        (C, lambda: charlie.submit(other, "NV", confidence=3)),
        (C, lambda: charlie.submit(image, "NV", confidence=9)),  # out of scale
        (C, lambda: charlie.submit(image, "no such thing", confidence=3)),
    ):
        with pytest.raises(VerificationError) as e:
            call()
        _check(str(e.value), who)

    # probing by the source's id gets the answer an unknown id gets (it echoes only the input)
    with pytest.raises(VerificationError) as probe:
        charlie.view(SECRETS["source id"])
    with pytest.raises(VerificationError) as unknown:
        charlie.view("NO-SUCH-ID")
    assert str(probe.value).replace(SECRETS["source id"], "X") == str(unknown.value).replace(
        "NO-SUCH-ID", "X"
    )

    # charlie's review closes the consensus; the reply is charlie's own review and nothing more
    reply = charlie.submit(image, "NV", confidence=5)
    _check(reply, C)
    assert dataclasses.fields(reply) and not hasattr(reply, "unblinded")

    # now each reviewer may see the outcome (still not the clinician's note or the names)
    for rs in (alpha, bravo, charlie):
        got = rs.view(image)
        _check(got, rs.reviewer, unblinded=True)
        assert got.unblinded.consensus_diagnosis == "NV"
        assert got.unblinded.clinical_diagnosis == "MEL"
        assert sorted(got.unblinded.other_reviews) == sorted(
            d for r, d in ((A, "NV"), (B, "DF"), (C, "NV")) if r != rs.reviewer
        )


def test_no_unblinding_while_the_image_waits_for_adjudication(study):
    project, image, _ = study
    views = {r: reviewer_view(project, r) for r in (A, B, C)}
    for r, dx in ((A, "NV"), (B, "DF"), (C, "BKL")):
        views[r].submit(image, dx, confidence=3)
    for r, rs in views.items():
        item = rs.view(image)
        assert item.unblinded is None
        _check(item, r)


def test_a_worksheet_for_offline_review_is_blinded_too(study):
    project, image, _ = study
    reviewer_view(project, A).submit(image, "NV", confidence=4, note=SECRETS["alpha note"])
    with project.db.read() as s:
        header, rows = export_rows(s, project, "worksheet", reviewer=C)
        rows = list(rows)
    assert [r["image_id"] for r in rows] == [image]
    assert rows[0]["diagnosis"] == "" and rows[0]["annotator"] == C
    _check((header, rows), C)
