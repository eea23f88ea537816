"""The web app's knobs: session lifetimes, sign-in throttling and upload limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_bool(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class WebSettings:
    #: a session ends after this long without a request …
    idle_minutes: int = 60
    #: … and after this long in any case (a clinic shift)
    max_hours: int = 12
    #: failed sign-ins per account name, and per client address, within the window
    max_failures_per_name: int = 5
    max_failures_per_address: int = 30
    failure_window_minutes: int = 15
    #: one photograph, and one whole request (several photographs)
    max_file_mb: int = 30
    max_request_mb: int = 150
    max_files: int = 20
    #: cookies only over HTTPS; None: when the request came in over HTTPS
    secure_cookies: bool | None = field(default_factory=lambda: _env_bool("DERMSET_SECURE_COOKIES"))
    #: site namespace of the local patient and lesion ids typed on the capture page
    site: str = field(default_factory=lambda: os.environ.get("DERMSET_SITE", ""))

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @property
    def max_request_bytes(self) -> int:
        return self.max_request_mb * 1024 * 1024
