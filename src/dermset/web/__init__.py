"""The web app (`dermset serve`): a face over the core for clinicians, reviewers, pathologists,
curators and administrators. See docs/web.md."""

from dermset.web.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
