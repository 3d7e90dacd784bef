"""The simulated market: determinism, exchange invariants, throttled stream, emitted shapes."""
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from liq_pipeline.lib.io.clean import clean_partition
from liq_pipeline.lib.sim.emit import throttle
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.scenario import Scenario
from liq_pipeline.lib.sim.source import SimulatedSource

# A short, eventful scenario: a crash day makes cascades certain.
SC = Scenario.default(seed=11, start="2026-04-05", days=3, regimes=("normal", "crash", "trending"))


@pytest.fixture(scope="module")
def sim():
    return simulate(SC)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = SimulatedSource(tmp_path_factory.mktemp("raw"), SC)
    src.pull("klines", "BTCUSDT", SC.start_date)
    return src


def test_same_seed_same_bytes(tmp_path, source):
    other = SimulatedSource(tmp_path, SC)
    other.pull("klines", "BTCUSDT", SC.start_date)
    mine, theirs = source.market("BTCUSDT").mirror, other.market("BTCUSDT").mirror
    a = sorted(p.relative_to(mine) for p in mine.rglob("*") if p.is_file())
    b = sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
    assert a == b and len(a) > 20
    for rel in a:
        assert (mine / rel).read_bytes() == (theirs / rel).read_bytes(), rel


def test_another_seed_another_market():
    a = simulate(Scenario.default(seed=1, days=1))
    b = simulate(Scenario.default(seed=2, days=1))
    assert not np.allclose(a.klines.close.to_numpy(), b.klines.close.to_numpy())
    assert not np.allclose(a.leverage_mix, b.leverage_mix)        # the mix is drawn per scenario


def test_open_interest_counts_each_contract_once(sim):
    oi = sim.open_interest
    longs = oi.taker_long_qty + oi.maker_long_qty
    shorts = oi.taker_short_qty + oi.maker_short_qty
    np.testing.assert_allclose(longs, oi.oi_contracts, rtol=1e-9)
    np.testing.assert_allclose(shorts, oi.oi_contracts, rtol=1e-9)
    assert len(oi) == 3 * 288 + 1      # 00:00 of each day .. 00:00 after the last


def test_open_interest_equals_the_book_at_every_snapshot(sim):
    """OI is kept as running sums of every flow; the snapshots count the open positions themselves."""
    pos = sim.positions.groupby("ts").qty.sum()
    oi = sim.open_interest.set_index("ts")
    common = pos.index.intersection(oi.index)
    assert len(common) == len(pos) >= 18       # every snapshot (4-hourly, 3 days) meets an OI stamp
    np.testing.assert_allclose(pos.loc[common], oi.oi_contracts.loc[common], rtol=1e-9)
    by_side = sim.positions.groupby(["ts", "side"]).qty.sum().unstack()
    np.testing.assert_allclose(by_side["long"].loc[common], oi.taker_long_qty.loc[common], rtol=1e-9)
    np.testing.assert_allclose(by_side["short"].loc[common], oi.taker_short_qty.loc[common], rtol=1e-9)


def test_no_open_position_lies_beyond_its_liquidation_price(sim):
    closes = sim.klines.set_index(sim.klines.open_time + 60_000).close   # price just before each snapshot
    pos = sim.positions[sim.positions.ts > sim.positions.ts.min()]
    price = closes.reindex(pos.ts).to_numpy()
    long = pos.side.to_numpy() == "long"
    assert (pos.liq_price.to_numpy()[long] < price[long]).all()
    assert (pos.liq_price.to_numpy()[~long] > price[~long]).all()


def test_every_liquidation_happened_in_a_bar_that_crossed_its_price(sim):
    liq = sim.liquidations
    assert len(liq) > 100 and set(liq.side) == {"long", "short"}
    bar = sim.klines.set_index("open_time").loc[(liq.ts // 60_000) * 60_000]
    assert (bar.low.to_numpy() <= liq.liq_price.to_numpy() + 1e-6).all()
    assert (bar.high.to_numpy() >= liq.liq_price.to_numpy() - 1e-6).all()
    assert liq.position_id.is_unique                                    # a position dies once
    # and a dead position never reappears in a later snapshot
    died = liq.set_index("position_id").ts
    later = sim.positions.merge(died.rename("died").reset_index(), on="position_id")
    assert (later.ts <= later.died).all()


def test_liquidation_orders_move_price():
    """Same seed with and without impact: identical until the first liquidation; that bar reaches further."""
    import dataclasses
    with_impact = simulate(SC)
    without = simulate(dataclasses.replace(SC, liq_impact_per_musd=0.0))
    first = int(with_impact.liquidations.ts.min() // 60_000 * 60_000)
    k1, k0 = with_impact.klines.set_index("open_time"), without.klines.set_index("open_time")
    before = k1.index < first
    np.testing.assert_allclose(k1[before].close, k0[before].close)
    side = with_impact.liquidations[with_impact.liquidations.ts // 60_000 * 60_000 == first].side.iloc[0]
    if side == "long":     # long liquidations sell: the low goes lower
        assert k1.loc[first, "low"] < k0.loc[first, "low"]
    else:
        assert k1.loc[first, "high"] > k0.loc[first, "high"]
    assert not np.allclose(k1.close, k0.close)                      # and the path differs from then on


def test_funding_every_8_hours_from_the_imbalance(sim):
    f = sim.funding
    assert len(f) == 3 * 3 + 1         # 00:00, 08:00, 16:00 each day, and 00:00 after the last
    assert ((f.calc_time // 1000) % (8 * 3600) < 1).all()          # on the hour, ms jitter only
    assert (f.funding_rate.abs() <= SC.funding_cap).all() and f.funding_rate.std() > 0


def test_force_order_stream_is_a_throttled_subset_of_the_truth(sim):
    stream = throttle(sim.liquidations)
    assert 0 < len(stream) < len(sim.liquidations)
    assert (stream.ts // 1000).is_unique                              # ≤ 1 per symbol per second
    assert set(stream.position_id) <= set(sim.liquidations.position_id)
    # in each second, it is the latest order that is pushed
    last = sim.liquidations.groupby(sim.liquidations.ts // 1000).ts.max()
    assert (stream.set_index(stream.ts // 1000).ts == last.loc[stream.ts // 1000].to_numpy()).all()


def test_emitted_files_parse_with_the_real_parsers(source):
    day = SC.start_date + dt.timedelta(days=1)
    out = {}
    for ds in ("klines", "open_interest", "funding", "liquidation_events", "liquidation_bars", "sim_positions", "sim_liquidations"):
        pulled = source.pull(ds, "BTCUSDT", day)
        df, report = clean_partition(ds, "BTCUSDT", day, {"source": "simulated", "files": [f.to_dict() for f in pulled.files]},
                                     source.raw_root)
        out[ds] = df
        assert report.gaps == {}, ds
    assert len(out["klines"]) == 1440 and set(out["klines"].interval) == {"1m"}
    assert len(out["open_interest"]) == 288 and len(out["funding"]) == 3
    assert (out["klines"].taker_buy_volume <= out["klines"].volume).all()
    ev, truth = out["liquidation_events"], out["sim_liquidations"]
    assert 0 < len(ev) <= len(truth) and set(ev.side) <= {"long", "short"}
    assert ev.avg_price.notna().all()
    bars = out["liquidation_bars"]
    assert bars.long_usd.sum() + bars.short_usd.sum() == pytest.approx(truth.notional_usd.sum(), rel=1e-6)


def test_a_day_outside_the_scenario_is_refused(source):
    with pytest.raises(Exception, match=r"partition 2026-04-09\|BTCUSDT: outside the simulated scenario 2026-04-05..2026-04-07"):
        source.pull("klines", "BTCUSDT", dt.date(2026, 4, 9))


def test_optional_agg_trades(tmp_path):
    import dataclasses
    sc = dataclasses.replace(SC, days=1, regimes=("crash",), agg_trades=True)
    with_trades, without = simulate(sc), simulate(dataclasses.replace(sc, agg_trades=False))
    pd.testing.assert_frame_equal(with_trades.klines, without.klines)      # the market itself is unchanged
    assert without.agg_trades is None
    src = SimulatedSource(tmp_path, sc)
    pulled = src.pull("agg_trades", "BTCUSDT", sc.start_date)
    assert pulled.available and pulled.files[0].format == "archive-zip"
    df, _ = clean_partition("agg_trades", "BTCUSDT", sc.start_date, {"source": "simulated", "files": [f.to_dict() for f in pulled.files]},
                            src.raw_root)
    assert len(df) > 1000 and df.agg_trade_id.is_unique and df.ts.is_monotonic_increasing
    # every liquidation is among the trades (a sell for a long), and no bar trades more than its volume
    liq = with_trades.liquidations
    assert len(df) >= len(liq)
    per_bar = df.groupby(df.ts.astype("int64") // 60_000 * 60_000).qty.sum()
    vol = with_trades.klines.set_index("open_time").volume
    assert (per_bar <= vol.reindex(per_bar.index) + 0.01).all()


def test_no_position_is_smaller_than_the_lot_step():
    """A market of $60 median positions (most below BTCUSDT's 0.001 lot at ~$80k): every position, and so every
    liquidation order the tape carries, is at least one lot. A year of the default market drew one such position
    and its forceOrder said q=0.000, which the clean gate refused."""
    from liq_pipeline.lib.sim.emit import _force_order_lines

    sc = Scenario.default(seed=5, days=1, size_median_usd=60.0, target_oi_usd=2e6)
    res = simulate(sc)
    lot = 10.0 ** -sc.qty_decimals
    assert len(res.liquidations) > 10
    assert res.positions.qty.min() >= lot and res.liquidations.qty.min() >= lot
    orders = [json.loads(line)["o"]["q"] for line in _force_order_lines(res.liquidations, sc.symbol).splitlines()]
    assert min(float(q) for q in orders) >= lot


def test_a_market_of_5m_bars_is_asked_for_with_intervals(tmp_path):
    """`liq run --intervals 5m` on the simulated source: the market is made at 5m bars (its own scenario, so a 1m
    mirror is not reused), and what it emits cleans like the archive's 5m files. One bar interval only."""
    from liq_pipeline.defs.resources import SimulatedFeed

    res = SimulatedFeed(interval="5m", start="2026-04-05", days=1)
    sc = res.scenario("BTCUSDT")
    assert sc.interval_s == 300 and sc.scenario_id() != SimulatedFeed(start="2026-04-05",
                                                                      days=1).scenario("BTCUSDT").scenario_id()
    src = res.open(tmp_path)
    day = dt.date(2026, 4, 5)
    out = {}
    for ds in ("klines", "open_interest", "liquidation_bars", "sim_liquidations"):
        pulled = src.pull(ds, "BTCUSDT", day)
        out[ds], report = clean_partition(ds, "BTCUSDT", day, {"source": "simulated",
                                                               "files": [f.to_dict() for f in pulled.files]}, tmp_path)
        assert report.gaps == {}, ds
    assert len(out["klines"]) == 288 and set(out["klines"].interval) == {"5m"}
    assert len(out["open_interest"]) == 288 and len(out["sim_liquidations"]) > 0
    for bad in ("15m", "1h"):
        with pytest.raises(Exception, match="the simulated market has one bar interval, one of 1m, 5m"):
            SimulatedFeed(interval=bad)
