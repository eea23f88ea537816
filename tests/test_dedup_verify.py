"""Pixel verification: derived copies are confirmed, separate captures and different lesions are
not (real HAM10000 second captures of one lesion, real different lesions on similar skin)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dedup_helpers import HAM, KINDS, UDA, copy_of, load
from dermset.ingest.dedup.verify import verify_pair

#: HAM10000 images that share a lesion_id (DUPLICATE_PAIRS.csv): separate captures
SAME_LESION = [
    ("ISIC_0024688", "ISIC_0026352"),
    ("ISIC_0025309", "ISIC_0027250"),
    ("ISIC_0026665", "ISIC_0028602"),
    ("ISIC_0026665", "ISIC_0031039"),
    ("ISIC_0028602", "ISIC_0031039"),
    ("ISIC_0030852", "ISIC_0031204"),
]


@pytest.fixture(scope="module")
def original(shared_data):
    return load(UDA / "ISIC_0000019.jpg")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_copy_is_confirmed(original, kind):
    v = verify_pair(np.asarray(original), np.asarray(load(copy_of(original, kind))))
    assert v.duplicate, v.reason
    assert v.inliers >= 12 and v.affine is not None
    assert v.mirrored == (kind == "flip")


def test_real_third_party_copies_are_confirmed(shared_data):
    small = UDA.parent / "near_duplicates" / "amit_resized180"
    for name in ["ISIC_0000023", "ISIC_0000157", "ISIC_0000540"]:
        v = verify_pair(
            np.asarray(load(UDA / f"{name}.jpg")), np.asarray(load(small / f"{name}.jpg"))
        )
        assert v.duplicate, (name, v.reason)
        assert v.transform["scale_x"] != pytest.approx(v.transform["scale_y"], rel=0.05)


def test_shifted_recapture_is_not_a_copy_but_its_crop_is(shared_data):
    """ISIC_0024688 and ISIC_0026352: one lesion, shifted a few pixels, same bubbles in view.

    The pair maps by one affine only to 0.8 px (the skin, bubbles and hairs moved between the
    captures); a crop of either maps to a fraction of a pixel everywhere.
    """
    a = load(HAM / "ISIC_0024688.jpg")
    b = load(HAM / "ISIC_0026352.jpg")
    v = verify_pair(np.asarray(a), np.asarray(b))
    assert not v.duplicate and v.inliers >= 100  # same scene, plenty of matches, not a copy
    assert v.misfit_px is not None and v.misfit_px > 0.45
    assert "separate capture" in v.reason
    crop = verify_pair(np.asarray(a), np.asarray(load(copy_of(a, "crop"))))
    assert crop.duplicate and crop.misfit_px < 0.36


@pytest.mark.parametrize("pair", SAME_LESION, ids=lambda p: "-".join(p))
def test_second_captures_of_a_registered_lesion_are_not_copies(shared_data, pair):
    a, b = (np.asarray(load(HAM / f"{n}.jpg")) for n in pair)
    assert not verify_pair(a, b, same_lesion=True).duplicate


def test_different_lesions_on_similar_skin_are_never_merged(shared_data):
    # the closest-looking different images: HAM captures with the same artefacts and skin tone
    names = [
        "ISIC_0024338",
        "ISIC_0024367",
        "ISIC_0024688",
        "ISIC_0025309",
        "ISIC_0030852",
        "UDA:ISIC_0000000",
        "UDA:ISIC_0000001",
        "UDA:ISIC_0000187",
    ]
    ims = {
        n: np.asarray(
            load(UDA / f"{n[4:]}.jpg") if n.startswith("UDA:") else load(HAM / f"{n}.jpg")
        )
        for n in names
    }
    for x, y in itertools.combinations(names, 2):
        v = verify_pair(ims[x], ims[y])
        assert not v.duplicate, (x, y, v.reason)
