"""Heatmap levels as traders read them: leverage summed, prices in stable log buckets, windows by timeframe.

`rollup` turns a day's heatmap rows into `heatmap_levels` (0.25% buckets that do not depend on any model
grid, so days and cold starts line up). `query` reads a window of them from the warehouse for `liq heatmap`.
"""
from __future__ import annotations

import datetime as dt
import math

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
    return g[cols].sort_values(["model", "ts", "side", "bucket"], kind="stable").reset_index(drop=True)


def day_tables(day: dt.date, layout, symbol: str, config_key: str, heatmap: pd.DataFrame, predicted: pd.DataFrame,
               snapshots: pd.DataFrame, write: tuple[str, ...]) -> dict[str, tuple[pd.DataFrame, object]]:
    """A day's model tables in their schemas (heatmap_levels rolled up from the heatmap), those named in `write`
    written: table -> (frame, path or None). Needs nothing of the next day, so it runs in a worker (lib/parallel)
    while the book goes on to the next day."""
    from .. import schemas
    out = {}
    for table, df in (("heatmap", heatmap), ("heatmap_levels", rollup(heatmap)),
                      ("predicted_liquidations", predicted), ("model_snapshots", snapshots)):
        df = schemas.conform(df.assign(symbol=symbol, config_key=config_key) if len(df) else df, table)
        out[table] = (df, layout.write(df, "model", table, symbol, day) if table in write else None)
    return out


def query(con, symbol: str, model: str, at: dt.datetime | None, timeframe: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the warehouse's heatmap_levels table: (levels at the snapshot `at` — default the latest — with
    the window's peak per bucket, and the window as ts × bucket rows for a picture)."""
    window, stride, mult, span = TIMEFRAMES[timeframe]
    if at is None:
        at = con.execute("SELECT max(ts) FROM heatmap_levels WHERE symbol = $s AND model = $m",
                         {"s": symbol, "m": model}).fetchall()[0][0]
        if at is None:
            return pd.DataFrame(), pd.DataFrame()
    at = pd.Timestamp(at).tz_convert("UTC") if pd.Timestamp(at).tzinfo else pd.Timestamp(at, tz="UTC")
    # the snapshot times the window shows (stride-aligned, in (at − window, at], and `at` itself), listed:
    # an IN list on the sorted table lets DuckDB skip everything else by its zone maps
    start = (at - window).ceil(stride)
    if start == at - window:
        start += stride
    times = sorted(set(pd.date_range(start, at, freq=stride)) | {at})
    ts_list = ", ".join(f"TIMESTAMPTZ '{t.isoformat()}'" for t in times)
    sql = f"""
        WITH lv AS (SELECT ts, side, floor(bucket / $mult)::BIGINT AS b, sum(notional_usd) AS usd, any_value(price) AS price
                    FROM heatmap_levels
                    WHERE symbol = $symbol AND model = $model AND ts IN ({ts_list})
                    GROUP BY ALL),
             now AS (SELECT max(ts) AS t FROM lv),
             path AS (SELECT min(price) AS lo, max(price) AS hi FROM lv)
        SELECT lv.ts, side, b, usd, lv.price, (lv.ts = now.t) AS is_now
        FROM lv, now, path
        WHERE exp(b * $mult * {LOG_BUCKET}) BETWEEN path.lo * (1 - $span) AND path.hi * (1 + $span)
    """
    win = con.execute(sql, {"symbol": symbol, "model": model, "mult": mult, "span": span}).df()
    if win.empty:
        return pd.DataFrame(), win
    win["price_low"] = bucket_low(win["b"] * mult)
    win["price_high"] = bucket_low((win["b"] + 1) * mult)
    # the picture spans the window's whole price path; the levels table, the range around the price now
    price_now = float(win.loc[win.is_now, "price"].iloc[0])
    near = win[(win.price_low >= price_now * (1 - span) * (1 - BUCKET * mult)) & (win.price_high <= price_now * (1 + span) * (1 + BUCKET * mult))]
    peak = near.pivot_table(index="b", columns="side", values="usd", aggfunc="max", fill_value=0.0)
    now = near[near.is_now].pivot_table(index="b", columns="side", values="usd", aggfunc="sum", fill_value=0.0)
    levels = pd.DataFrame(index=peak.index.union(now.index))
    for side in ("long", "short"):
        levels[f"{side}_usd"] = now.get(side, pd.Series(dtype=float)).reindex(levels.index).fillna(0.0)
        levels[f"{side}_peak_usd"] = peak.get(side, pd.Series(dtype=float)).reindex(levels.index).fillna(0.0)
    levels.insert(0, "price_high", bucket_low((levels.index + 1) * mult))
    levels.insert(0, "price_low", bucket_low(levels.index * mult))
    levels = levels.sort_values("price_low", ascending=False).reset_index(drop=True)
    levels.attrs.update(ts=win.loc[win.is_now, "ts"].iloc[0], price=price_now)
    return levels, win
