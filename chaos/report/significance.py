"""Is a drop in recovery rate real? One-sided tests of two binomial proportions, for ``report diff``.

- :func:`fisher_drop_p`: Fisher's exact test, the default: exact at any trial count, so 3 trials per side
  never flag a "significant" drop the way the normal approximation does.
- :func:`z_drop_p`: the pooled two-proportion z-test, for those who want the textbook figure at large counts.

Both return the one-sided p-value of "NEW's rate is lower than BASE's"; a drop is significant at confidence
``c`` when ``p < 1 - c``.

>>> round(fisher_drop_p(10, 10, 5, 10), 4)
0.0163
>>> round(z_drop_p(10, 10, 5, 10), 4)
0.0049
"""

from __future__ import annotations

import math
import statistics

__all__ = ["TESTS", "drop_p", "fisher_drop_p", "z_drop_p"]

TESTS = ("fisher", "z")


def _check(successes: int, total: int, side: str) -> None:
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"{side}: successes={successes} must be in 0..total={total}")


def fisher_drop_p(base_successes: int, base_total: int, new_successes: int, new_total: int) -> float:
    """One-sided Fisher exact p-value that NEW's proportion is below BASE's (1.0 when either side is empty)."""
    _check(base_successes, base_total, "base")
    _check(new_successes, new_total, "new")
    if not base_total or not new_total:
        return 1.0
    successes = base_successes + new_successes
    total = base_total + new_total
    denominator = math.comb(total, successes)
    # P(new successes <= observed) under the hypergeometric law with the margins fixed
    low = max(0, successes - base_total)
    tail = sum(math.comb(new_total, k) * math.comb(base_total, successes - k) for k in range(low, new_successes + 1))
    return min(1.0, tail / denominator)


def z_drop_p(base_successes: int, base_total: int, new_successes: int, new_total: int) -> float:
    """One-sided p-value of the pooled two-proportion z-test that NEW's proportion is below BASE's."""
    _check(base_successes, base_total, "base")
    _check(new_successes, new_total, "new")
    if not base_total or not new_total:
        return 1.0
    pooled = (base_successes + new_successes) / (base_total + new_total)
    variance = pooled * (1 - pooled) * (1 / base_total + 1 / new_total)
    difference = base_successes / base_total - new_successes / new_total
    if variance == 0:
        return 1.0 if difference <= 0 else 0.0
    return 1 - statistics.NormalDist().cdf(difference / math.sqrt(variance))


def drop_p(test: str, base_successes: int, base_total: int, new_successes: int, new_total: int) -> float:
    """The p-value of ``test`` (one of :data:`TESTS`)."""
    if test == "fisher":
        return fisher_drop_p(base_successes, base_total, new_successes, new_total)
    if test == "z":
        return z_drop_p(base_successes, base_total, new_successes, new_total)
    raise ValueError(f"test={test!r} must be one of {', '.join(TESTS)}")
