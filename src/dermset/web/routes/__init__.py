"""The web app's pages, one module per role's work (auth, capture, review, pathology, curator,
admin)."""
