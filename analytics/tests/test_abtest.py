"""The A/B verdict, checked against numbers worked out by hand.

183/1000 vs 241/1000: pooled p = 424/2000 = 0.212; se = sqrt(0.212 * 0.788 * (1/1000 + 1/1000)) = 0.018279;
z = (0.241 - 0.183) / 0.018279 = 3.173; two-sided p = 2 * (1 - Phi(3.173)) = 0.0015.
20/100 vs 24/100: pooled 0.22; se = sqrt(0.22 * 0.78 * 0.02) = 0.058583; z = 0.04 / 0.058583 = 0.683; p = 0.4947.
"""

from __future__ import annotations

from analytics.abtest import ab_test, two_proportion_z


def v(index: int, clickers: int, delivered: int) -> dict:
    return {
        "variant": index,
        "label": "ABCD"[index],
        "unique_clicks": clickers,
        "delivered": delivered,
        "click_rate": round(clickers / delivered, 4) if delivered else 0.0,
    }


def test_z_and_p():
    z, p = two_proportion_z(183, 1000, 241, 1000)
    assert round(z, 3) == 3.173 and round(p, 4) == 0.0015
    assert two_proportion_z(0, 10, 0, 10) is None  # nobody clicked: undefined
    assert two_proportion_z(1, 0, 1, 10) is None


def test_a_clear_winner():
    test = ab_test([v(0, 183, 1000), v(1, 241, 1000)])
    assert test == {
        "metric": "click_rate", "a": 0, "b": 1, "a_label": "A", "b_label": "B", "z": 3.173, "p_value": 0.0015,
        "significant": True, "winner": 1, "winner_label": "B", "alpha": 0.05,
        "verdict": "B wins: 24.1% vs 18.3% click rate (p = 0.002)",
    }  # fmt: skip


def test_the_winner_may_be_a_and_the_two_best_of_three_are_compared():
    test = ab_test([v(0, 241, 1000), v(1, 100, 1000), v(2, 183, 1000)])
    assert (test["a"], test["b"], test["winner_label"]) == (2, 0, "A")
    assert test["verdict"] == "A wins: 24.1% vs 18.3% click rate (p = 0.002)"


def test_not_yet_significant():
    test = ab_test([v(0, 20, 100), v(1, 24, 100)])
    assert (test["z"], test["p_value"], test["significant"], test["winner"]) == (0.683, 0.4947, False, None)
    assert test["verdict"] == "Not yet significant (p = 0.49)"


def test_not_enough_data():
    few = ab_test([v(0, 1, 10), v(1, 9, 10)])
    assert few["verdict"] == "Not enough data yet" and few["significant"] is False and few["winner"] is None
    assert few["z"] is not None  # computed, but 10 delivered per arm is too few to call it
    nobody = ab_test([v(0, 0, 500), v(1, 0, 500)])
    assert nobody["z"] is None and nobody["verdict"] == "Not enough data yet"
    assert ab_test([v(0, 5, 50)]) is None


def test_clickers_above_delivered_are_capped():
    """Clicks can come from recipients whose delivery report has not arrived: rate capped at 100%."""
    test = ab_test([v(0, 60, 50), v(1, 10, 50)])
    assert test["winner"] == 0 and test["verdict"].startswith("A wins: 100.0% vs 20.0%")
