"""The validation suite: every metric on small hand-computed cases, the grade's boundaries and a missing component;
on the simulated market, the suite tells the true book from a deliberately wrong one; the monthly schedule."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from liq_pipeline.lib.model.levels import bucket_low, bucket_of
from liq_pipeline.lib.sim.emit import throttle
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.scenario import Scenario
from liq_pipeline.lib.validation import metrics as m
from liq_pipeline.lib.validation import report, suite

T0 = pd.Timestamp("2026-04-05", tz="UTC")


def ts(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


# --- the grade -----------------------------------------------------------------------------------------------

def _components(r, oi, acc):
    return {"funding_correlation": {"value": r, "n": 90, "ci95": None},
            "oi_conservation": {"value": oi, "n": 720, "ci95": None},
            "directional": {"value": acc, "n": 720, "ci95": None}}


@pytest.mark.parametrize("r, oi, acc, score, letter", [
    (0.8, 0.0, 1.0, 90.0, "A"),           # 40 + 20 + 30: exactly on the A boundary
    (0.78, 0.0, 1.0, 89.0, "B"),
    (0.6, 0.0, 1.0, 80.0, "B"),
    (0.4, 0.0, 1.0, 70.0, "C"),
    (0.4, 0.1, 1.0, 69.8, "F"),           # OI error 0.1% costs 1 point of its 100: 0.2 of the score
    (-0.5, 12.0, 0.5, 15.0, "F"),         # r clamped to 0, OI score floored at 0
    (1.7, 0.0, 1.0, 100.0, "A"),          # r·100 clamped to 100
])
def test_grade_follows_the_seed_formula_at_its_boundaries(r, oi, acc, score, letter):
    got, s, graded, reason = m.grade(_components(r, oi, acc))
    assert s == pytest.approx(score) and got == letter and reason is None
    assert [graded[k]["weight"] for k in m.WEIGHTS] == [0.5, 0.2, 0.3]


def test_a_missing_component_is_reported_never_scored():
    comps = _components(0.9, 0.0, 1.0)
    comps["funding_correlation"] = m.missing("no funding settlements in the period")
    got, s, graded, reason = m.grade(comps)
    assert got is None and s is None
    assert graded["funding_correlation"]["value"] is None and graded["funding_correlation"]["score"] is None
    assert "funding_correlation: no funding settlements" in reason
    assert graded["oi_conservation"]["score"] == 100.0       # the others are still scored, for the record


# --- the graded three, by hand ---------------------------------------------------------------------------------

def snapshots(long_usd, short_usd, oi=None):
    n = len(long_usd)
    book = np.add(long_usd, short_usd)
    return pd.DataFrame({"ts": [ts(60 * i) for i in range(n)], "long_usd": long_usd, "short_usd": short_usd,
                         "book_usd": book, "oi_usd": book if oi is None else oi, "price": 100.0})


def test_oi_conservation_is_the_mean_absolute_percentage_error():
    s = snapshots([60.0, 50.0, 40.0], [41.0, 50.0, 50.0], oi=[100.0, 100.0, np.nan])
    got = m.oi_conservation(s)
    assert got["value"] == pytest.approx(0.5) and got["n"] == 2 and got["max_pct"] == pytest.approx(1.0)
    assert m.oi_conservation(s.assign(oi_usd=np.nan))["reason"] == "no snapshot with open interest"


def test_directional_is_the_notional_share_on_the_right_side_of_price():
    heat = pd.DataFrame({"ts": [ts(0)] * 4, "side": ["long", "long", "short", "short"],
                         "price_low": [90.0, 100.5, 101.0, 98.0], "price_high": [91.0, 101.5, 102.0, 99.0],
                         "notional_usd": [3.0, 1.0, 4.0, 2.0], "price": 100.0})
    got = m.directional(heat)
    assert got["value"] == pytest.approx(7 / 10) and got["n"] == 1
    assert got["long_below"] == pytest.approx(3 / 4) and got["short_above"] == pytest.approx(4 / 6)
    assert m.directional(heat.head(0))["value"] is None


def test_funding_correlation_pairs_each_settlement_with_the_snapshot_before_it():
    share = np.array([0.40, 0.45, 0.50, 0.55, 0.60, 0.52])
    s = snapshots(share * 100, (1 - share) * 100)
    # settlements 30 min after each snapshot; the rate rises with the long share (exactly linear)
    funding = pd.DataFrame({"ts": [ts(60 * i + 30) for i in range(6)], "funding_rate": (share - 0.5) / 1000})
    got = m.funding_correlation(s, funding)
    assert got["value"] == pytest.approx(1.0) and got["spearman"] == pytest.approx(1.0) and got["n"] == 6
    assert got["p_value"] < 0.01 and got["mean_long_share"] == pytest.approx(share.mean())
    # a settlement before any snapshot has nothing to pair with; two points are not a correlation
    few = m.funding_correlation(s, pd.DataFrame({"ts": [ts(-30), ts(30), ts(90)], "funding_rate": [1e-4, 2e-4, 3e-4]}))
    assert few["value"] is None and few["n"] == 2 and "at least 3" in few["reason"]
    assert "no funding" in m.funding_correlation(s, funding.head(0))["reason"]
    # a book split evenly: its long share is 0.5 up to rounding, which is no correlation (not r = 0.13 of noise)
    even = snapshots(np.full(6, 100.0) + np.arange(6) * 1e-12, np.full(6, 100.0))
    flat = m.funding_correlation(even, funding)
    assert flat["value"] is None and flat["n"] == 6 and "constant" in flat["reason"]


def test_wilson_interval():
    assert m.wilson(0, 0) is None
    lo, hi = m.wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)


# --- zones, hit grid, lead time --------------------------------------------------------------------------------

def levels_frame(snapshot_minutes, side, buckets, notionals, price=100.0):
    return pd.DataFrame({"ts": ts(snapshot_minutes), "side": side, "bucket": buckets,
                         "price_low": bucket_low(np.array(buckets)), "price_high": bucket_low(np.array(buckets) + 1),
                         "notional_usd": notionals, "price": price})


def test_a_zone_is_a_run_of_adjacent_top_decile_buckets():
    base = int(bucket_of(99.0))
    buckets = list(range(base - 18, base + 2))          # 20 buckets; the two highest, adjacent, are the zone
    notional = [1.0] * 18 + [10.0, 30.0]
    z = m.zones(levels_frame(0, "long", buckets, notional))
    assert len(z) == 1
    assert z["price_low"].iloc[0] == pytest.approx(bucket_low(base))
    assert z["price_high"].iloc[0] == pytest.approx(bucket_low(base + 2))
    mids = (bucket_low(np.array([base, base + 1])) + bucket_low(np.array([base + 1, base + 2]))) / 2
    assert z["strength"].iloc[0] == 40.0 and z["price"].iloc[0] == pytest.approx((10 * mids[0] + 30 * mids[1]) / 40)


def _one_zone_index(lo=99.0, hi=100.0, snapshot_minutes=(0,)):
    zone_frame = pd.DataFrame({"ts": [ts(s) for s in snapshot_minutes], "side": "long", "price_low": lo,
                               "price_high": hi, "strength": 1.0, "price": (lo + hi) / 2})
    return m.SnapshotIndex([ts(s) for s in snapshot_minutes], zone_frame)


def test_hit_grid_counts_hits_gaps_and_misses_by_tolerance_and_lookback():
    index = _one_zone_index()
    events = pd.DataFrame({
        "ts": [ts(30), ts(30), ts(30), ts(-10)],
        "side": ["long", "long", "short", "long"],
        # inside the zone; 0.304% below it; a short (no short zone: a gap); before any snapshot (a gap)
        "price": [99.5, 98.7, 101.0, 99.5]})
    grid = m.hit_grid(events, index)
    cell = lambda key: grid[key]["all"]  # noqa: E731
    assert (cell("0m|0.10%")["hits"], cell("0m|0.10%")["misses"], cell("0m|0.10%")["gaps"]) == (1, 1, 2)
    assert (cell("0m|0.50%")["hits"], cell("0m|0.50%")["misses"], cell("0m|0.50%")["gaps"]) == (2, 0, 2)
    assert cell("15m|1.00%")["hit_rate"] == pytest.approx(0.5)
    assert grid["0m|0.50%"]["long"]["n"] == 3 and grid["0m|0.50%"]["short"]["gaps"] == 1
    # 15 minutes of lookback reach back to a snapshot: an event 10 min after the zone's snapshot was replaced by
    # an empty one still counts the zone with lookback 15m, not with 0m
    index2 = m.SnapshotIndex([ts(0), ts(60)], pd.DataFrame({"ts": [ts(0)], "side": "long", "price_low": 99.0,
                                                             "price_high": 100.0, "strength": 1.0, "price": 99.5}))
    late = pd.DataFrame({"ts": [ts(70)], "side": ["long"], "price": [99.5]})
    g2 = m.hit_grid(late, index2)
    assert g2["0m|0.10%"]["all"]["gaps"] == 1 and g2["15m|0.10%"]["all"]["hits"] == 1


def test_lead_time_runs_back_over_the_snapshots_that_held_the_zone():
    index = _one_zone_index(snapshot_minutes=(0, 60, 120))
    events = pd.DataFrame({"ts": [ts(150), ts(150)], "side": ["long", "long"], "price": [99.5, 90.0]})
    lead = m.lead_times(events, index)
    assert lead[0] == pytest.approx(150 * 60) and np.isnan(lead[1])
    summary = m.lead_summary(lead)
    assert summary["p50_s"] == pytest.approx(9000) and summary["share_le_0"] == 0.0 and summary["n"] == 1


def test_reaction_and_sweep():
    zone = pd.DataFrame({"ts": [ts(0)], "side": ["long"], "price_low": [99.0], "price_high": [100.0],
                         "strength": [1.0], "price": [99.5]})
    def bars(lows, highs):
        return pd.DataFrame({"open_time": [ts(i) for i in range(len(lows))], "low": lows, "high": highs,
                             "close": np.add(lows, highs) / 2})
    react = m.reaction_sweep(zone, bars([101, 99.8, 100.1], [102, 100.2, 100.5]))   # touch, then 20 bps up
    sweep = m.reaction_sweep(zone, bars([101, 99.8, 98.7], [102, 100.1, 99.5]))     # touch, then through
    never = m.reaction_sweep(zone, bars([101, 101], [102, 102]))
    assert react["value"] == 1.0 and react["by_quartile"]["all"]["sweep_rate"] == 0.0
    assert sweep["value"] == 0.0 and sweep["by_quartile"]["all"]["sweep_rate"] == 1.0
    assert never["by_quartile"]["all"]["touch_rate"] == 0.0 and never["value"] is None


def test_tier_offsets_name_the_nearest_levels_tier():
    index = _one_zone_index()
    heat = pd.DataFrame({"ts": [ts(0)] * 2, "side": "long", "leverage": [25.0, 100.0],
                         "price_low": [90.0, 99.0], "price_high": [91.0, 100.0], "notional_usd": 1.0, "price": 101.0})
    events = pd.DataFrame({"ts": [ts(10), ts(20)], "side": ["long", "long"], "price": [99.0, 91.5]})
    off = m.tier_offsets(events, index, heat)
    assert off["100x"]["n"] == 1 and off["100x"]["median_usd"] == pytest.approx(-0.5)
    assert off["25x"]["median_usd"] == pytest.approx(1.0)


# --- on the simulated market: the suite tells good from bad ----------------------------------------------------

@pytest.fixture(scope="module")
def market():
    # Position size and holding time independent of leverage, so the book's dense zones include levels price
    # reaches. (With the default scenario, 100x positions are 10x smaller and held shorter: the dense zones are
    # the 5x and 10x clusters ~10-20% away, which price never reaches, and the true book and random zones both
    # hit 0%: the zone hit rate cannot tell anything apart there.)
    return simulate(Scenario.default(seed=11, start="2026-04-05", days=3, regimes=("normal", "crash", "trending"),
                                     leverage_size_exponent=0.0, leverage_hold_exponent=0.0))


def _ms(x):
    return pd.to_datetime(x, unit="ms", utc=True)


def book_as_estimate(res, shift_long: float = 1.0, shift_short: float = 1.0) -> dict:
    """The simulated market's true book at each snapshot, as the model tables would hold it (model "truth");
    with shifts, a deliberately wrong estimator (levels moved, OI kept)."""
    pos = res.positions.assign(ts=_ms(res.positions["ts"]))
    kl = res.klines.assign(open_time=_ms(res.klines["open_time"]), interval="1m").sort_values("open_time")
    last_close = pd.merge_asof(pd.DataFrame({"ts": np.sort(pos["ts"].unique())}),
                               kl.assign(ts=kl["open_time"] + pd.Timedelta(minutes=1))[["ts", "close"]], on="ts")
    pos = pos.merge(last_close.rename(columns={"close": "price"}), on="ts")
    liq = pos["liq_price"] * np.where(pos["side"] == "long", shift_long, shift_short)
    edge = np.where(pos["side"] == "long", liq, liq * (1 - 1e-12))
    pos = pos.assign(bucket=bucket_of(edge))
    lv = pos.groupby(["ts", "side", "bucket"], as_index=False).agg(notional_usd=("notional_usd", "sum"),
                                                                     price=("price", "first"))
    lv = lv.assign(model="truth", price_low=bucket_low(lv["bucket"]), price_high=bucket_low(lv["bucket"] + 1))
    heat = lv.assign(leverage=0.0)
    per = pos.pivot_table(index="ts", columns="side", values="notional_usd", aggfunc="sum").fillna(0.0)
    snaps = pd.DataFrame({"ts": per.index, "model": "truth", "long_usd": per["long"].to_numpy(),
                          "short_usd": per["short"].to_numpy(), "price": last_close.set_index("ts")["close"].reindex(per.index).to_numpy()})
    snaps["book_usd"] = snaps["oi_usd"] = snaps["long_usd"] + snaps["short_usd"]
    liqs = res.liquidations.assign(ts=_ms(res.liquidations["ts"]))
    events = throttle(res.liquidations).assign(ts=lambda d: _ms(d["ts"]))
    fund = res.funding.assign(ts=_ms(res.funding["calc_time"]).dt.round("min"))
    return {"model_snapshots": snaps, "heatmap": heat, "heatmap_levels": lv,
            "predicted_liquidations": pd.DataFrame(columns=["model", "ts", "side", "notional_usd"]),
            "klines": kl, "funding": fund, "liquidation_events": events,
            "liquidation_bars": pd.DataFrame(columns=["ts", "interval", "long_usd", "short_usd", "venue"]),
            "sim_positions": pos.drop(columns=["bucket", "price"]), "sim_liquidations": liqs}


def test_the_suite_tells_the_true_book_from_a_wrong_one(market):
    truth = suite.validate(book_as_estimate(market), "truth", reps=50)
    wrong = suite.validate(book_as_estimate(market, shift_long=1.04, shift_short=0.96), "truth", reps=50)
    t, w = truth["components"], wrong["components"]
    assert t["oi_conservation"]["value"] < 1e-9 and t["directional"]["value"] > 0.999
    assert truth["extended"]["hit_rate"]["n"] > 100
    # hit rate over the random-zone baseline (same zones, random places): levels moved toward the price hit
    # more events by proximity alone, so the lift over chance, not the raw rate, is what tells them apart
    lift = {name: r["extended"]["hit_rate"]["value"] - r["extended"]["random_zone_baseline"]["value"]
            for name, r in (("truth", truth), ("wrong", wrong))}
    assert lift["truth"] > 0.15 and lift["wrong"] < lift["truth"] - 0.15, lift
    assert w["directional"]["value"] < t["directional"]["value"] - 0.05
    assert truth["extended"]["truth_distance"]["value"] < 0.2            # the true book against itself (binned)
    assert wrong["extended"]["truth_distance"]["value"] > 2.0            # levels 4% off


def test_a_days_validation_leaves_out_only_what_its_row_does_not_hold(market):
    data = book_as_estimate(market)
    full, day = (suite.validate(data, "truth", reps=20, report=r) for r in (True, False))
    assert set(suite.REPORT_ONLY) <= set(full["extended"]) and not set(suite.REPORT_ONLY) & set(day["extended"])
    assert full["extended"]["regimes"]["volatility"] and full["extended"]["tier_offsets"]
    assert suite.flat_row(day) == pytest.approx(suite.flat_row(full), nan_ok=True)
    assert (day["grade"], day["score"]) == (full["grade"], full["score"])


def test_the_monthly_document_keeps_the_contract_and_has_no_nan(market):
    data = book_as_estimate(market)
    res = suite.validate(data, "truth", reps=20)
    days = [dt.date(2026, 4, 5) + dt.timedelta(days=i) for i in range(3)]
    doc = report.document("BTCUSDT", "2026-04", res, report.inventory(data, days), {"config_key": "x"}, {})
    assert tuple(doc) == report.CONTRACT_KEYS
    assert set(doc["components"]) == set(m.WEIGHTS)
    for c in doc["components"].values():
        assert {"value", "score", "weight", "n", "ci95"} <= set(c)
    text = report.dumps(doc)                                             # allow_nan=False: no NaN anywhere
    assert '"hit_rate_grid"' in text and doc["inventory"]["tables"]["sim_positions"]["rows"] > 0
    md = report.audit_markdown("BTCUSDT", "2026-04", {"truth": res}, doc["inventory"], {"config_key": "x"},
                               {"Heatmap": "heatmap.png"})
    for section in ("## A. Data Inventory", "## B. Metric Definitions", "## C. Hit Rate Analysis",
                    "## D. Lead-Time Analysis", "## E. Reaction/SR Validity Metrics",
                    "## F. Long/Short Asymmetry Diagnostics", "## H. Inference Gap Audit",
                    "## I. Offsets by Leverage Tier", "## J. Ground Truth", "![Heatmap](heatmap.png)"):
        assert section in md, section


def test_false_positives_are_zones_price_reached_with_no_event_near():
    index = _one_zone_index(snapshot_minutes=(0, 60))
    zone_frame = pd.DataFrame({"ts": [ts(0), ts(60)], "side": "long", "price_low": 99.0, "price_high": 100.0,
                               "strength": 1.0, "price": 99.5})
    bars = pd.DataFrame({"open_time": [ts(i) for i in range(0, 120, 30)], "low": [99.5, 101, 99.8, 101],
                         "high": [102.0, 102, 102, 102], "close": 101.0})
    # price reaches the zone in both hours; an event confirms the first hour's only
    events = pd.DataFrame({"ts": [ts(10)], "side": ["long"], "price": [99.6]})
    got = m.false_positives(zone_frame, index, bars, events)
    assert got["n"] == 2 and got["false_positives"] == 1 and got["value"] == 0.5
    assert m.false_positives(zone_frame, index, bars, events.head(0))["value"] is None


def test_gap_causes_name_why_no_zone_stood():
    index = m.SnapshotIndex([ts(0), ts(60), ts(120)], pd.DataFrame(columns=["ts", "side", "price_low", "price_high",
                                                                              "strength", "price"]))
    snaps = pd.DataFrame({"ts": [ts(0), ts(60), ts(120)], "oi_usd": [100.0, np.nan, 90.0],
                          "long_usd": [50.0, 50.0, 45.0], "short_usd": [0.0, 50.0, 45.0]})
    events = pd.DataFrame({"ts": [ts(-5), ts(70), ts(10), ts(130), ts(20)], "side": ["long", "long", "short", "long", "long"],
                           "price": 100.0})
    d = np.full(len(events), np.nan)
    assert m.gap_causes(events, index, snaps, d) == {"no_context": 1, "no_oi_data": 1, "empty_book_side": 1,
                                                     "oi_falling": 1, "levels_outside_display": 1}


def test_random_zones_score_by_chance_only():
    # one narrow zone right at the events' price: the real zones hit every event, random placements rarely
    times = [ts(60 * i) for i in range(24)]
    zone_frame = pd.concat([pd.DataFrame({"ts": [t] * 2, "side": "long", "price_low": [99.9, 80.0],
                                          "price_high": [100.0, 80.1], "strength": 1.0, "price": [99.95, 80.05]})
                            for t in times], ignore_index=True)
    events = pd.DataFrame({"ts": [t + pd.Timedelta(minutes=30) for t in times], "side": "long", "price": 99.95})
    index = m.SnapshotIndex(times, zone_frame)
    assert m.hit_grid(events, index)["5m|0.50%"]["all"]["hit_rate"] == 1.0
    base = m.random_zone_baseline(events, index, zone_frame, draws=20)
    assert base["value"] < 0.2 and base["n"] == 24


def test_truth_zone_share_weighs_by_notional_and_its_interval_is_of_that_share():
    # 48 hourly snapshots, one long zone 99..100 each; per hour one large liquidation inside it and three small
    # ones far below: most of the USD is inside, most of the count is not
    times = [ts(60 * i) for i in range(48)]
    index = m.SnapshotIndex(times, pd.DataFrame({"ts": times, "side": "long", "price_low": 99.0, "price_high": 100.0,
                                                 "strength": 1.0, "price": 99.5}))
    rng = np.random.default_rng(0)
    rows = [(t + pd.Timedelta(minutes=10 + k), price, usd) for t in times
            for k, (price, usd) in enumerate([(99.5, rng.uniform(5, 15)), (90.0, 1.0), (91.0, 1.0), (92.0, 1.0)])]
    liq = pd.DataFrame(rows, columns=["ts", "liq_price", "notional_usd"]).assign(side="long")
    share = m.truth_zone_share(index, liq)
    inside = liq["liq_price"] == 99.5
    assert share["value"] == pytest.approx(liq["notional_usd"][inside].sum() / liq["notional_usd"].sum())
    assert share["count_share"] == 0.25 and share["n"] == 192
    lo, hi = share["ci95"]
    assert lo < share["value"] < hi and lo > 0.5                 # around the USD share, not the count's
    assert share["count_ci95"][0] < 0.25 < share["count_ci95"][1] < 0.5


def test_liq_grade_prints_the_verdict_and_fails_an_ungraded_or_missing_month(tmp_path):
    from click.testing import CliRunner

    from liq_pipeline.cli import main

    from liq_pipeline.lib.validation import outcome

    comps = _components(0.9, 0.0, 1.0)
    letter, score, graded, reason = m.grade(comps)
    cell = lambda lo: {"partial_beyond_path_ci95": [lo, lo + 0.2]}  # noqa: E731
    ext = {"map_ahead": {"4h_long": cell(0.3), "4h_short": cell(0.15)},
           "per_bar_skill": {"4h_long": cell(0.3), "4h_short": cell(0.3)},
           "calibration": {f"1h_{s}": {"brier_skill": 0.3, "brier_skill_ci95": [0.2, 0.4]} for s in ("long", "short")}}
    folder = tmp_path / "reports/BTCUSDT/2026-04"
    folder.mkdir(parents=True)

    def write(ext, comps):
        letter, score, graded, reason = m.grade(comps)
        v = outcome.verdict(ext)
        res = {"model": "flow", "grade": v["grade"], "score": v["score"], "grade_reason": v["reason"], "verdict": v,
               "seed_grade": outcome.seed_grade(letter, score, graded, reason), "components": graded, "extended": ext}
        (folder / "validation.json").write_text(report.dumps(report.document("BTCUSDT", "2026-04", res, {}, {}, {})))
        return CliRunner().invoke(main, ["grade", "--symbol", "BTCUSDT", "--month", "2026-04", "--data-dir",
                                         str(tmp_path)])

    run = write(ext, comps)
    # map-ahead (0.3 + 0.15) / 2 / 0.3 → 75; per-bar 100; calibration 100: 0.4·75 + 0.3·100 + 0.3·100 = 90
    assert run.exit_code == 0 and "verdict A, score 90.0   |   seed formula A, score 95.0" in run.output
    assert "map_ahead                0.225 (lower end)  score 75.0" in run.output
    assert "funding correlation r  0.900" in run.output and "n=90" in run.output
    assert "OI conservation MAPE   0.000%" in run.output and "by construction" in run.output

    ext["map_ahead"]["4h_short"] = m.missing("3 4h bar(s) with a map and realised liquidations")
    run = write(ext, comps)
    assert run.exit_code == 1 and "verdict: not graded" in run.output
    assert "map_ahead: 3 4h bar(s) with a map and realised liquidations" in run.output

    run = CliRunner().invoke(main, ["grade", "--symbol", "BTCUSDT", "--month", "2026-05", "--data-dir", str(tmp_path)])
    assert run.exit_code == 1 and "no verdict for BTCUSDT 2026-05" in run.output
    run = CliRunner().invoke(main, ["grade", "--symbol", "../x", "--month", "2026-5", "--data-dir", str(tmp_path)])
    assert run.exit_code == 1 and "symbol" in run.output


def _bars(liq: pd.DataFrame, interval: str) -> pd.DataFrame:
    """The simulated liquidations as a vendor's bars of one interval, every bar present (zero where none)."""
    start = liq["ts"].min().floor("1D")
    grid = pd.date_range(start, start + pd.Timedelta(days=6), freq=interval.replace("m", "min"), inclusive="left")
    per = liq.pivot_table(index=liq["ts"].dt.floor(interval.replace("m", "min")), columns="side",
                          values="notional_usd", aggfunc="sum").reindex(grid).fillna(0.0)
    return pd.DataFrame({"ts": per.index, "interval": interval, "long_usd": per["long"].to_numpy(),
                         "short_usd": per["short"].to_numpy(), "venue": "binance"})


def test_per_bar_skill_scores_a_vendors_coarse_bars_only_at_whole_multiples_of_them():
    # A vendor's 4h bars (Coinglass's Binance-only series comes so) sit on one hour of the hourly frame each: a 1h
    # cell would set a 4h sum against one hour's move. The 4h cells must equal those scored from 30m bars of the
    # same liquidations; the 1h cells must say why they are missing.
    res = simulate(Scenario.default(seed=5, start="2026-04-05", days=6))
    data = book_as_estimate(res)
    liq = data["sim_liquidations"]
    hourly = _bars(liq, "1h")
    noise = np.random.default_rng(0).lognormal(0.0, 1.0, (2, len(hourly)))
    data["predicted_liquidations"] = pd.concat(
        [pd.DataFrame({"model": "truth", "ts": hourly["ts"], "side": side, "notional_usd": hourly[f"{side}_usd"] * n})
         for side, n in zip(("long", "short"), noise)], ignore_index=True)
    fine = suite.validate({**data, "liquidation_bars": _bars(liq, "30m")}, "truth", reps=50)["extended"]["per_bar_skill"]
    coarse = suite.validate({**data, "liquidation_bars": _bars(liq, "4h")}, "truth", reps=50)["extended"]["per_bar_skill"]
    assert (fine["realised_bar_hours"], coarse["realised_bar_hours"]) == (0.5, 4.0)
    for s in ("long", "short"):
        assert fine[f"4h_{s}"]["n"] == coarse[f"4h_{s}"]["n"] == 36
        for key in ("value", "naive", "partial"):
            assert coarse[f"4h_{s}"][key] == pytest.approx(fine[f"4h_{s}"][key], abs=1e-12), key
        assert fine[f"1h_{s}"]["value"] is not None and fine[f"1h_{s}"]["n"] == 144
        assert coarse[f"1h_{s}"]["value"] is None and "4h bars (liquidation_bars 4h binance)" in coarse[f"1h_{s}"]["reason"]
    assert suite.scorable(4, 4.0) and suite.scorable(1, 0.5) and not suite.scorable(4, 24.0) and not suite.scorable(4, 3.0)


def test_the_reliability_curve_reads_in_plain_usd_decades(tmp_path):
    from matplotlib.figure import Figure
    from liq_pipeline.lib.validation import plots

    ax = Figure().subplots()
    ax.plot([1, 2e3, 5e7], [1, 40, 3e6])
    plots.usd_log_axes(ax)
    ax.figure.canvas.draw()
    for axis, top in ((ax.xaxis, "100M"), (ax.yaxis, "10M")):
        labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
        assert {"1", "10", "100", "1k", "1M", top} <= set(labels) and not any("$" in t for t in labels)
        assert axis.get_scale() == "log" and not len(axis.get_minorticklocs())
    curve = [{"decile": d, "predicted_usd": 0.0 if d < 3 else 10.0 ** d, "realised_usd": 10.0 ** (d - 1)}
             for d in range(1, 11)]
    path = plots.reliability_png({s: {"reliability_curve": curve, "total_ratio": 2.0} for s in ("long", "short")},
                                 "t", tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _laid_out(fig) -> list:
    """Draw a picture and check its fixed margins hold: every artist inside the figure, and no two axes (their tick
    labels, labels and titles included) overlapping. Returns the axes' tight boxes (inches), in fig.axes order."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    whole = fig.get_tightbbox(renderer)
    assert whole.x0 >= 0 and whole.y0 >= 0 and whole.x1 <= width and whole.y1 <= height, (whole, width, height)
    boxes = [a.get_tightbbox(renderer).transformed(fig.dpi_scale_trans.inverted()) for a in fig.axes]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0
            assert apart, (a, b)
    return boxes


# `liq heatmap --format png`'s title over a history shorter than its timeframe: the clause on a line of its own
SHORT_HISTORY_TITLE = ("BTCUSDT estimated liquidation heatmap (flow model), 90d to 2026-05-04 23:00 UTC\n"
                       "the data holds 29.9 days of the 90d, from 2026-04-06 00:00 UTC")


@pytest.mark.parametrize("with_panel,title", [(False, "BTCUSDT 2026-04: flow model levels"),
                                              (True, "BTCUSDT 2026-04: flow model levels"),
                                              (False, SHORT_HISTORY_TITLE)],
                         ids=["the map", "with the realised panel", "a short history's two-line title"])
def test_the_heatmap_picture_keeps_every_label_inside_and_its_colour_bars_beside_the_map(with_panel, title):
    """The heatmap is laid out by fixed margins (the constrained layout was a third of its time): on six-digit
    prices and a month of dates, nothing may fall off the picture or under another part of it (its title
    included: on one line, the CLI's title over a short history ran off both sides of the PNG)."""
    from liq_pipeline.lib.validation import plots

    times = pd.date_range("2026-04-01", periods=30 * 24, freq="1h", tz="UTC")
    price = 99_000 + 2_000 * np.sin(np.arange(len(times)) / 50)
    lows = 90_000 * 1.0025 ** np.arange(80)
    rows = [(t, "long" if low < p else "short", low, low * 1.0025, 1e6 * (1 + (i * 7 + j) % 5), p)
            for i, (t, p) in enumerate(zip(times[::6], price[::6])) for j, low in enumerate(lows)]
    window = pd.DataFrame(rows, columns=["ts", "side", "price_low", "price_high", "usd", "price"])
    events = pd.DataFrame({"ts": times[::40], "side": "long", "price": price[::40], "notional_usd": 5e5})
    realised = pd.DataFrame({"ts": times, "long_usd": 1e6, "short_usd": 2e6}) if with_panel else None
    fig = plots.heatmap_figure(window, title, events, realised, kind="simulated")
    boxes = _laid_out(fig)
    is_bar = [hasattr(a, "_colorbar") for a in fig.axes]     # matplotlib marks a colour bar's axes so
    maps = [b for b, bar in zip(boxes, is_bar) if not bar]
    bars = sorted((b for b, bar in zip(boxes, is_bar) if bar), key=lambda b: b.x0)
    assert len(maps) == (2 if with_panel else 1) and len(bars) == 2
    assert max(b.x1 for b in maps) <= bars[0].x0 and bars[0].x1 <= bars[1].x0      # the bars right of the map
    dates = [a for a, bar in zip(fig.axes, is_bar) if not bar][-1].get_xticklabels()
    assert {round(t.get_rotation()) for t in dates if t.get_text()} == {30}


def test_the_months_other_pictures_keep_every_label_inside_and_apart(tmp_path, monkeypatch):
    from liq_pipeline.lib.validation import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({f"{k}_{s}": np.exp(rng.normal(14, 3, 720))
                          for k in ("pred", "real") for s in ("long", "short")})
    plots.skill_scatter(frame, "BTCUSDT 2026-04: flow model, predicted vs realised liquidated USD per 1h bar",
                        tmp_path / "s.png")
    curve = [{"decile": d, "predicted_usd": 0.0 if d < 3 else 10.0 ** d, "realised_usd": 10.0 ** (d - 1)}
             for d in range(1, 11)]
    plots.reliability_png({s: {"reliability_curve": curve, "total_ratio": 13.5} for s in ("long", "short")},
                          "BTCUSDT 2026-04: flow model, realised vs predicted liquidated USD per 1h bar",
                          tmp_path / "r.png")
    lookbacks, tolerances = (0, 1, 5, 15), (0.1, 0.25, 0.5, 1.0)
    grid = {f"{lb}m|{t:.2f}%": {"all": {"hit_rate": 0.1 * i}} for i, (lb, t) in
            enumerate((lb, t) for lb in lookbacks for t in tolerances)}
    plots.hit_grid_png(grid, lookbacks, tolerances, "BTCUSDT 2026-04: flow zones, hit rate", tmp_path / "h.png")
    assert len(figures) == 3
    for fig in figures:
        _laid_out(fig)
