"""The exact liquidation formula, against hand-checked cases, and the bracket table's continuity."""
import numpy as np
import pytest

from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.errors import InputError
from liq_pipeline.lib.market.liqprice import bankruptcy_price, liquidation_price, max_leverage

BTC = brackets.load("BTCUSDT")


def test_design_case_long_1_btc_at_67000_10x():
    assert liquidation_price([True], [67_000], [1], [10], BTC)[0] == pytest.approx(60_552.76, abs=0.005)


def test_hand_checked_cases():
    # short 1 BTC at 67,000, 10x: notional 67k -> bracket 2 (MMR 0.5%, cum 50): (73,700 + 50) / 1.005
    assert liquidation_price([False], [67_000], [1], [10], BTC)[0] == pytest.approx(73_383.0846, abs=1e-3)
    # long 0.5 BTC at 60,000, 20x: notional 30k -> bracket 1 (0.4%, cum 0): 60,000 * 0.95 / 0.996
    assert liquidation_price([True], [60_000], [0.5], [20], BTC)[0] == pytest.approx(57_228.9157, abs=1e-3)
    # long 10 BTC at 67,000, 5x: entry notional 670k (bracket 3), at LP ~54k notional 540k: still bracket 3
    lp = (67_000 * 0.8 - 1_300 / 10) / 0.99
    assert liquidation_price([True], [67_000], [10], [5], BTC)[0] == pytest.approx(lp, abs=1e-6)


def test_bracket_is_picked_at_the_liquidation_notional_not_the_entry():
    # long 0.8 BTC at 65,000, 2x: entry notional 52,000 (bracket 2), but at LP ≈ 32.6k the notional is ≈ 26k:
    # bracket 1 applies, and the iteration must land there.
    lp = liquidation_price([True], [65_000], [0.8], [2], BTC)[0]
    assert lp == pytest.approx(65_000 * 0.5 / 0.996, abs=1e-6)
    assert 0.8 * lp < 50_000


def test_shortcut_formula_is_not_what_we_compute():
    lp = liquidation_price([True], [67_000], [1], [10], BTC)[0]
    assert abs(lp - 67_000 * (1 - 1 / 10)) > 200      # entry·(1−1/L) = 60,300 is off by $250


def test_vectorised_equals_one_by_one():
    rng = np.random.default_rng(1)
    n = 200
    entry, qty = rng.uniform(20_000, 120_000, n), np.exp(rng.normal(0, 2, n))
    # the exchange refuses leverage above the bracket's maximum for the position's notional
    lev = np.minimum(rng.choice([2, 5, 10, 25, 50, 100], n), max_leverage(BTC, entry * qty))
    args = (rng.random(n) < 0.5, entry, qty, lev)
    vec = liquidation_price(*args, BTC)
    one = [liquidation_price([a[i]], [b[i]], [c[i]], [d[i]], BTC)[0] for i, (a, b, c, d) in enumerate([args] * n)]
    np.testing.assert_allclose(vec, one)
    assert (np.where(args[0], vec < args[1], vec > args[1])).all()


def test_bankruptcy_and_max_leverage():
    assert bankruptcy_price([True, False], [100.0, 100.0], [10, 10]).tolist() == pytest.approx([90.0, 110.0])
    assert max_leverage(BTC, np.array([10_000, 100_000, 5_000_000])).tolist() == [125, 100, 20]


def test_cum_continuity_of_shipped_table():
    cum = BTC["cum"].to_numpy()
    for n in range(1, len(BTC)):
        assert cum[n] == pytest.approx(cum[n - 1] + BTC["notional_floor"].iloc[n] * (BTC["mmr"].iloc[n] - BTC["mmr"].iloc[n - 1]))


def test_a_broken_table_is_refused():
    bad = BTC.copy()
    bad.loc[3, "cum"] += 1
    with pytest.raises(InputError, match="bracket 4 cum 46301"):
        brackets.check_continuity(bad, "test")


def test_unknown_symbol_has_no_brackets():
    with pytest.raises(InputError, match="symbol FOOUSDT: no bracket table"):
        brackets.load("FOOUSDT")
