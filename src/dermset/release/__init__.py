"""Releases: versioned, immutable datasets (writer) and the reader the analyses use."""
