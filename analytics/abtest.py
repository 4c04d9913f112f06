"""The A/B verdict: a pooled two-proportion z-test on click rate (unique clickers / delivered).

Between the two variants with the best click rates, two-sided, alpha 0.05. Below
``MIN_DELIVERED`` delivered messages in either arm (or with no click and no
miss at all, where the test is undefined) the verdict is "Not enough data yet".
"""

from __future__ import annotations

import math

ALPHA = 0.05
MIN_DELIVERED = 30


def two_proportion_z(x_a: int, n_a: int, x_b: int, n_b: int) -> tuple[float, float] | None:
    """``(z, two-sided p)`` for H0: rate a = rate b, with the pooled standard error; ``None`` when undefined.

    Clickers are capped at the delivered count: a recipient whose delivery report never came may still click,
    which can put "unique clickers / delivered" above 1, and a proportion cannot be.
    """
    if n_a <= 0 or n_b <= 0:
        return None
    x_a, x_b = min(max(x_a, 0), n_a), min(max(x_b, 0), n_b)
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return None
    z = (x_b / n_b - x_a / n_a) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def _p_text(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2f}" if p >= 0.1 else f"p = {p:.3f}"


def ab_test(variants: list[dict]) -> dict | None:
    """The test between the two best variants of ``variants`` (rows with ``variant``, ``label``,
    ``delivered``, ``unique_clicks``, ``click_rate``). ``b`` is the better of the two (so ``z`` >= 0)."""
    if len(variants) < 2:
        return None
    ranked = sorted(variants, key=lambda v: (-v["click_rate"], -v["delivered"], v["variant"]))
    best, second = ranked[0], ranked[1]
    result = {
        "metric": "click_rate",
        "a": second["variant"],
        "b": best["variant"],
        "a_label": second["label"],
        "b_label": best["label"],
        "z": None,
        "p_value": None,
        "significant": False,
        "winner": None,
        "winner_label": None,
        "alpha": ALPHA,
        "verdict": "Not enough data yet",
    }
    outcome = two_proportion_z(second["unique_clicks"], second["delivered"], best["unique_clicks"], best["delivered"])
    if outcome is None:
        return result
    z, p = outcome
    result.update(z=round(z, 3), p_value=round(p, 4))
    if min(second["delivered"], best["delivered"]) < MIN_DELIVERED:
        return result
    rate_b = min(best["unique_clicks"], best["delivered"]) / best["delivered"]
    rate_a = min(second["unique_clicks"], second["delivered"]) / second["delivered"]
    if p < ALPHA and rate_b > rate_a:
        result.update(
            significant=True,
            winner=best["variant"],
            winner_label=best["label"],
            verdict=f"{best['label']} wins: {rate_b:.1%} vs {rate_a:.1%} click rate ({_p_text(p)})",
        )
    else:
        result["verdict"] = f"Not yet significant ({_p_text(p)})"
    return result
