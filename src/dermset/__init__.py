"""dermset: build clinically verified dermoscopy datasets."""

__version__ = "0.1.0"
