"""How long to wait before the next attempt: exponential backoff with full jitter.

Full jitter (a uniform draw between 0 and the exponential bound) spreads the retries
of many executions that failed together, so they do not come back in a herd.
"""

from __future__ import annotations

import random


def backoff_seconds(attempt: int, base: float, cap: float,
                    rng: random.Random | None = None) -> float:
    """The delay after failed attempt number `attempt` (1 for the first).

    Uniform in [0, min(cap, base * 2 ** (attempt - 1))].
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    bound = min(cap, base * 2 ** min(attempt - 1, 62))
    return (rng or random).uniform(0.0, bound)


def exponential_seconds(failures: int, base: float, cap: float) -> float:
    """base, 2·base, 4·base … capped: for a daemon waiting on its database (no jitter)."""
    return min(cap, base * 2 ** max(0, min(failures - 1, 62)))
