"""Age handling as the ISIC Archive publishes it: clamp at 85, round to the nearest 5 years."""

from __future__ import annotations

import math

AGE_CLAMP = 85


def age_approx(age: float) -> int:
    """ISIC's ``age_approx``: ages over 85 become 85, then 5·round(age/5) (halves round up).

    >>> age_approx(37), age_approx(38), age_approx(92)
    (35, 40, 85)
    """
    if math.isnan(age) or age < 0:
        raise ValueError(f"age must be a number >= 0, got {age!r}")
    clamped = min(float(age), AGE_CLAMP)
    return int(5 * math.floor(clamped / 5 + 0.5))


def is_age_approx(value: int) -> bool:
    """True when *value* is already in published form (a multiple of 5 within 0..85)."""
    return 0 <= value <= AGE_CLAMP and value % 5 == 0
