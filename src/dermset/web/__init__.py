"""The web app (`dermset serve`): a face over the core for clinicians, reviewers, pathologists,
curators and administrators. ``dermset.web.app.create_app(project)`` builds it; see docs/web.md.

Nothing is imported here, so that `dermset users …` does not load the web framework.
"""
