"""The per-bar skill protocol (lib/validation/skill.py): what it credits, what it refuses, its interval."""
import numpy as np
import pandas as pd
import pytest

from scipy import stats

from liq_pipeline.lib.validation.skill import (bar_skill, block_bootstrap_ci, coarser_bars,
                                               controls_bins, controls_design, partial_beyond_rows, partial_ci,
                                               partial_spearman, partial_spearman_rows, pearson_rows, rank_residuals,
                                               rank_rows, side_moves)


@pytest.fixture(scope="module")
def market():
    rng = np.random.default_rng(7)
    n = 1500
    move = rng.lognormal(-5, 1, n)                        # how far each bar went toward the side
    crowding = rng.lognormal(0, 1, n)                     # what only a position book could know
    real = move ** 2 * crowding * 1e9                     # liquidated USD: big moves into crowded levels
    return move, crowding, real


def test_a_function_of_the_move_is_not_skill_but_knowledge_of_the_book_is(market):
    move, crowding, real = market
    placebo = np.where(move > np.quantile(move, 0.5), move ** 3, 0.0)   # zero on small bars, steep on big ones
    assert abs(partial_spearman(placebo, real, move)) < 0.1
    assert bar_skill(placebo, real, move).spearman > 0.4                 # a plain rank correlation is fooled
    informed = move * crowding
    s = bar_skill(informed, real, move)
    assert s.partial_flexible > 0.5 and s.spearman > s.naive_spearman > 0.5


def test_the_block_bootstrap_interval_holds_the_estimate_and_is_reproducible(market):
    move, crowding, real = market
    informed = move * crowding
    lo, hi = partial_ci(informed, real, move, block=24, reps=200)
    assert lo < partial_spearman(informed, real, move) < hi and lo > 0.3
    assert (lo, hi) == partial_ci(informed, real, move, block=24, reps=200)
    # autocorrelated noise: blocks see it, so the interval of a mean is wider than a bar-by-bar resample's
    rng = np.random.default_rng(1)
    walk = np.convolve(rng.normal(size=2000), np.ones(50) / 50, mode="same")
    width = lambda block: np.subtract(*block_bootstrap_ci(lambda a: a.mean(axis=-1), [walk], block, reps=300)[::-1])
    assert width(100) > 2 * width(1)


def test_coarser_bars_keep_whole_bars_only():
    idx = pd.date_range("2026-04-05", periods=9, freq="1h", tz="UTC")
    hourly = pd.DataFrame({"open": np.arange(9.0) + 100, "high": np.arange(9.0) + 110, "low": np.arange(9.0) + 90,
                           "real_long": 1.0, "pred_long": np.arange(9.0)}, index=idx)
    four = coarser_bars(hourly, 4)
    assert list(four.index) == [idx[0], idx[4]]                 # the ninth hour starts a bar that is not whole
    assert four.iloc[1].to_dict() == {"open": 104.0, "high": 117.0, "low": 94.0, "real_long": 4.0, "pred_long": 22.0}
    moves = side_moves(four)
    assert moves["long"][0] == pytest.approx((100 - 90) / 100) and moves["short"][0] == pytest.approx((113 - 100) / 100)


def test_coarser_bars_equal_pandas_groupby_with_gaps_and_missing_values():
    def by_pandas(bars, hours):              # what coarser_bars computes, in pandas' own terms
        g = bars.groupby(bars.index.floor(f"{hours}h"))
        sums = [c for c in bars.columns if c not in ("open", "high", "low")]
        out = pd.concat([g["open"].first(), g["high"].max(), g["low"].min(), g[sums].sum(min_count=1)], axis=1)
        return out[g.size() == hours]

    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 60, 150):
        idx = pd.date_range("2026-04-05", periods=n + 40, freq="1h", tz="UTC", name="hour")
        idx = idx[np.sort(rng.choice(len(idx), n, replace=False))]     # hours missing here and there
        gaps = lambda p: np.where(rng.random(n) < p, np.nan, rng.random(n))  # noqa: E731
        bars = pd.DataFrame({"open": gaps(0.1), "high": gaps(0.1) + 1, "low": rng.random(n) - 1,
                             "real_long": gaps(0.3), "pred_short": gaps(0.9)}, index=idx)
        for hours in (1, 4, 24):
            pd.testing.assert_frame_equal(coarser_bars(bars, hours), by_pandas(bars, hours), check_freq=False)


def test_the_piecewise_control_also_removes_a_threshold_function_of_the_move(market):
    move, crowding, real = market
    placebo = np.where(move > np.quantile(move, 0.7), move, 0.0)          # the walk-forward's placebo shape
    assert abs(partial_spearman(placebo, real, move, piecewise=True)) < 0.05
    assert partial_spearman(move * crowding, real, move, piecewise=True) > 0.5


def _ranked_inputs(rng, shape):
    """Continuous values, rounded ones (ties), mostly zeros (a map that reads 0 on most bars), and constants."""
    return [rng.lognormal(size=shape), np.round(rng.lognormal(size=shape), 1),
            np.where(rng.random(shape) < 0.6, 0.0, rng.lognormal(size=shape)), np.full(shape, 3.0)]


@pytest.mark.parametrize("shape", [(1,), (24,), (400, 24), (3, 5, 186)])
def test_rank_rows_are_scipys_average_ranks(shape):
    for a in _ranked_inputs(np.random.default_rng(3), shape):
        assert np.array_equal(rank_rows(a), stats.rankdata(a, axis=-1))
    with_nan = np.r_[1.0, np.nan, 2.0]
    assert np.isnan(rank_rows(with_nan)).all() and np.isnan(stats.rankdata(with_nan)).all()


@pytest.mark.parametrize("n,rows", [(24, None), (186, 50), (744, 3), (12, 20)])
@pytest.mark.parametrize("controls", [1, 3])
def test_the_partial_from_sums_is_the_partial_of_the_designs_residuals(n, rows, controls):
    """partial_beyond_rows never builds the design; it must give what correlating the residuals on it gives, and NaN
    where a side's residual is nothing but rounding (a constant; more columns than bars), where the residuals'
    correlation is a correlation of rounding noise."""
    rng = np.random.default_rng(n * 10 + controls)
    shape = (n,) if rows is None else (rows, n)
    kinds = _ranked_inputs(rng, shape)
    compared = 0
    for _ in range(12):
        pred, real, *ctr = (kinds[j] for j in rng.choice(4, 2 + controls, p=[0.4, 0.25, 0.25, 0.1]))
        res_p, res_r = rank_residuals(pred, real, controls_design(ctr, controls_bins(n, controls)))
        want, got = np.atleast_1d(pearson_rows(res_p, res_r)), np.atleast_1d(partial_beyond_rows(pred, real, *ctr))
        left_p, left_r = (np.atleast_2d(res).std(-1) / np.maximum(np.atleast_2d(x).std(-1), 1e-300)
                          for res, x in ((res_p, pred), (res_r, real)))
        nothing_left = (np.minimum(left_p, left_r) < 1e-6) | \
            (np.atleast_2d(pred).std(-1) == 0) | (np.atleast_2d(real).std(-1) == 0)
        assert np.isnan(got[nothing_left]).all()
        assert np.allclose(got[~nothing_left], want[~nothing_left], rtol=0, atol=1e-9)
        compared += (~nothing_left).sum()
    assert compared > 0


@pytest.mark.parametrize("n,bins", [(12, 3), (24, 6), (40, 10), (60, 15), (744, 15)])
def test_the_partial_beyond_the_move_is_the_designs_with_about_four_bars_a_bin(n, bins):
    """partial_spearman_rows' one control, fitted by Frisch–Waugh without an inverse: the design's residual
    correlation, in ~4 bars a quantile bin of the move, 2 to DESIGN's 15 (every month has the 15)."""
    assert controls_bins(n, 1) == bins
    rng = np.random.default_rng(n)
    move, noise = rng.lognormal(size=(30, n)), rng.lognormal(size=(30, n))
    pred, real = move + noise, move * rng.lognormal(size=(30, n))
    got = partial_spearman_rows(pred, real, move)
    want = pearson_rows(*rank_residuals(pred, real, controls_design([move], bins)))
    assert np.allclose(got, want, rtol=0, atol=1e-9) and np.isfinite(got).all()
    assert np.array_equal(got, partial_beyond_rows(pred, real, move))      # one control, one rule


def test_a_days_partial_has_an_interval_that_says_something():
    """A day's 24 hourly bars: in 15 bins (16 columns) the bootstrap's partial was anything in [-1, 1]; in 6 it keeps
    an interval narrow enough to read, and a function of the move still scores about nothing beyond it."""
    rng = np.random.default_rng(5)
    widths, placebos = [], []
    for _ in range(40):
        move, crowding = rng.lognormal(-5, 1, 24), rng.lognormal(0, 1, 24)
        real = move ** 2 * crowding
        lo, hi = partial_ci(move * crowding, real, move, block=4, reps=200)
        widths.append(hi - lo)
        placebos.append(partial_spearman(np.where(move > np.median(move), move ** 3, 0.0), real, move))
    assert np.median(widths) < 1.0 and abs(np.mean(placebos)) < 0.15
