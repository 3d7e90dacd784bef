"""Heatmap levels as traders read them: leverage summed, prices in stable log buckets, windows by timeframe.

`rollup` turns a day's heatmap rows into `heatmap_levels` (0.25% buckets that do not depend on any model
grid, so days and cold starts line up). `query` reads a window of those partitions for `liq heatmap`.
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd

BUCKET = 0.0025
LOG_BUCKET = math.log1p(BUCKET)
# timeframe -> (window, snapshot stride, bucket multiple, price range shown)
TIMEFRAMES = {
    "1d": (dt.timedelta(days=1), dt.timedelta(hours=1), 1, 0.06),
    "7d": (dt.timedelta(days=7), dt.timedelta(hours=4), 2, 0.12),
    "30d": (dt.timedelta(days=30), dt.timedelta(hours=12), 4, 0.20),
    "90d": (dt.timedelta(days=90), dt.timedelta(days=1), 8, 0.25),
}


def bucket_of(price) -> np.ndarray:
    return np.floor(np.log(np.asarray(price, float)) / LOG_BUCKET).astype(np.int64)


def bucket_low(k) -> np.ndarray:
    return np.exp(np.asarray(k, float) * LOG_BUCKET)


def rollup(heatmap: pd.DataFrame) -> pd.DataFrame:
    cols = ["model", "ts", "side", "bucket", "price_low", "price_high", "notional_usd", "price"]
    if heatmap.empty:
        return pd.DataFrame(columns=cols)
    # a long level is bucketed by its low, a short one by its high: each stays on its side of the price
    edge = np.where(heatmap["side"] == "long", heatmap["price_low"], heatmap["price_high"] * (1 - 1e-12))
    g = heatmap.assign(bucket=bucket_of(edge)).groupby(["model", "ts", "side", "bucket"], as_index=False) \
        .agg(notional_usd=("notional_usd", "sum"), price=("price", "first"))
    g["price_low"] = bucket_low(g["bucket"])
    g["price_high"] = bucket_low(g["bucket"] + 1)
    return g[cols]


def window_files(root: Path, symbol: str, at: dt.datetime, timeframe: str) -> list[str]:
    window = TIMEFRAMES[timeframe][0]
    days = pd.date_range((at - window).date(), at.date(), freq="D")
    return [str(p) for d in days
            if (p := root / "model" / "heatmap_levels" / f"symbol={symbol}" / f"date={d.date()}" / "data.parquet").exists()]


def query(con, files: list[str], model: str, at: dt.datetime | None, timeframe: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(levels at the snapshot `at` with the window's peak per bucket, the window as ts × bucket for a picture)."""
    window, stride, mult, span = TIMEFRAMES[timeframe]
    if not files:
        return pd.DataFrame(), pd.DataFrame()
    src = "read_parquet([" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "])"
    at_sql = "(SELECT max(ts) FROM {src} WHERE model = $model)".format(src=src) if at is None else "$at::TIMESTAMPTZ"
    params = {"model": model, "mult": mult, "stride": int(stride.total_seconds()), "span": span}
    if at is not None:
        params["at"] = at
    sql = f"""
        WITH lv AS (SELECT ts, side, floor(bucket / $mult)::BIGINT AS b, sum(notional_usd) AS usd, any_value(price) AS price
                    FROM {src}
                    WHERE model = $model AND ts <= {at_sql} AND ts > {at_sql} - INTERVAL '{int(window.total_seconds())} seconds'
                      AND epoch(ts)::BIGINT % $stride = 0
                    GROUP BY ALL),
             now AS (SELECT max(ts) AS t FROM lv),
             ref AS (SELECT any_value(price) AS p FROM lv, now WHERE ts = t)
        SELECT lv.ts, side, b, usd, lv.price, (lv.ts = now.t) AS is_now
        FROM lv, now, ref
        WHERE exp(b * $mult * {LOG_BUCKET}) BETWEEN ref.p * (1 - $span) AND ref.p * (1 + $span)
    """
    win = con.execute(sql, params).df()
    if win.empty:
        return pd.DataFrame(), win
    win["price_low"] = bucket_low(win["b"] * mult)
    win["price_high"] = bucket_low((win["b"] + 1) * mult)
    peak = win.pivot_table(index="b", columns="side", values="usd", aggfunc="max", fill_value=0.0)
    now = win[win.is_now].pivot_table(index="b", columns="side", values="usd", aggfunc="sum", fill_value=0.0)
    levels = pd.DataFrame(index=peak.index.union(now.index))
    for side in ("long", "short"):
        levels[f"{side}_usd"] = now.get(side, pd.Series(dtype=float)).reindex(levels.index).fillna(0.0)
        levels[f"{side}_peak_usd"] = peak.get(side, pd.Series(dtype=float)).reindex(levels.index).fillna(0.0)
    levels.insert(0, "price_high", bucket_low((levels.index + 1) * mult))
    levels.insert(0, "price_low", bucket_low(levels.index * mult))
    levels = levels.sort_values("price_low", ascending=False).reset_index(drop=True)
    levels.attrs.update(ts=win.loc[win.is_now, "ts"].iloc[0], price=float(win.loc[win.is_now, "price"].iloc[0]))
    return levels, win
