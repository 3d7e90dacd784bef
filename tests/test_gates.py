"""Every great-expectations gate passes on real clean data and fails on each defect it exists to catch."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from liq_pipeline.lib import quality, schemas
from liq_pipeline.lib.clean import clean_partition
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
