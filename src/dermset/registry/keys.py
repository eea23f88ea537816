"""The project secret and the keyed hashes derived from it.

The secret lives in a file of mode 0600 in the project folder, never in the database: without it
a pseudonym cannot be linked back to a local id, and the audit chain cannot be re-forged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_FILE = "secret.key"


class Keyring:
    """Purpose-separated HMAC keys derived from one project secret."""

    def __init__(self, secret: bytes):
        if len(secret) < 16:
            raise ValueError("project secret is too short")
        self._secret = secret

    def _key(self, purpose: str) -> bytes:
        return hmac.new(self._secret, purpose.encode(), hashlib.sha256).digest()

    def mac(self, purpose: str, message: str) -> str:
        return hmac.new(self._key(purpose), message.encode(), hashlib.sha256).hexdigest()

    # pseudonyms ---------------------------------------------------------------------------
    def patient_pseudonym(self, local_id: str, site: str = "") -> str:
        return "PAT_" + self.mac("pseudonym", f"patient\x1f{site}\x1f{local_id}")[:16]

    def lesion_pseudonym(self, local_id: str, site: str = "") -> str:
        return "LES_" + self.mac("pseudonym", f"lesion\x1f{site}\x1f{local_id}")[:16]

    def lab_reference(self, reference: str) -> str:
        return self.mac("lab-reference", reference.strip())

    def filename(self, name: str) -> str:
        """Keyed hash of an original file name: lets a re-ingest be recognised, nothing more."""
        return self.mac("filename", name)

    def day_shift(self, patient_pseudonym: str, max_days: int) -> int:
        """A per-patient date shift in [-max_days, max_days], stable for the patient."""
        if max_days <= 0:
            return 0
        n = int(self.mac("day-shift", patient_pseudonym)[:8], 16)
        return n % (2 * max_days + 1) - max_days


def create_secret(path: Path) -> bytes:
    """Write a new random secret with mode 0600 (refusing to overwrite one)."""
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret.hex() + "\n")
    os.chmod(path, 0o600)
    return secret


def read_secret(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path}: the project secret is not hex") from None
