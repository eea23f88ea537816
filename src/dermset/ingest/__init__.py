"""Records and images in: metadata tables, decoding, scrubbing, SOP checks, duplicates."""
