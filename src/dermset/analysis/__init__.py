"""Using a release: evaluation, domain shift, interpretability (consumers of a verified dataset)."""
