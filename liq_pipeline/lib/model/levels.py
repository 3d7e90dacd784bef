"""Heatmap levels as traders read them: leverage summed, prices in stable log buckets, windows by timeframe.

`rollup` turns a day's heatmap rows into `heatmap_levels` (0.25% buckets that do not depend on any model
grid, so days and cold starts line up). levels_query reads a window of them from the warehouse for `liq heatmap`.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..io.storage import Written
from .buckets import LOG_BUCKET, bucket_low


def bucket_of(price) -> np.ndarray:
    return np.floor(np.log(np.asarray(price, float)) / LOG_BUCKET).astype(np.int64)


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
               snapshots: pd.DataFrame, state: pd.DataFrame, write: tuple[str, ...]) -> dict[str, Written | None]:
    """A day's model tables in their schemas (heatmap_levels rolled up from the heatmap; the book's close among
    them), those named in `write` written: table -> what was written (None: not written). Needs nothing of the next
    day, so it runs in a worker (lib/parallel) while the book goes on to the next day."""
    from ..io import schemas
    out = {}
    for table, df in (("heatmap", heatmap), ("heatmap_levels", rollup(heatmap)),
                      ("predicted_liquidations", predicted), ("model_snapshots", snapshots), ("book_state", state)):
        df = schemas.conform_stamped(df, table, symbol, config_key)
        out[table] = layout.write(df, "model", table, symbol, day) if table in write else None
    return out
