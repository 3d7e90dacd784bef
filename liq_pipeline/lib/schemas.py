"""Column types of every clean table: the public contract (DESIGN section 4) plus provenance columns.

Used to write typed (even empty) Parquet partitions and to give the warehouse a typed view of a
table that has no partition yet.
"""
from __future__ import annotations

import pandas as pd

TS = "datetime64[ms, UTC]"
PROVENANCE = {"ingest_source": "str", "ingest_file": "str", "ingest_sha256": "str"}

TABLES: dict[str, dict[str, str]] = {
    "klines": {"symbol": "str", "open_time": TS, "interval": "str", "open": "float64", "high": "float64",
               "low": "float64", "close": "float64", "volume": "float64", "close_time": TS,
               "quote_volume": "float64", "trades": "int64", "taker_buy_volume": "float64",
               "taker_buy_quote_volume": "float64"},
    "open_interest": {"symbol": "str", "ts": TS, "oi_contracts": "float64", "oi_usd": "float64"},
    "funding": {"symbol": "str", "ts": TS, "funding_rate": "float64", "interval_hours": "int64", "calc_time": TS},
    "agg_trades": {"symbol": "str", "agg_trade_id": "int64", "ts": TS, "price": "float64", "qty": "float64",
                   "notional_usd": "float64", "is_buyer_maker": "bool", "first_trade_id": "Int64",
                   "last_trade_id": "Int64"},
    "liquidation_events": {"symbol": "str", "ts": TS, "side": "str", "price": "float64", "avg_price": "float64",
                           "qty": "float64", "notional_usd": "float64", "source": "str", "order_status": "str"},
    "sim_positions": {"symbol": "str", "ts": TS, "position_id": "int64", "side": "str", "leverage": "float64",
                      "entry_price": "float64", "liq_price": "float64", "qty": "float64", "notional_usd": "float64"},
    "sim_liquidations": {"symbol": "str", "ts": TS, "side": "str", "price": "float64", "avg_price": "float64",
                         "qty": "float64", "notional_usd": "float64", "source": "str", "position_id": "int64",
                         "leverage": "float64", "entry_price": "float64", "liq_price": "float64"},
    "volume_profile": {"symbol": "str", "date": "str", "price_low": "float64", "price_high": "float64",
                       "volume_usd": "float64", "taker_buy_usd": "float64", "interval": "str", "days_used": "int64"},
    "heatmap": {"symbol": "str", "model": "str", "ts": TS, "side": "str", "leverage": "float64",
                "price_low": "float64", "price_high": "float64", "notional_usd": "float64", "price": "float64"},
    "heatmap_levels": {"symbol": "str", "model": "str", "ts": TS, "side": "str", "bucket": "int64",
                       "price_low": "float64", "price_high": "float64", "notional_usd": "float64", "price": "float64"},
    "predicted_liquidations": {"symbol": "str", "model": "str", "ts": TS, "interval": "str", "side": "str",
                               "notional_usd": "float64"},
    "model_snapshots": {"symbol": "str", "model": "str", "ts": TS, "price": "float64", "oi_contracts": "float64",
                        "oi_usd": "float64", "book_usd": "float64", "long_usd": "float64", "short_usd": "float64",
                        "book_to_oi": "float64"},
    "liquidation_bars": {"symbol": "str", "ts": TS, "interval": "str", "long_usd": "float64",
                         "short_usd": "float64", "venue": "str"},
}

_DUCK = {"str": "VARCHAR", TS: "TIMESTAMPTZ", "float64": "DOUBLE", "int64": "BIGINT", "Int64": "BIGINT",
         "bool": "BOOLEAN"}


# Model outputs carry the model configuration's key instead of ingest provenance.
MODEL_TABLES = {"volume_profile", "heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots"}


def columns(table: str) -> dict[str, str]:
    if table in MODEL_TABLES:
        return {**TABLES[table], "config_key": "str"}
    return {**TABLES[table], **PROVENANCE}


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Exactly the table's columns, in order, with its types (an empty frame gets the schema too)."""
    cols = columns(table)
    extra = [c for c in df.columns if c not in cols]
    out = pd.DataFrame({c: (df[c] if c in df.columns else pd.Series(dtype=t)).astype(t) for c, t in cols.items()},
                       index=df.index if len(df.columns) else None)
    return pd.concat([out, df[extra]], axis=1) if extra else out


def duckdb_empty_select(table: str) -> str:
    cols = ", ".join(f"CAST(NULL AS {_DUCK[t]}) AS {c}" for c, t in columns(table).items())
    return f"SELECT {cols} WHERE false"
