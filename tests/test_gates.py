"""Every great-expectations gate passes on real clean data and fails on each defect it exists to catch."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from liq_pipeline.lib.io import quality, schemas
from liq_pipeline.lib.io.clean import clean_partition
from liq_pipeline.lib.sources.mirror import FilesSource

DAY = dt.date(2026, 4, 5)
CAP = {"funding_cap": 0.003, "neg_funding_cap": -0.003}


@pytest.fixture(scope="module")
def clean(real, tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    src = FilesSource(raw, real)
    out = {}
    for ds in ("klines", "open_interest", "funding", "liquidation_bars"):
        p = src.pull(ds, "BTCUSDT", DAY)
        df, _ = clean_partition(ds, "BTCUSDT", DAY, {"source": "files", "files": [f.to_dict() for f in p.files]}, raw)
        out[ds] = schemas.conform(df, ds)
    p = src.pull("liquidation_events", "BTCUSDT", dt.date(2025, 1, 27))
    df, _ = clean_partition("liquidation_events", "BTCUSDT", dt.date(2025, 1, 27),
                            {"source": "files", "files": [f.to_dict() for f in p.files]}, raw)
    out["liquidation_events"] = schemas.conform(df, "liquidation_events")
    out["agg_trades"] = schemas.conform(pd.DataFrame({
        "symbol": "BTCUSDT", "agg_trade_id": [1, 2, 3], "ts": pd.to_datetime([1, 2, 2], unit="s", utc=True).as_unit("ms"),
        "price": [1.0, 2.0, 3.0], "qty": [1.0, 1.0, 1.0], "notional_usd": [1.0, 2.0, 3.0],
        "is_buyer_maker": [True, False, True], "first_trade_id": pd.array([None] * 3, dtype="Int64"),
        "last_trade_id": pd.array([None] * 3, dtype="Int64")}), "agg_trades")
    return out


@pytest.mark.parametrize("ds", ["klines", "open_interest", "funding", "liquidation_bars", "liquidation_events", "agg_trades"])
def test_real_clean_data_passes(clean, ds):
    r = quality.run_suite(f"clean_{ds}", clean[ds], CAP if ds == "funding" else None)
    assert r.success, r.summary()
    assert len(clean[ds]) > 0


def _set(df, row, **values):
    df = df.copy()
    for k, v in values.items():
        df.loc[df.index[row], k] = v
    return df


DEFECTS = {
    "null close": ("klines", lambda d: _set(d, 2, close=np.nan), "expect_column_values_to_not_be_null"),
    "high below open/close": ("klines", lambda d: _set(d, 3, high=d.open.iloc[3] - 50, low=d.low.iloc[3] - 100),
                              "expect_column_pair_values_a_to_be_greater_than_b on high vs open"),
    "low above open/close": ("klines", lambda d: _set(d, 4, low=max(d.open.iloc[4], d.close.iloc[4]) + 1),
                             "on open vs low"),
    "negative volume": ("klines", lambda d: _set(d, 5, volume=-1.0, taker_buy_volume=-2.0),
                        "expect_column_values_to_be_between on volume"),
    "taker buy above volume": ("klines", lambda d: _set(d, 6, taker_buy_volume=d.volume.iloc[6] + 1),
                               "on volume vs taker_buy_volume"),
    "duplicate open_time": ("klines", lambda d: pd.concat([d, d.iloc[[7]].assign(close=d.close.iloc[7] + 1)])
                            .sort_values("open_time", kind="stable"), "expect_compound_columns_to_be_unique"),
    "non-monotonic time": ("klines", lambda d: d.iloc[[1, 0, *range(2, len(d))]], "expect_column_values_to_be_increasing"),
    "OI zero": ("open_interest", lambda d: _set(d, 10, oi_contracts=0.0), "on oi_contracts"),
    "OI duplicate stamp": ("open_interest", lambda d: _set(d, 11, ts=d.ts.iloc[10]), "expect_column_values_to_be_unique"),
    "funding beyond cap": ("funding", lambda d: _set(d, 1, funding_rate=0.0031), "on funding_rate"),
    "funding unknown interval": ("funding", lambda d: _set(d, 1, interval_hours=3), "on interval_hours"),
    "unknown liquidation side": ("liquidation_events", lambda d: _set(d, 0, side="sell"), "on side"),
    "negative liquidation bar": ("liquidation_bars", lambda d: _set(d, 0, long_usd=-5.0), "on long_usd"),
    "agg trade id repeated": ("agg_trades", lambda d: _set(d, 1, agg_trade_id=1), "on agg_trade_id"),
}


@pytest.mark.parametrize("name", DEFECTS)
def test_gate_catches(clean, name):
    ds, corrupt, expected = DEFECTS[name]
    r = quality.run_suite(f"clean_{ds}", corrupt(clean[ds]), CAP if ds == "funding" else None)
    assert not r.success
    assert expected in r.summary()
    failing = [f for f in r.failures if expected.split(" on ")[0] in f.describe()]
    assert failing and failing[0].unexpected_count >= 1
    if ds in ("klines", "open_interest", "funding"):
        # the offending row is shown, with the file it came from
        assert "BTCUSDT-" in r.summary() or not len(failing[0].rows)


# -- model gates ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_out():
    from liq_pipeline.lib.market import brackets as br_mod
    from liq_pipeline.lib.market.liqprice import BracketArrays
    from liq_pipeline.lib.model.config import ModelConfig
    from liq_pipeline.lib.model.estimate import estimate_day, sim_frames
    from liq_pipeline.lib.model.levels import rollup
    from liq_pipeline.lib.model.profile import volume_profile
    from liq_pipeline.lib.sim.market import simulate
    from liq_pipeline.lib.sim.scenario import Scenario

    kl, oi, fu = sim_frames(simulate(Scenario.default(seed=2, days=1)))
    est = estimate_day(dt.date(2026, 4, 5), kl, oi, fu, volume_profile(kl.head(0), 50.0), None,
                       ModelConfig(), BracketArrays.of(br_mod.load("BTCUSDT")))
    prof = volume_profile(kl, 50.0).assign(date="2026-04-05", interval="1m", days_used=1)
    from liq_pipeline.lib.model.book import state_frame
    out = {"heatmap": est.heatmap, "heatmap_levels": rollup(est.heatmap), "predicted_liquidations": est.predicted,
           "model_snapshots": est.snapshots, "volume_profile": prof,
           "book_state": state_frame(est.state, ModelConfig().leverages)}
    return {k: schemas.conform(v.assign(symbol="BTCUSDT", config_key="k"), k) for k, v in out.items()}


@pytest.mark.parametrize("table", ["heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots", "volume_profile",
                                   "book_state"])
def test_model_outputs_pass_their_gates(model_out, table):
    r = quality.run_suite(f"model_{table}" if not table.startswith("model") else table, model_out[table])
    assert r.success, r.summary()
    assert len(model_out[table]) > 0


def _long_above_price(d):
    i = d.index[d.side == "long"][0]
    return _set(d, d.index.get_loc(i), price_low=d.loc[i, "price"] * 1.01, price_high=d.loc[i, "price"] * 1.02)


MODEL_DEFECTS = {
    "long level above price": ("heatmap", _long_above_price, "on price vs price_low"),
    "negative notional": ("heatmap", lambda d: _set(d, 0, notional_usd=-1.0), "on notional_usd"),
    "duplicate level": ("heatmap", lambda d: pd.concat([d, d.iloc[[0]]]), "expect_compound_columns_to_be_unique"),
    "levels rollup long above price": ("heatmap_levels", _long_above_price, "on price vs price_low"),
    "negative prediction": ("predicted_liquidations", lambda d: _set(d, 3, notional_usd=-5.0), "on notional_usd"),
    "book not conserving OI": ("model_snapshots", lambda d: _set(d, 2, book_to_oi=1.05), "on book_to_oi"),
    "book cell with no contracts": ("book_state", lambda d: _set(d, 0, contracts=0.0), "on contracts"),
    "book cell twice": ("book_state", lambda d: pd.concat([d, d.iloc[[1]]]), "expect_compound_columns_to_be_unique"),
    "book cell off its grid": ("book_state", lambda d: _set(d, 0, bin=int(d.grid_bins.iloc[0])), "on grid_bins vs bin"),
    "profile taker above volume": ("volume_profile", lambda d: _set(d, 1, taker_buy_usd=d.volume_usd.iloc[1] * 2),
                                   "on volume_usd vs taker_buy_usd"),
}


@pytest.mark.parametrize("name", MODEL_DEFECTS)
def test_model_gate_catches(model_out, name):
    table, corrupt, expected = MODEL_DEFECTS[name]
    suite = f"model_{table}" if not table.startswith("model") else table
    r = quality.run_suite(suite, corrupt(model_out[table]))
    assert not r.success and expected in r.summary(), r.summary()


def test_an_ordering_declared_per_group_holds_within_each_group_only(model_out):
    """The profile's bins rise within a day; the next day starts low again, which is no defect. A day whose
    bins are out of order fails, and only its rows are named (the per-day part of a range's batch)."""
    day1 = model_out["volume_profile"]
    day2 = day1.assign(date="2026-04-06")
    two_days = pd.concat([day1, day2], ignore_index=True)
    assert quality.run_suite("model_volume_profile", two_days).success
    shuffled = pd.concat([day1, day2.iloc[[1, 0, *range(2, len(day2))]]], ignore_index=True)
    results = quality.run_suite_by_partition("model_volume_profile", {"04-05": shuffled.iloc[:len(day1)],
                                                                      "04-06": shuffled.iloc[len(day1):]})
    assert results["04-05"].success
    bad = results["04-06"]
    assert not bad.success and "expect_column_values_to_be_increasing on price_low" in bad.summary()
    assert set(bad.failures[0].rows.date) == {"2026-04-06"}


def test_gx_sees_only_the_columns_a_suite_names_and_failures_still_show_the_file():
    n = 1000
    df = pd.DataFrame({"symbol": pd.Series(["BTCUSDT"] * n, dtype="str"), "ts": pd.date_range("2026-04-05", periods=n,
                                                                                             freq="1min", tz="UTC"),
                       "position_id": np.arange(n), "side": pd.Series(["long", "short"] * (n // 2), dtype="str"),
                       "leverage": 10.0, "entry_price": 100.0, "liq_price": 90.0, "qty": 1.0, "notional_usd": 100.0,
                       "ingest_source": "simulated", "ingest_file": "positions-2026-04-05.parquet", "ingest_sha256": "ab"})
    df.loc[df["side"] == "short", "liq_price"] = 110.0
    spec = quality.load_suite("clean_sim_positions")
    frame = quality._gx_frame(df, spec["expectations"])
    assert "ingest_file" not in frame and "ingest_sha256" not in frame and {"side", "liq_price"} <= set(frame)
    assert str(frame["side"].dtype) == "category" and frame.index.equals(df.index)
    assert quality.run_suite("clean_sim_positions", df).success
    bad = df.copy()
    bad.loc[7, "side"] = "flat"
    res = quality.run_suite("clean_sim_positions", bad)
    fail = next(f for f in res.failures if f.expectation == "expect_column_values_to_be_in_set")
    assert fail.unexpected_count == 1 and fail.rows["ingest_file"].tolist() == ["positions-2026-04-05.parquet"]
    assert fail.rows.index.tolist() == [7]


def test_a_file_spanning_many_days_is_parsed_once_per_process_and_cleaned_the_same(real, tmp_path, monkeypatch):
    # the monthly klines zip and the whole history of liquidation bars are named by every day's manifest
    from liq_pipeline.lib.io import clean
    src = FilesSource(tmp_path / "raw", real)
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    manifests = {(ds, d): {"source": "files", "files": [f.to_dict() for f in src.pull(ds, "BTCUSDT", d).files]}
                 for ds in ("klines", "liquidation_bars") for d in days}
    parsed = []
    parse_file = clean._parse_file
    monkeypatch.setattr(clean, "_parse_file", lambda *a: parsed.append(a[2]["path"]) or parse_file(*a))

    def cleaned():
        clean._MULTI_DAY.clear()
        parsed.clear()
        return {k: clean_partition(k[0], "BTCUSDT", k[1], m, tmp_path / "raw")[0] for k, m in manifests.items()}

    once = cleaned()
    files = {f["path"] for m in manifests.values() for f in m["files"]}
    assert sorted(parsed) == sorted(files)                        # each file parsed once for the three days
    monkeypatch.setattr(clean, "MULTI_DAY_ROWS_KEPT", 10)         # a file too big to keep is parsed each day
    again = cleaned()
    assert len(parsed) == sum(len(m["files"]) for m in manifests.values()) > len(files)
    for k, df in once.items():
        pd.testing.assert_frame_equal(df, again[k], obj=str(k))
        assert len(df) and df["open_time" if k[0] == "klines" else "ts"].dt.date.eq(k[1]).all()


def test_labels_are_the_strings_numpy_would_spell_in_the_tables_string_type():
    codes = np.array([0, 1, 1, 0, 2, 1], dtype=np.int8)
    names = ["flow", "static", "long"]
    got = schemas.labels(codes, names)
    want = pd.Series(np.array(names)[codes])
    pd.testing.assert_series_equal(got, want)
    assert got.dtype == pd.Series(["x"]).dtype and len(schemas.labels(codes[:0], names)) == 0
