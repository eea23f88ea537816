"""Fingerprints and the hash index: every kind of derived copy lands within the threshold of its
original, different images do not, and the index answers exactly what brute force answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dedup_helpers import HAM, KINDS, UDA, copy_of, load, reduced
from dermset.ingest.dedup.candidates import THRESHOLD, build_index, find_candidates
from dermset.ingest.dedup.fingerprint import Fingerprint, dihedral_variants, fingerprint_image
from dermset.ingest.dedup.index import MAX_RADIUS, HashIndex

AMIT = UDA.parent / "near_duplicates" / "amit_resized180"
ORIGINALS = ["ISIC_0000019", "ISIC_0000187", "ISIC_0000412"]


@pytest.fixture(scope="module")
def originals(shared_data):
    return {n: load(UDA / f"{n}.jpg") for n in ORIGINALS}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_copy_is_within_the_threshold(originals, kind):
    for name, im in originals.items():
        fp = fingerprint_image(reduced(im))
        copy = fingerprint_image(reduced(load(copy_of(im, kind))))
        assert fp.distance(copy) <= THRESHOLD, (name, kind, fp.distance(copy))


def test_real_third_party_copies_are_within_the_threshold(shared_data):
    for name in ["ISIC_0000002", "ISIC_0000143", "ISIC_0000547"]:
        fp = fingerprint_image(reduced(load(UDA / f"{name}.jpg")))
        copy = fingerprint_image(reduced(load(AMIT / f"{name}.jpg")))
        assert fp.distance(copy) <= THRESHOLD, name


def test_different_images_are_far_apart(shared_data):
    paths = sorted(UDA.glob("*.jpg"))[:40] + sorted(HAM.glob("*.jpg"))[:20]
    known_copies = {"ISIC_0000279", "ISIC_0000280", "ISIC_0000477", "ISIC_0000512"}
    fps = [fingerprint_image(reduced(load(p, 512))) for p in paths if p.stem not in known_copies]
    close = [
        (i, j)
        for i, j in itertools.combinations(range(len(fps)), 2)
        if fps[i].distance(fps[j]) <= THRESHOLD
    ]
    # the hash is a candidate filter (pixels decide); it must stay selective
    assert len(close) <= 2, close


def test_fingerprint_round_trips_and_symmetries_are_exact(originals):
    im = originals["ISIC_0000019"]
    fp = fingerprint_image(reduced(im))
    assert Fingerprint.from_bytes(fp.to_bytes()) == fp
    assert len(fp.to_bytes()) < 300
    rotated = fingerprint_image(np.ascontiguousarray(np.rot90(reduced(im))))
    # a 90° rotation of the whole frame is one of the stored hash's 8 symmetric variants
    variants = set(dihedral_variants(fp.global_hashes).ravel().tolist())
    assert int(rotated.global_hashes[0]) in variants


def test_fingerprint_of_tiny_or_flat_images_does_not_fail():
    flat = fingerprint_image(np.full((300, 400, 3), 128, np.uint8))
    tiny = fingerprint_image(np.zeros((1, 1, 3), np.uint8))
    assert len(flat.global_hashes) == 2 and len(tiny.local_hashes) == 0


@pytest.mark.parametrize("radius", [0, 2, 5])
def test_index_matches_brute_force(radius):
    rng = np.random.default_rng(radius)
    hashes = rng.integers(0, 2**63, 20_000, dtype=np.uint64)
    owners = np.arange(len(hashes)) // 3
    queries = hashes[rng.choice(len(hashes), 300, replace=False)].copy()
    for i in range(len(queries)):  # near copies at every distance up to radius + 1
        for b in rng.choice(63, i % (radius + 2), replace=False):
            queries[i] ^= np.uint64(1 << int(b))
    qowners = np.full(len(queries), -1)
    qowners[:50] = owners[:50]  # some queries belong to an owner in the index: excluded
    m = HashIndex(hashes, owners).search(queries, qowners, radius)
    got = set(zip(m.query.tolist(), m.hash.tolist(), strict=True))
    want = set()
    for i, q in enumerate(queries):
        d = np.bitwise_count(q ^ hashes)
        want |= {(i, int(j)) for j in np.flatnonzero((d <= radius) & (owners != qowners[i]))}
    assert got == want and len(want) >= 100
    assert all(
        int(d) == int(np.bitwise_count(queries[q] ^ hashes[h]))
        for q, h, d in zip(m.query, m.hash, m.distance, strict=True)
    )


def test_index_refuses_a_radius_it_cannot_answer_exactly():
    idx = HashIndex(np.zeros(3, np.uint64), np.arange(3))
    with pytest.raises(ValueError, match="radius"):
        idx.search(np.zeros(1, np.uint64), np.array([9]), MAX_RADIUS + 1)


def test_candidates_pair_copies_with_their_originals_only(originals):
    fps = []
    for i, (_, im) in enumerate(originals.items()):
        fps.append((10 * i, fingerprint_image(reduced(im))))
        fps.append((10 * i + 1, fingerprint_image(reduced(load(copy_of(im, "flip"))))))
    index, kinds = build_index(fps)
    cands = find_candidates(index, kinds, fps)
    assert {(c.a, c.b) for c in cands} == {(0, 1), (10, 11), (20, 21)}
    assert all(c.mirrored for c in cands)
