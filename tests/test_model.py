"""The estimator: hand-checked book cases, conservation, no look-ahead, the volume profile."""
import dataclasses
import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.io import storage
from liq_pipeline.lib.market.liqprice import BracketArrays
from liq_pipeline.lib.model.book import LONG, SHORT, Snapshot, entry_ranges, init_state, run_flow
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_day, sim_frames
from liq_pipeline.lib.model.profile import nice_width, volume_profile
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.scenario import Scenario

BR = BracketArrays.of(brackets.load("BTCUSDT"))
# One leverage, one size, one entry point, no decay, no tilts: every number below is checkable by hand.
SIMPLE = ModelConfig(leverages=(10,), leverage_mix=(1.0,), sizes_usd=(10_000,), size_weights=(1.0,), entry_points=1,
                     decay_half_life_hours=None, turnover_decay=None, flow_weight=1.0, funding_tilt_per_bp=0.0,
                     candle_tilt=0.0)
H = 3_600_000


def bars(*rows):
    return pd.DataFrame(rows, columns=["open_time", "open", "high", "low", "close", "volume", "taker_buy_volume"])


def oi(*points):
    return pd.DataFrame(points, columns=["ts", "oi_contracts"])


NO_FUNDING = pd.DataFrame({"ts": np.array([], np.int64), "funding_rate": np.array([], float)})


def test_one_bar_of_oi_increase():
    state = init_state(100.0, 0, SIMPLE, 1)
    state.qty[:] = 0
    run = run_flow(bars((0, 100, 101, 99, 100, 10.0, 6.0)), oi((0, 0.0), (H, 10.0)), NO_FUNDING, SIMPLE, BR, state, H)
    q, g = run.state.qty, run.state.grid
    # entry 100 (middle of 99..101); 10x, $10k: bracket 1 (MMR 0.4%, cum 0)
    long_lp, short_lp = 100 * 0.9 / 0.996, 100 * 1.1 / 1.004
    assert q[LONG, 0, g.index(long_lp)] == pytest.approx(6.0)      # long share = taker buys 60%
    assert q[SHORT, 0, g.index(short_lp)] == pytest.approx(4.0)
    assert q.sum() == pytest.approx(10.0)
    assert run.predicted.notional_usd.sum() == 0


def test_one_crossing_then_one_oi_decrease():
    state = init_state(100.0, 0, SIMPLE, 1)
    first = run_flow(bars((0, 100, 101, 99, 100, 10.0, 6.0)), oi((0, 0.0), (H, 10.0)), NO_FUNDING, SIMPLE, BR, state, H)
    g = first.state.grid
    long_bin = g.index(100 * 0.9 / 0.996)
    # bar 2 falls to 90.0 < 90.36: the 6 long contracts are liquidated; OI drops to 4 with them
    second = run_flow(bars((H, 100, 100, 90.0, 95, 10.0, 5.0)), oi((2 * H, 4.0)), NO_FUNDING, SIMPLE, BR, first.state, H)
    pred = second.predicted.set_index("side").notional_usd
    center = g.centers()[long_bin]
    assert pred["long"] == pytest.approx(6 * center) and abs(center / (100 * 0.9 / 0.996) - 1) < 0.001
    assert pred["short"] == 0
    q = second.state.qty
    assert q[LONG].sum() == 0 and q[SHORT].sum() == pytest.approx(4.0)
    # bar 3: OI halves with no crossing: closes proportionally, and the dead long level stays dead
    third = run_flow(bars((2 * H, 95, 96, 94, 95, 10.0, 5.0)), oi((3 * H, 2.0)), NO_FUNDING, SIMPLE, BR, second.state, H)
    q = third.state.qty
    assert q[SHORT].sum() == pytest.approx(2.0) and q[LONG, 0, long_bin] == 0
    assert third.predicted.notional_usd.sum() == 0


def test_new_levels_beyond_the_close_enter_at_the_close():
    # a 10x long entered at the bar's high (200) would liquidate at ~180.7; the bar closed at 150: it would
    # have died inside the bar, so the level is placed from the close instead (never above the price)
    cfg = dataclasses.replace(SIMPLE, entry_points=1)
    state = init_state(150.0, 0, cfg, 1)
    run = run_flow(bars((0, 200, 200, 150, 150, 10.0, 10.0)), oi((H, 10.0)), NO_FUNDING, cfg, BR, state, H)
    g, q = run.state.grid, run.state.qty
    levels = g.centers()[np.nonzero(q[LONG, 0])[0]]
    assert (levels < 150).all()


@pytest.mark.parametrize("volume", [5.0, 0.0])
def test_a_bar_turns_over_the_book_by_its_volume_over_the_open_interest(volume):
    # bar 1 opens 5 long and 5 short contracts at 100; bar 2 (range 100..101, crossing nothing) trades `volume`
    # against an OI of 10 at its start: it closes 1 - e^(-volume/10) of every level, and the OI reconciliation
    # re-opens that amount at its own entry (100.5), in other bins
    cfg = dataclasses.replace(SIMPLE, turnover_decay=1.0)
    first = run_flow(bars((0, 100, 101, 99, 100, 0.0, 0.0)), oi((0, 0.0), (H, 10.0)), NO_FUNDING, cfg, BR,
                     init_state(100.0, 0, cfg, 1), H)
    g = first.state.grid
    old = g.index(100 * 0.9 / 0.996), g.index(100 * 1.1 / 1.004)
    assert first.state.qty[LONG, 0, old[0]] == pytest.approx(5.0)
    second = run_flow(bars((H, 100, 101, 100, 100.5, volume, volume / 2)), oi((H, 10.0), (2 * H, 10.0)), NO_FUNDING,
                      cfg, BR, first.state, H)
    q, kept = second.state.qty, 5.0 * np.exp(-volume / 10.0)
    assert q[LONG, 0, old[0]] == pytest.approx(kept) and q[SHORT, 0, old[1]] == pytest.approx(kept)
    new = g.index(100.5 * 0.9 / 0.996), g.index(100.5 * 1.1 / 1.004)
    assert new[0] != old[0] and new[1] != old[1]
    assert q[LONG, 0, new[0]] == pytest.approx(5.0 - kept) and q[SHORT, 0, new[1]] == pytest.approx(5.0 - kept)
    assert q.sum() == pytest.approx(10.0) and second.predicted.notional_usd.sum() == 0


def test_high_leverage_rows_turn_over_faster_by_the_exponent():
    # rows 5x and 20x (L̄ = 10x, their geometric mean) with exponent 1 close at half and twice the book's rate:
    # 1 − e^(−0.5·v/OI) and 1 − e^(−2·v/OI) of each level; the OI is re-opened at the new bar, so the book stays at OI
    cfg = dataclasses.replace(SIMPLE, leverages=(5, 20), leverage_mix=(0.5, 0.5), turnover_decay=1.0,
                              leverage_turnover_exponent=1.0)

    def two_bars(cfg):
        """The book after a bar that opens OI 10 at 100, and after a second that trades 4 contracts."""
        first = run_flow(bars((0, 100, 101, 99, 100, 0.0, 0.0)), oi((0, 0.0), (H, 10.0)), NO_FUNDING, cfg, BR,
                         init_state(100.0, 0, cfg, 2), H)
        before = first.state.qty.copy()
        second = run_flow(bars((H, 100, 101, 100, 100.5, 4.0, 2.0)), oi((H, 10.0), (2 * H, 10.0)), NO_FUNDING, cfg,
                          BR, first.state, H)
        return before, second.state.qty

    before, q = two_bars(cfg)
    for row, rate in ((0, 0.5), (1, 2.0)):
        old = before[LONG, row] > 0
        assert q[LONG, row][old].sum() == pytest.approx(before[LONG, row][old].sum() * np.exp(-rate * 4.0 / 10.0))
    assert q.sum() == pytest.approx(10.0)
    before, alike = two_bars(dataclasses.replace(cfg, leverage_turnover_exponent=0.0))
    for row in (0, 1):
        old = before[LONG, row] > 0
        assert alike[LONG, row][old].sum() == pytest.approx(before[LONG, row][old].sum() * np.exp(-4.0 / 10.0))


@pytest.fixture(scope="module")
def sim_day():
    return sim_frames(simulate(Scenario.default(seed=5, start="2026-04-05", days=2)))


def _day(kl, o, f, day, prev=None, profile=None, cfg=ModelConfig()):
    lo, hi = pd.Timestamp(day, tz="UTC"), pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
    return estimate_day(day, kl[(kl.open_time >= lo) & (kl.open_time < hi)], o[o.ts < hi], f[f.ts < hi],
                        profile if profile is not None else volume_profile(kl[kl.open_time < lo], 50.0),
                        prev, cfg, BR)


def test_book_equals_open_interest_at_every_snapshot_for_both_models(sim_day):
    kl, o, f = sim_day
    d1 = _day(kl, o, f, dt.date(2026, 4, 5))
    d2 = _day(kl, o, f, dt.date(2026, 4, 6), prev=d1.state)
    snaps = pd.concat([d1.snapshots, d2.snapshots])
    assert set(snaps.model) == {"flow", "static"} and len(snaps) >= 90
    np.testing.assert_allclose(snaps.book_usd, snaps.oi_usd, rtol=1e-9)
    assert d2.cold_start is False and d2.snapshots_without_history == {"flow": 0, "static": 0}


def test_a_snapshot_holds_only_the_bins_with_levels_and_gives_the_whole_book_back():
    q = np.zeros((2, 5, 200))
    q[LONG, 1, 30:50] = np.linspace(1, 2, 20)
    q[SHORT, 4, 120] = 3.0
    scale = np.array([1.0, 0.5, 0.25, 2.0, 0.125])
    snap = Snapshot.of(7 * H, 65_000.0, q, scale)
    assert (snap.ts, snap.price, snap.first, snap.part.shape) == (7 * H, 65_000.0, 30, (2, 5, 91))
    np.testing.assert_array_equal(snap.book(200), q * scale[:, None])
    empty = Snapshot.of(0, 1.0, np.zeros((2, 5, 200)))
    assert empty.part.size == 0 and not empty.book(200).any()


def test_a_run_s_snapshots_are_its_book_at_each_hour(sim_day):
    """Each snapshot is the book a run ending at that hour leaves (the state, multiplied out)."""
    kl, o, f = sim_day
    b = kl.head(180).assign(open_time=lambda d: d.open_time.astype("int64"))
    oi_ms = o.assign(ts=o.ts.astype("int64"))[["ts", "oi_contracts"]]
    run = run_flow(b, oi_ms, NO_FUNDING, ModelConfig(), BR, None, 60_000)
    assert [s.ts for s in run.snapshots] == [int(t) for t in b.open_time if t % H == 0] and len(run.snapshots) == 3
    for snap in run.snapshots[1:]:
        upto = run_flow(b[b.open_time < snap.ts], oi_ms, NO_FUNDING, ModelConfig(), BR, None, 60_000,
                        keep_snapshots=False)
        np.testing.assert_allclose(snap.book(upto.state.grid.n), upto.state.qty, rtol=1e-12, atol=0)
        assert snap.price == upto.state.last_close


def test_flow_book_equals_open_interest_after_every_bar(sim_day):
    kl, o, f = sim_day
    b = kl.head(300).assign(open_time=lambda d: d.open_time.astype("int64"))
    oi_ms = o.assign(ts=o.ts.astype("int64"))[["ts", "oi_contracts"]]
    state = None
    for i in range(len(b)):
        run = run_flow(b.iloc[[i]], oi_ms, NO_FUNDING, ModelConfig(), BR, state, 60_000)
        state = run.state
        end = int(b.open_time.iloc[i]) + 60_000
        expected = oi_ms.oi_contracts[oi_ms.ts <= end].iloc[-1]
        assert state.total() == pytest.approx(expected, rel=1e-9)


def test_a_bar_enters_over_the_trailing_window_of_its_own_day():
    """The low..high a bar's new notional enters over: the bars that started less than the window before it, itself
    included, on its UTC day; an hourly bar keeps its own range under an hour's window."""
    m = 60_000
    day = 86_400_000
    starts = np.array([day - 2 * m, day - m, day, day + m, day + 2 * m, day + 62 * m], dtype=np.int64)
    lows = np.array([50.0, 60.0, 100.0, 95.0, 101.0, 102.0])
    highs = np.array([150.0, 140.0, 101.0, 120.0, 102.0, 103.0])
    lo, hi = entry_ranges(starts, lows, highs, 60 * m)
    assert lo.tolist() == [50.0, 50.0, 100.0, 95.0, 95.0, 102.0]       # the day's first bar sees none of the day before
    assert hi.tolist() == [150.0, 150.0, 101.0, 120.0, 120.0, 103.0]   # 62 minutes on, the earlier bars are out
    hourly = np.arange(4, dtype=np.int64) * H
    assert [a.tolist() for a in entry_ranges(hourly, lows[:4], highs[:4], 60 * m)] == [lows[:4].tolist(),
                                                                                        highs[:4].tolist()]


def test_the_entry_window_moves_a_minute_book_the_same_whether_run_whole_or_bar_by_bar(sim_day):
    """On 1m bars the window changes the book (entries over the trailing hour, not the minute), and a run split in
    parts, as the nowcast splits a day, carries the window's bars in its state: bar by bar gives the whole run's
    book. On hourly bars the window is each bar's own range, so the book is the one without it, bit for bit."""
    kl, o, _ = sim_day
    b = kl.head(240).assign(open_time=lambda d: d.open_time.astype("int64"))
    oi_ms = o.assign(ts=o.ts.astype("int64"))[["ts", "oi_contracts"]]
    whole = run_flow(b, oi_ms, NO_FUNDING, ModelConfig(), BR, None, 60_000).state
    own = run_flow(b, oi_ms, NO_FUNDING, ModelConfig(entry_window_minutes=0), BR, None, 60_000).state
    assert not np.allclose(whole.qty, own.qty)
    state = None
    for i in range(0, len(b), 7):                  # parts of 7 bars, as refreshes take what closed since the last
        state = run_flow(b.iloc[i:i + 7], oi_ms, NO_FUNDING, ModelConfig(), BR, state, 60_000).state
    np.testing.assert_allclose(state.qty, whole.qty, rtol=1e-12, atol=1e-9)
    g = b.assign(hour=b.open_time // H * H).groupby("hour")
    hourly = pd.DataFrame({"open_time": g.open_time.first() // H * H, "open": g.open.first(), "high": g.high.max(),
                           "low": g.low.min(), "close": g.close.last(), "volume": g.volume.sum(),
                           "taker_buy_volume": g.taker_buy_volume.sum()}).reset_index(drop=True)
    a = run_flow(hourly, oi_ms, NO_FUNDING, ModelConfig(), BR, None, H).state
    c = run_flow(hourly, oi_ms, NO_FUNDING, ModelConfig(entry_window_minutes=0), BR, None, H).state
    assert np.array_equal(a.qty, c.qty)


@pytest.mark.parametrize("cfg", [ModelConfig(), ModelConfig(turnover_decay=None, flow_weight=1.0)],
                         ids=["defaults (turnover decay)", "without the turnover decay"])
def test_no_look_ahead(sim_day, cfg):
    """Changing every input at or after ts leaves the snapshot at ts unchanged, for both models (and with the
    turnover decay, which reads each bar's volume)."""
    kl, o, f = sim_day
    day = dt.date(2026, 4, 6)
    prev = _day(kl, o, f, dt.date(2026, 4, 5), cfg=cfg).state
    ts = pd.Timestamp("2026-04-06 12:00", tz="UTC")
    base = _day(kl, o, f, day, prev=dataclasses.replace(prev, qty=prev.qty.copy()), cfg=cfg)
    rng = np.random.default_rng(0)
    kl2 = kl.copy()
    after = kl2.open_time >= ts
    shock = np.exp(rng.normal(0, 0.05, after.sum()))
    for c in ("open", "high", "low", "close"):
        kl2.loc[after, c] = kl2.loc[after, c] * shock
    kl2.loc[after, "volume"] *= rng.uniform(0.2, 5.0, after.sum())        # the flow book's turnover decay reads it
    kl2.loc[after, "taker_buy_volume"] = kl2.loc[after, "volume"] * rng.random(after.sum())
    o2 = o.copy()
    o2.loc[o2.ts > ts, "oi_contracts"] *= rng.uniform(0.5, 1.5, (o2.ts > ts).sum())
    f2 = f.copy()
    f2.loc[f2.ts >= ts, "funding_rate"] = 0.003
    changed = _day(kl2, o2, f2, day, prev=dataclasses.replace(prev, qty=prev.qty.copy()), cfg=cfg)
    for name in ("heatmap", "snapshots"):
        a, b = getattr(base, name), getattr(changed, name)
        pd.testing.assert_frame_equal(a[a.ts <= ts].reset_index(drop=True), b[b.ts <= ts].reset_index(drop=True))
        assert not a[a.ts > ts].reset_index(drop=True).equals(b[b.ts > ts].reset_index(drop=True))
    pa, pb = base.predicted, changed.predicted
    pd.testing.assert_frame_equal(pa[pa.ts < ts].reset_index(drop=True), pb[pb.ts < ts].reset_index(drop=True))


def test_volume_profile_spreads_each_bar_over_its_range():
    b = pd.DataFrame({"low": [100.0, 104.0], "high": [110.0, 104.0], "quote_volume": [1000.0, 300.0],
                      "taker_buy_quote_volume": [400.0, 300.0]})
    p = volume_profile(b, 5.0)
    assert p.price_low.tolist() == [100.0, 105.0]
    assert p.volume_usd.tolist() == pytest.approx([500.0 + 300.0, 500.0])      # a flat bar is a point
    assert p.taker_buy_usd.tolist() == pytest.approx([200.0 + 300.0, 200.0])
    assert nice_width(67_000) == 50 and nice_width(3_000) == 2 and nice_width(0.5) == 0.0005


def test_volume_profile_asset_on_first_days_and_gaps(tmp_path):
    from liq_pipeline.defs.model.assets import volume_profile_asset
    from liq_pipeline.defs.resources import StorageResource

    day = dt.date(2026, 5, 1)
    for back in (9, 5, 1):                         # three days of history, with gaps between them
        d = day - dt.timedelta(days=back)
        t = pd.date_range(pd.Timestamp(d, tz="UTC"), periods=24, freq="1h").as_unit("ms")
        kl = pd.DataFrame({"symbol": "BTCUSDT", "open_time": t, "interval": "1h", "open": 100.0, "high": 101.0,
                           "low": 99.0, "close": 100.0, "volume": 1.0, "quote_volume": 100.0, "trades": 1,
                           "taker_buy_volume": 0.5, "taker_buy_quote_volume": 50.0})
        storage.write_partition(kl, tmp_path, "clean", "klines", "BTCUSDT", d)
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("symbol", ["BTCUSDT"])
        res = dg.materialize([volume_profile_asset], instance=inst, resources={"storage": StorageResource(data_dir=str(tmp_path))},
                             partition_key=dg.MultiPartitionKey({"date": day.isoformat(), "symbol": "BTCUSDT"}))
        md = res.asset_materializations_for_node("volume_profile")[0].metadata
        gate = res.get_asset_check_evaluations()
        assert len(gate) == 1 and gate[0].passed and gate[0].partition == f"{day}|BTCUSDT"
        assert md["days_used"].value == 3 and md["first_days_of_history"].value is True
        prof = storage.read_partition(tmp_path, "model", "volume_profile", "BTCUSDT", day)
        assert prof.volume_usd.sum() == pytest.approx(3 * 24 * 100.0)
        assert (prof.date == "2026-05-01").all()
        # the gate alone (the asset deselected, as a rerun of the check from the UI) validates what is stored
        storage.write_partition(prof.assign(volume_usd=-prof.volume_usd), tmp_path, "model", "volume_profile",
                                "BTCUSDT", day)
        from liq_pipeline.defs.partitions import range_tags
        gate_job = dg.define_asset_job("gate_alone", dg.AssetSelection.checks_for_assets(volume_profile_asset))
        alone = dg.Definitions(assets=[volume_profile_asset], jobs=[gate_job],
                               resources={"storage": StorageResource(data_dir=str(tmp_path))}) \
            .resolve_job_def("gate_alone").execute_in_process(instance=inst, raise_on_error=False,
                                                              tags=range_tags(day, day, "BTCUSDT"))
        gate = alone.get_asset_check_evaluations()
        assert not alone.asset_materializations_for_node("volume_profile")
        assert len(gate) == 1 and not gate[0].passed and gate[0].partition == f"{day}|BTCUSDT"
        assert "volume_usd" in gate[0].description, gate[0].description


def test_model_configuration_is_validated():
    with pytest.raises(ValueError, match="leverage_mix .* must be non-negative and sum to 1"):
        ModelConfig(leverage_mix=(0.5, 0.5, 0.5, 0.2, 0.1))
    with pytest.raises(ValueError, match="differ in length"):
        ModelConfig(leverages=(10, 20))


def test_the_profile_window_carried_on_a_day_equals_the_one_built_anew():
    from liq_pipeline.lib.model.profile import ProfileWindow, spread_volume

    res = simulate(Scenario.default(days=6, start="2026-04-05", seed=5))
    kl, _, _ = sim_frames(res)
    day = lambda i: pd.Timestamp("2026-04-05", tz="UTC") + pd.Timedelta(days=i)  # noqa: E731
    between = lambda a, b: kl[(kl.open_time >= day(a)) & (kl.open_time < day(b))].reset_index(drop=True)  # noqa: E731
    window = ProfileWindow.of(between(0, 3))
    carried = window.advance(between(3, 4), day(1).strftime("%Y-%m-%d"))
    built = ProfileWindow.of(between(1, 4))
    assert carried is not None and list(carried.parts) == list(built.parts)
    pd.testing.assert_frame_equal(carried.profile(), built.profile(), check_exact=True)        # bit for bit
    again = ProfileWindow.from_bytes(carried.to_bytes())
    pd.testing.assert_frame_equal(again.profile(), carried.profile(), check_exact=True)
    # the same profile as spreading every bar of the window at once (the definition), to float rounding
    bars = between(1, 4)
    edges, (volume,) = spread_volume(bars.low.to_numpy(), bars.high.to_numpy(), [bars.quote_volume.to_numpy()], built.width)
    whole = pd.DataFrame({"price_low": edges[:-1], "volume_usd": volume})
    whole = whole[whole.volume_usd > 0].reset_index(drop=True)
    np.testing.assert_allclose(built.profile().volume_usd, whole.volume_usd, rtol=1e-12)
    np.testing.assert_allclose(built.profile().price_low, whole.price_low, rtol=0)
    # where carrying on would differ from building anew, it declines: a finer interval enters, or the width moves
    coarse = ProfileWindow.of(between(0, 3).assign(interval="5m"))
    assert coarse.advance(between(3, 4), day(1).strftime("%Y-%m-%d")) is None
    moved = between(3, 4).assign(close=lambda d: d.close * 3)
    assert window.advance(moved, day(1).strftime("%Y-%m-%d")) is None
