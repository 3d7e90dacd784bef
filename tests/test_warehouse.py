"""The warehouse's incremental build: a run's days replace exactly their rows of the sorted tables, the result equals
a full build, no other partition is read (a day's cost does not grow with history), and a changed registry
rebuilds in full."""
import datetime as dt
import shutil

import duckdb
import pandas as pd
import pytest

from liq_pipeline.lib.io import schemas, warehouse
from liq_pipeline.lib.io.storage import DataLayout, partition_file, warehouse_path
from liq_pipeline.lib.model import levels_query

TABLES = {"heatmap_levels": "model", "klines": "clean"}
COARSE = levels_query.coarse_tables()        # what the pipeline's warehouse step keeps beside heatmap_levels
D0 = dt.date(2026, 4, 5)


def levels(symbol: str, day: dt.date, scale: float) -> pd.DataFrame:
    ts = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=24, freq="1h").as_unit("ms")
    rows = [{"symbol": symbol, "model": m, "ts": t, "side": side, "bucket": b, "price_low": 100.0 + b,
             "price_high": 101.0 + b, "notional_usd": scale * (b + 1), "price": 100.0}
            for m in ("flow", "static") for t in ts for side in ("long", "short") for b in range(3)]
    return schemas.conform(pd.DataFrame(rows), "heatmap_levels")


def klines(symbol: str, day: dt.date) -> pd.DataFrame:
    return pd.DataFrame({"symbol": symbol, "open_time": pd.date_range(pd.Timestamp(day, tz="UTC"), periods=5,
                                                                     freq="1min").as_unit("ms")})


def rows(root, table: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse_path(root)), read_only=True)
    try:
        return con.sql(f"SELECT * FROM {table} ORDER BY ALL").to_arrow_table().to_pandas()   # .df() warns in pandas 3
    finally:
        con.close()


def test_an_incremental_build_replaces_the_runs_days_and_equals_a_full_one(tmp_path):
    root = tmp_path / "data"
    layout = DataLayout(root)
    for sym in ("BTCUSDT", "ETHUSDT"):
        for i in range(3):
            day = D0 + dt.timedelta(days=i)
            layout.write(levels(sym, day, 1.0), "model", "heatmap_levels", sym, day)
            layout.write(klines(sym, day), "clean", "klines", sym, day)
    full = warehouse.build(root, TABLES, derived=COARSE)
    assert full == {"heatmap_levels": 2 * 3 * 288, "klines": 2 * 3 * 5}        # 288 level rows a day

    # a run rewrites BTCUSDT's second day and adds its fourth; an old partition it did not write is unreadable
    layout.write(levels("BTCUSDT", D0 + dt.timedelta(days=1), 7.0), "model", "heatmap_levels", "BTCUSDT",
                 D0 + dt.timedelta(days=1))
    layout.write(levels("BTCUSDT", D0 + dt.timedelta(days=3), 3.0), "model", "heatmap_levels", "BTCUSDT",
                 D0 + dt.timedelta(days=3))
    layout.write(klines("BTCUSDT", D0 + dt.timedelta(days=3)), "clean", "klines", "BTCUSDT", D0 + dt.timedelta(days=3))
    reference = tmp_path / "reference"
    shutil.copytree(root, reference)
    partition_file(root, "model", "heatmap_levels", "ETHUSDT", D0).write_bytes(b"not parquet")
    counts = warehouse.build(root, TABLES, changed={"BTCUSDT": [D0 + dt.timedelta(days=1), D0 + dt.timedelta(days=3)]},
                             derived=COARSE)
    assert counts == {"heatmap_levels": (4 + 3) * 288, "klines": None}

    (reference / "warehouse.duckdb").unlink()
    warehouse.build(reference, TABLES, derived=COARSE)        # a full build of the same partitions
    for table in ["heatmap_levels", *(f"{warehouse.DERIVED}.{name}" for name in COARSE)]:
        pd.testing.assert_frame_equal(rows(root, table), rows(reference, table))
    # the coarse timeframes' rows followed the replaced day: 90d's daily snapshots (one a day, the three stored
    # buckets in one of its), 7d's every 4 hours (in two of its)
    coarse = rows(root, f"{warehouse.DERIVED}.heatmap_levels_90d")
    assert len(coarse[coarse.symbol == "BTCUSDT"]) == 4 * 2 * 2 * 1 and \
        set(coarse[(coarse.symbol == "BTCUSDT") & (coarse.ts.dt.date == D0 + dt.timedelta(days=1))].usd) == {42.0}
    assert len(rows(root, f"{warehouse.DERIVED}.heatmap_levels_7d")) == (4 + 3) * 6 * 2 * 2 * 2
    got = rows(root, "heatmap_levels")
    day2 = got[(got.symbol == "BTCUSDT") & (got.ts.dt.date == D0 + dt.timedelta(days=1))]
    assert len(day2) == 288 and set(day2.notional_usd) == {7.0, 14.0, 21.0}          # replaced, not added to
    con = duckdb.connect(str(warehouse_path(root)), read_only=True)
    assert con.execute("SELECT count(*) FROM klines WHERE symbol = 'BTCUSDT'").fetchall() == [(4 * 5,)]  # views redefined
    con.close()


def test_a_changed_registry_or_a_first_build_is_full(tmp_path):
    root = tmp_path / "data"
    layout = DataLayout(root)
    layout.write(levels("BTCUSDT", D0, 1.0), "model", "heatmap_levels", "BTCUSDT", D0)
    layout.write(levels("BTCUSDT", D0 + dt.timedelta(days=1), 1.0), "model", "heatmap_levels", "BTCUSDT", D0 + dt.timedelta(days=1))
    # no warehouse yet: full, whatever `changed` says
    assert warehouse.build(root, {"heatmap_levels": "model"}, changed={"BTCUSDT": [D0]}) == {"heatmap_levels": 576}
    # another registry (a table added): full again, so the new table has every partition
    layout.write(klines("BTCUSDT", D0), "clean", "klines", "BTCUSDT", D0)
    assert warehouse.build(root, TABLES, changed={"BTCUSDT": [D0]}) == {"heatmap_levels": 576, "klines": 5}
    assert warehouse.registry_fingerprint(TABLES) != warehouse.registry_fingerprint({"heatmap_levels": "model"})
    # so does one with the coarse timeframes added or changed
    assert warehouse.registry_fingerprint(TABLES, COARSE) != warehouse.registry_fingerprint(TABLES)


@pytest.mark.parametrize("coarse", [True, False], ids=["coarse timeframes pre-grouped", "heatmap_levels alone"])
def test_the_heatmap_query_shows_the_windows_snapshots_and_each_buckets_now_and_peak(tmp_path, coarse):
    """levels_query (what `liq heatmap` prints) against pandas on the same rows: the timeframe's stride-aligned
    snapshots up to `at` (and `at`), per bucket the notional at the latest of them and the window's peak. The same
    from the warehouse's pre-grouped coarse timeframes as from heatmap_levels alone (a server's view of it)."""
    import math

    import numpy as np

    root = tmp_path / "data"
    layout = DataLayout(root)
    rng = np.random.default_rng(3)
    for d in range(9):
        day = D0 + dt.timedelta(days=d)
        ts = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=24, freq="1h").as_unit("ms")
        price = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.003, 24)) + 0.002 * d)
        rows_ = [{"symbol": "BTCUSDT", "model": "flow", "ts": t, "side": side, "bucket": b,
                  "price_low": 0.0, "price_high": 0.0, "notional_usd": float(rng.uniform(1e5, 1e7)), "price": p}
                 for t, p in zip(ts, price) for side, bs in (("long", range(1800, 1843)), ("short", range(1845, 1890)))
                 for b in bs if rng.random() < 0.7]
        layout.write(schemas.conform(pd.DataFrame(rows_), "heatmap_levels"), "model", "heatmap_levels", "BTCUSDT", day)
    # without them, the warehouse is as a build before them made it (no `derived` schema at all)
    warehouse.build(root, {"heatmap_levels": "model"}, derived=COARSE if coarse else None)
    every = rows(root, "heatmap_levels")
    every_ms = (every.ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    con = warehouse.connect_read_only(root)
    last = every["ts"].max()
    for timeframe, at in [("1d", None), ("7d", last - pd.Timedelta(hours=30, minutes=30)), ("7d", None), ("30d", None),
                          ("90d", last - pd.Timedelta(days=2)), ("30d", last - pd.Timedelta(days=3, hours=12)),
                          ("7d", last - pd.Timedelta(hours=3))]:         # the last an aligned snapshot itself
        window, stride, mult, span = levels_query.TIMEFRAMES[timeframe]
        view = levels_query.query(con, "BTCUSDT", "flow", at, timeframe, window=True)
        end = last if at is None else at
        shown = every[(every.ts > end - window) & (every.ts <= end)
                      & ((every_ms % (stride // dt.timedelta(milliseconds=1)) == 0) | (every.ts == end))]
        assert {r[0] for r in view.window} <= set(every_ms[shown.index])
        lv = shown.assign(b=shown.bucket // mult).groupby(["ts", "side", "b"], as_index=False) \
            .agg(usd=("notional_usd", "sum"), price=("price", "first"))
        now = lv[lv.ts == lv.ts.max()]
        price_now = now.price.iloc[0]
        assert view.ts == now.ts.iloc[0].to_pydatetime() and view.price == price_now
        # the window's first snapshot: nine days of data fill the 7d and 1d views, not the 30d one
        assert view.first == lv.ts.min().to_pydatetime()
        assert view.short_of_timeframe == (timeframe in ("30d", "90d"))
        lo, hi = lv.price.min() * (1 - span), lv.price.max() * (1 + span)
        low_of = lambda b: math.exp(b * mult * levels_query.LOG_BUCKET)
        band = lambda b: low_of(b) >= price_now * (1 - span) * (1 - levels_query.BUCKET * mult) and \
            low_of(b + 1) <= price_now * (1 + span) * (1 + levels_query.BUCKET * mult) and lo <= low_of(b) <= hi
        want = {}
        for (side, b), g in lv.groupby(["side", "b"]):
            if band(b):
                level = want.setdefault(b, {"long_usd": 0.0, "long_peak_usd": 0.0, "short_usd": 0.0, "short_peak_usd": 0.0})
                level[f"{side}_peak_usd"] = g.usd.max()
                level[f"{side}_usd"] = g.usd[g.ts == now.ts.iloc[0]].sum()
        assert [round(lv_["price_low"], 9) for lv_ in view.levels] == [round(low_of(b), 9) for b in sorted(want, reverse=True)]
        for got, b in zip(view.levels, sorted(want, reverse=True)):
            for k, v in want[b].items():
                assert got[k] == pytest.approx(v, rel=1e-12), (timeframe, b, k)
        assert len(view.levels) > 5 and any(lv_["long_usd"] for lv_ in view.levels) and any(lv_["short_usd"] for lv_ in view.levels)
    # what a request for a symbol or model without a map is told: the symbols with one, or that there are none
    assert levels_query.query(con, "ETHUSDT", "flow", None, "1d") is None
    assert levels_query.held_symbols(con, "flow") == ["BTCUSDT"] and levels_query.held_symbols(con, "static") == []
    assert levels_query.not_found("BTCUSDT", "flow", ["BTCUSDT"]) == ""
    assert levels_query.not_found("ETHUSDT", "flow", ["BTCUSDT", "SOLUSDT"]) == \
        "ETHUSDT is not among the symbols with a flow heatmap: BTCUSDT, SOLUSDT"
    assert levels_query.not_found("BTCUSDT", "static", []) == \
        "the warehouse holds no static heatmap yet (`liq run` makes them)"
    con.close()
    if coarse:
        # the coarse windows are read from the pre-grouped table: emptied, 30d's holds the snapshot shown alone
        with duckdb.connect(str(warehouse_path(root))) as rw:
            rw.execute(f"DELETE FROM {warehouse.DERIVED}.heatmap_levels_30d")
        with warehouse.connect_read_only(root) as con:
            view = levels_query.query(con, "BTCUSDT", "flow", None, "30d", window=True)
            assert view.first == view.ts and {r[0] for r in view.window} == {view.ts.timestamp() * 1000}
