"""The protocol file: defaults reproduce the study's method; edits are validated."""

from __future__ import annotations

import pytest

from dermset.protocol import Protocol, ProtocolError


def test_defaults_are_the_study_method():
    p = Protocol()
    tax = p.taxonomy()
    assert len(tax.categories) == 9
    assert tax.malignant_codes == {"MEL", "BCC", "SCC"}
    assert tax.histopathology_codes == {"MEL", "BCC", "SCC"}
    assert (p.review.reviewers, p.review.consensus_min_agree) == (3, 2)
    assert "pigment_network" in p.structure_vocabulary().codes
    # reviewers are blinded to every label
    assert "diagnosis" not in p.visible_fields("reviewer")
    assert "age_approx" in p.visible_fields("reviewer")


def test_toml_round_trip_and_edit():
    p = Protocol()
    text = p.to_toml()
    assert Protocol.from_toml(text) == p
    edited = text.replace("consensus_min_agree = 2", "consensus_min_agree = 3")
    assert Protocol.from_toml(edited).review.consensus_min_agree == 3


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [("consensus_min_agree = 2", "consensus_min_agree = 4", "cannot exceed"),
     ("reviewers = 3", "reviewers = \"three\"", "review.reviewers"),
     ('code = "NV"', 'code = "MEL"', "unique"),
     ("warn = 0.6", "warn = 0.1", "warn must be >= fail")],
)
def test_invalid_protocols_are_explained(old, new, message):
    text = Protocol().to_toml()
    assert old in text
    with pytest.raises(ProtocolError, match=message):
        Protocol.from_toml(text.replace(old, new, 1))


def test_not_toml():
    with pytest.raises(ProtocolError, match="not valid TOML"):
        Protocol.from_toml("[sop\nbroken")


def test_structures_resolve_isic2018_attributes():
    vocab = Protocol().structure_vocabulary()
    assert vocab.parse_list("pigment network; milia_like_cyst;Streaks") == [
        "milia_like_cysts", "pigment_network", "streaks"]
