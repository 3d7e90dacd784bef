"""The verdict orders books as the truth does. On a simulated market whose positions are known: the true book (the
simulated positions' liquidation levels) grades A; a book with no information beyond the price path (its mass spread
around the price, scaled to open interest) grades F; the true book with its sides swapped grades F. And every new
metric on a hand-computed case."""
import numpy as np
import pandas as pd
import pytest

from liq_pipeline.lib.model.buckets import bucket_low
from liq_pipeline.lib.model.estimate import sim_frames
from liq_pipeline.lib.model.levels import bucket_of
from liq_pipeline.lib.validation import outcome, suite
from liq_pipeline.lib.validation.skill import hourly_frame, partial_beyond_rows, side_scores

UTC = lambda s: pd.to_datetime(s, unit="ms", utc=True).astype("datetime64[ms, UTC]")  # noqa: E731


@pytest.fixture(scope="module")
def market():
    from liq_pipeline.lib.sim.market import simulate
    from liq_pipeline.lib.sim.scenario import Scenario
    res = simulate(Scenario.default(seed=3, days=8))
    kl, oi, fu = sim_frames(res)
    positions = res.positions.assign(ts=UTC(res.positions.ts))
    liquidations = res.liquidations.assign(ts=UTC(res.liquidations.ts), source="simulated_truth",
                                           order_status="FILLED")
    return kl, oi, fu, positions, liquidations


def _price_at(kl: pd.DataFrame, times) -> np.ndarray:
    closes = kl.set_index(kl["open_time"] + pd.Timedelta(minutes=1))["close"].sort_index()
    return closes.reindex(pd.DatetimeIndex(times), method="ffill").to_numpy(float)


def _levels(rows: pd.DataFrame, model: str) -> pd.DataFrame:
    """heatmap_levels of rows (ts, side, liq_price, notional_usd, price): summed per 0.25% bucket."""
    edge = np.where(rows["side"] == "long", rows["liq_price"], rows["liq_price"] * (1 - 1e-12))
    g = rows.assign(bucket=bucket_of(edge)).groupby(["ts", "side", "bucket"], as_index=False) \
        .agg(notional_usd=("notional_usd", "sum"), price=("price", "first"))
    g["price_low"], g["price_high"] = bucket_low(g["bucket"]), bucket_low(g["bucket"] + 1)
    return g.assign(model=model)


def true_book(kl, positions) -> pd.DataFrame:
    p = positions.assign(price=_price_at(kl, positions["ts"]))
    p = p[np.where(p["side"] == "long", p["liq_price"] < p["price"], p["liq_price"] > p["price"])]
    return _levels(p[["ts", "side", "liq_price", "notional_usd", "price"]], "truth")


def path_book(kl, oi, times) -> pd.DataFrame:
    """No information beyond the path: at each snapshot, the OI's notional spread on both sides of the price with
    a weight that falls off with the distance (the same shape every time, half a side each)."""
    rows = []
    price = _price_at(kl, times)
    oi_at = oi.set_index("ts")["oi_contracts"].sort_index().reindex(pd.DatetimeIndex(times), method="ffill")
    d = np.linspace(0.001, 0.15, 150)
    w = np.exp(-d / 0.02)
    w /= w.sum()
    for t, p, q in zip(times, price, oi_at.to_numpy(float)):
        for side, lp in (("long", p * (1 - d)), ("short", p * (1 + d))):
            rows.append(pd.DataFrame({"ts": t, "side": side, "liq_price": lp, "notional_usd": q * p / 2 * w,
                                      "price": p}))
    return _levels(pd.concat(rows, ignore_index=True), "path")


def swapped(book: pd.DataFrame) -> pd.DataFrame:
    """The true book with its sides swapped: each level mirrored to the other side of the price (p²/level)."""
    mid = (book["price_low"] + book["price_high"]) / 2
    rows = book.assign(side=np.where(book["side"] == "long", "short", "long"), liq_price=book["price"] ** 2 / mid)
    return _levels(rows[["ts", "side", "liq_price", "notional_usd", "price"]], "swapped")


def model_tables(kl, levels: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The model tables validate() reads, made from a book's levels: its per-hour prediction is the notional its
    latest snapshot holds between each hour's open and extreme (the same reading as map-ahead's)."""
    model = levels["model"].iloc[0]
    hourly = hourly_frame(kl, pd.DataFrame(columns=["ts", "long_usd", "short_usd"]))
    fc = outcome.map_forecasts(outcome.Snapshots(levels), hourly).fillna(0.0)
    pred = pd.concat([pd.DataFrame({"ts": fc.index, "side": s, "notional_usd": fc[f"map_{s}"].to_numpy()})
                      for s in ("long", "short")]).assign(model=model, interval="1h")
    g = levels.groupby("ts")
    snaps = pd.DataFrame({"ts": g.size().index, "price": g["price"].first().to_numpy(),
                          "book_usd": g["notional_usd"].sum().to_numpy()}).assign(model=model)
    side_usd = levels.pivot_table(index="ts", columns="side", values="notional_usd", aggfunc="sum").fillna(0.0)
    snaps["long_usd"] = side_usd["long"].to_numpy()
    snaps["short_usd"] = side_usd["short"].to_numpy()
    snaps = snaps.assign(oi_usd=snaps["book_usd"], oi_contracts=snaps["book_usd"] / snaps["price"], book_to_oi=1.0)
    return {"heatmap_levels": levels, "heatmap": levels.assign(leverage=10.0), "predicted_liquidations": pred,
            "model_snapshots": snaps}


def judged(market, levels: pd.DataFrame) -> dict:
    kl, oi, fu, positions, liquidations = market
    empty = pd.DataFrame(columns=["ts", "interval", "venue", "long_usd", "short_usd"])
    data = {"klines": kl, "funding": fu, "liquidation_events": liquidations, "liquidation_bars": empty,
            "sim_positions": positions, "sim_liquidations": liquidations, **model_tables(kl, levels)}
    return suite.validate(data, levels["model"].iloc[0], reps=200)


def test_the_verdict_grades_the_true_book_a_and_a_path_book_and_a_swapped_book_f(market):
    kl, oi, _, positions, _ = market
    truth = true_book(kl, positions)
    results = {name: judged(market, book) for name, book in
               (("truth", truth), ("path", path_book(kl, oi, np.sort(truth["ts"].unique()))),
                ("swapped", swapped(truth)))}
    grades = {k: (r["grade"], round(r["score"], 1), r["grade_reason"]) for k, r in results.items()}
    assert [grades[k][0] for k in ("truth", "path", "swapped")] == ["A", "F", "F"], grades
    # the path book fails for having nothing beyond the path, not for a missing part
    parts = results["path"]["verdict"]["parts"]
    assert parts["map_ahead"]["value"] <= 0.1 and parts["per_bar"]["value"] <= 0.1, parts
    assert results["swapped"]["verdict"]["parts"]["map_ahead"]["value"] < 0.1
    # the seed formula keeps its row, its components that hold by construction marked
    seed = results["truth"]["seed_grade"]
    assert seed["components"]["oi_conservation"]["by_construction"] is True
    assert seed["components"]["funding_correlation"]["by_construction"] is False


def test_a_part_that_cannot_be_computed_leaves_the_period_ungraded_never_zero():
    ext = {"map_ahead": {"4h_long": {"partial_beyond_path_ci95": [0.4, 0.6]},
                         "4h_short": {"value": None, "reason": "3 4h bar(s)"}},
           "per_bar_skill": {"4h_long": {"partial_beyond_path_ci95": [0.4, 0.6]},
                             "4h_short": {"partial_beyond_path_ci95": [0.4, 0.6]}},
           "calibration": {"1h_long": {"brier_skill": 0.3, "brier_skill_ci95": [0.25, 0.35]},
                           "1h_short": {"brier_skill": 0.3, "brier_skill_ci95": [0.25, 0.35]}}}
    v = outcome.verdict(ext)
    assert v["grade"] is None and v["score"] is None and "map_ahead: 3 4h bar(s)" in v["reason"]
    ext["map_ahead"]["4h_short"] = {"partial_beyond_path_ci95": [0.15, 0.3]}
    v = outcome.verdict(ext)
    # map-ahead (0.4 + 0.15) / 2 = 0.275 of 0.3 → 91.7; per-bar 100; calibration 100
    assert v["parts"]["map_ahead"]["score"] == pytest.approx(100 * 0.275 / 0.3)
    assert v["score"] == pytest.approx(0.4 * 100 * 0.275 / 0.3 + 0.3 * 100 + 0.3 * 100)
    assert v["grade"] == "A" and "event_lift" not in v["parts"]
    # events shown beside the parts, not scored
    ext.update(hit_rate={"ci95": [0.1, 0.2]}, random_zone_baseline={"value": 0.05})
    v2 = outcome.verdict(ext)
    assert v2["parts"]["event_lift"]["value"] == pytest.approx(0.05) and v2["parts"]["event_lift"]["scored"] is False
    assert v2["score"] == v["score"]


def test_map_forecasts_prorate_each_level_over_the_bars_range():
    t0 = pd.Timestamp("2026-04-05", tz="UTC")
    levels = pd.DataFrame({"ts": [t0, t0, t0], "side": ["long", "long", "short"], "price_low": [90.0, 97.0, 104.0],
                           "price_high": [92.0, 99.0, 106.0], "notional_usd": [100.0, 200.0, 50.0]})
    bars = pd.DataFrame({"open": [100.0, 100.0], "high": [105.0, 101.0], "low": [98.0, 91.0]},
                        index=[t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(days=2)])
    fc = outcome.map_forecasts(outcome.Snapshots(levels), bars)
    # bar 1: long range 98..100 holds half of 97..99 (100 USD); short 100..105 holds half of 104..106 (25 USD)
    assert fc.iloc[0].tolist() == [100.0, 25.0]
    assert fc.iloc[1].isna().all()                   # the snapshot is two days old: no map stands


def test_calibration_metrics_on_a_hand_computed_case():
    p, y = np.array([0.1, 0.1, 0.9, 0.9]), np.array([0.0, 1.0, 1.0, 1.0])
    d = outcome.brier_decomposition(p, y, bins=10)
    # bins: {0.1: y 0,1 → mean .5}, {0.9: 1,1 → 1}; base .75
    assert d["reliability"] == pytest.approx((2 * 0.4 ** 2 + 2 * 0.1 ** 2) / 4)
    assert d["resolution"] == pytest.approx((2 * 0.25 ** 2 + 2 * 0.25 ** 2) / 4)
    assert d["uncertainty"] == pytest.approx(0.75 * 0.25)
    brier = ((p - y) ** 2).mean()
    assert brier == pytest.approx(d["reliability"] - d["resolution"] + d["uncertainty"])
    # learned only from earlier bars: bar i's probability never reads bar i's outcome
    pred = np.arange(60, dtype=float)
    event = (pred % 2).astype(float)
    prob, clim = outcome.learned_probability(pred, event)
    assert np.isnan(prob[:outcome.MIN_HISTORY]).all() and np.isfinite(prob[outcome.MIN_HISTORY:]).all()
    changed = event.copy()
    changed[40] = 1 - changed[40]
    again, _ = outcome.learned_probability(pred, changed)
    assert np.array_equal(again[:41], prob[:41], equal_nan=True) and not np.array_equal(again, prob, equal_nan=True)
    assert clim[30] == pytest.approx((event[:30].sum() + 1) / 32)


def test_a_path_placebo_scores_near_zero_beyond_the_path_and_the_path_baseline_sees_the_sub_bars():
    rng = np.random.default_rng(4)
    n = 240
    t = pd.date_range("2026-04-05", periods=n * 60, freq="1min", tz="UTC")
    ret = rng.standard_t(4, n * 60) * 0.0008
    close = 100 * np.exp(np.cumsum(ret))
    opn = np.r_[100, close[:-1]]
    high = np.maximum(opn, close) * (1 + np.abs(rng.normal(0, 0.0003, n * 60)))
    low = np.minimum(opn, close) * (1 - np.abs(rng.normal(0, 0.0003, n * 60)))
    kl = pd.DataFrame({"open_time": t, "open": opn, "high": high, "low": low, "close": close})
    frame = hourly_frame(kl, pd.DataFrame(columns=["ts", "long_usd", "short_usd"]))
    # realised: a function of the path's summed moves (what a sub-bar prediction sees) plus noise
    frame["real_long"] = frame["path_long"] ** 2 * 1e9 * np.exp(rng.normal(0, 0.3, len(frame)))
    frame["real_short"] = frame["path_short"] ** 2 * 1e9 * np.exp(rng.normal(0, 0.3, len(frame)))
    # a prediction made on the minute sub-bars: a function of the path, blurred by what it does not know
    frame["pred_long"] = frame["path_long"] ** 1.5 * np.exp(rng.normal(0, 0.1, len(frame)))
    cell = side_scores(frame, 1, "long", "pred_long", reps=100)
    # it looks skilful beyond the hour's move, and is nothing beyond the path
    assert cell["partial"] > 0.3 and cell["path_naive"] > cell["naive"]
    assert abs(cell["partial_beyond_path"]) < 0.15 and abs(cell["path_placebo_partial"]) < 0.15
    # the path itself, as a prediction, leaves nothing beyond the path to correlate: no figure, not rounding's
    frame["pred_long"] = frame["path_long"] ** 1.5
    assert np.isnan(side_scores(frame, 1, "long", "pred_long", reps=100)["partial_beyond_path"])
    # the partial beyond several controls, by hand: residualise ranks on each control's design
    a, b, c = (rng.normal(size=50) for _ in range(3))
    assert abs(float(partial_beyond_rows(a + c, b + c, c))) < abs(float(np.corrcoef(a + c, b + c)[0, 1]))


def test_regimes_split_by_what_was_known_at_the_bar():
    idx = pd.date_range("2026-04-04", periods=72, freq="1h", tz="UTC")          # Saturday .. Monday
    bars = pd.DataFrame({"open": np.linspace(100, 110, 72), "high": 111.0, "low": 99.0,
                         "path_range": np.r_[np.full(24, 0.01), np.full(24, 0.02), np.full(24, 0.03)]}, index=idx)
    funding = pd.DataFrame({"ts": [idx[0] - pd.Timedelta(hours=1), idx[30]], "funding_rate": [0.0001, -0.0002]})
    lab = outcome.regime_labels(bars, funding)
    assert lab["weekend"].iloc[0] == "weekend" and lab["weekend"].iloc[-1] == "weekday"
    assert lab["volatility"].iloc[0] == "low" and lab["volatility"].iloc[-1] == "high"
    assert lab["funding_sign"].iloc[30] == "positive"       # the settlement at the bar's start is not yet known
    assert lab["funding_sign"].iloc[31] == "zero_or_negative"
    assert lab["trend"].iloc[0] == "unknown" and lab["trend"].iloc[30] == "up"


def test_the_exceedance_event_compares_each_bar_with_the_30_days_before_it_only():
    hours = np.r_[np.arange(30), 29, np.arange(40, 30 * 24 + 60, 7)]     # a repeated hour, gaps, past 30 days
    idx = pd.DatetimeIndex(pd.Timestamp("2026-04-01", tz="UTC") + pd.to_timedelta(hours, unit="h"))
    real = pd.Series(np.random.default_rng(5).random(len(idx)), index=idx)
    shuffled = real.sample(frac=1.0, random_state=2)
    for series in (real, shuffled):                                       # the bars' order does not matter
        got = outcome.exceedance(series)
        assert got.index.equals(series.index)
        for i, (t, v) in enumerate(series.items()):
            past = series[(series.index >= t - pd.Timedelta(days=30)) & (series.index < t)]
            want = float(v > past.median()) if len(past) >= outcome.MIN_HISTORY else np.nan
            assert got.iloc[i] == pytest.approx(want, nan_ok=True), t
        assert got.notna().sum() > 50 and got.isna().sum() >= outcome.MIN_HISTORY


def test_calibration_cell_ratio_and_slope_by_hand():
    idx = pd.date_range("2026-04-05", periods=200, freq="1h", tz="UTC")
    rng = np.random.default_rng(1)
    real = np.exp(rng.normal(12, 1, 200))
    bars = pd.DataFrame({"open": 100.0, "high": 101.0, "low": 99.0, "real_long": real, "real_short": real,
                         "pred_long": 2 * real ** 0.5, "pred_short": 3 * real}, index=idx)
    long, short = outcome.calibration_cell(bars, "long", 1, reps=50), outcome.calibration_cell(bars, "short", 1, reps=50)
    assert short["total_ratio"] == pytest.approx(3.0) and short["loglog_slope"] == pytest.approx(1.0)
    # log real = 2·log(pred / 2): the slope of log realised on log predicted is 2
    assert long["loglog_slope"] == pytest.approx(2.0) and long["loglog_slope_ci95"][0] == pytest.approx(2.0)
    assert [c["decile"] for c in short["reliability_curve"]] == list(range(1, 11))
    # a prediction that ranks the bars perfectly is skilful; the first 20 bars have no 30-day median to exceed yet,
    # and the next 20 no earlier labelled bars to learn the probability from
    assert short["brier_skill"] > 0.3 and short["n_scored"] == 200 - 2 * outcome.MIN_HISTORY


def test_fix_first_names_the_weakest_part_and_a_leaking_placebo():
    from liq_pipeline.lib.validation.report import fix_first
    parts = {"map_ahead": {"value": 0.06, "score": 20.0}, "per_bar": {"value": 0.4, "score": 100.0},
             "calibration": {"value": None}, "event_lift": {"value": 0.0, "score": 0.0, "scored": False}}
    ext = {"per_bar_skill": {"4h_long": {"placebo_partial": 0.15, "path_placebo_partial": -0.2}},
           "map_ahead": {"4h_long": {"value": 0.5}}}
    text = "\n".join(fix_first({"flow": {"model": "flow", "verdict": {"parts": parts}, "extended": ext}}))
    assert "**calibration** cannot be computed" in text and "**map_ahead**: scores 20 of 100" in text
    assert "per_bar_skill.4h_long.placebo_partial = 0.150" in text and "path_placebo_partial" not in text
    assert "event_lift" not in text and "per_bar**" not in text
