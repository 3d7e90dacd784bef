"""Parsers: raw bytes in the sources' own formats -> typed, UTC DataFrames with the warehouse columns.

Each parser takes the bytes and a `where` label (the file) so a malformed row is reported as
`file, row N, column c: value`. Row numbers are 1-based lines of the file, header included.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from ..errors import InputError

KLINE_COLS = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
              "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore"]
AGG_TRADE_COLS = ["agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id",
                  "transact_time", "is_buyer_maker"]
METRICS_COLS = ["create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
                "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
                "count_long_short_ratio", "sum_taker_long_short_vol_ratio"]
FUNDING_COLS = ["calc_time", "funding_interval_hours", "last_funding_rate"]
UTC_MS = "datetime64[ms, UTC]"


def _read_csv(data: bytes, columns: list[str], where: str, header: bool | None = None) -> tuple[pd.DataFrame, int]:
    """Read a CSV as strings. `header=None` detects it (old archive files have none).

    Returns the frame and the line number of its first data row.
    """
    text = data.decode("utf-8-sig", errors="strict") if data else ""
    first = text.split("\n", 1)[0].strip()
    if header is None:
        header = bool(first) and not first.split(",")[0].strip().lstrip("-").replace(".", "").isdigit()
    if header and first:
        got = [c.strip() for c in first.split(",")]
        if got[: len(columns)] != columns[: len(got)] or len(got) < len(columns) - 1:
            raise InputError(f"{where}, row 1: header {got} does not match the expected columns {columns}")
    for n, line in enumerate(text.splitlines()[1 if header else 0:], start=2 if header else 1):
        if line.strip() and line.count(",") + 1 != len(columns):
            raise InputError(f"{where}, row {n}: {line.count(',') + 1} fields, expected {len(columns)} ({', '.join(columns)})")
    try:
        df = pd.read_csv(io.StringIO(text), header=None, names=columns, skiprows=1 if header else 0,
                         dtype=str, keep_default_na=False, skip_blank_lines=True, on_bad_lines="error",
                         engine="c")
    except pd.errors.ParserError as exc:
        raise InputError(f"{where}: malformed CSV ({exc})") from None
    return df, 2 if header else 1


def _numeric(df: pd.DataFrame, col: str, where: str, first_line: int, kind: str = "float",
             nullable: bool = False) -> pd.Series:
    raw = df[col].str.strip()
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & (raw != "" if nullable else True)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{where}, row {first_line + i}, column {col}: {df[col].iloc[i]!r} is not a number")
    if kind == "int":
        return values.astype("Int64" if nullable else "int64")
    return values.astype("float64")


def _ms(series: pd.Series) -> pd.Series:
    """Epoch milliseconds (or microseconds, which the archive uses since 2025) -> UTC timestamps."""
    s = series.astype("int64")
    s = s.where(s < 10**14, s // 1000)
    return pd.to_datetime(s, unit="ms", utc=True).astype(UTC_MS)


def parse_klines(data: bytes, symbol: str, interval: str, where: str) -> pd.DataFrame:
    df, fl = _read_csv(data, KLINE_COLS, where)
    out = pd.DataFrame({
        "symbol": symbol,
        "open_time": _ms(_numeric(df, "open_time", where, fl, "int")),
        "interval": interval,
    })
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = _numeric(df, col, where, fl)
    out["close_time"] = _ms(_numeric(df, "close_time", where, fl, "int"))
    out["quote_volume"] = _numeric(df, "quote_volume", where, fl)
    out["trades"] = _numeric(df, "count", where, fl, "int")
    out["taker_buy_volume"] = _numeric(df, "taker_buy_volume", where, fl)
    out["taker_buy_quote_volume"] = _numeric(df, "taker_buy_quote_volume", where, fl)
    return out


def parse_metrics(data: bytes, symbol: str, where: str) -> pd.DataFrame:
    """Open interest from the archive's `metrics` file. Rows are not time-ordered; OI is stamped at interval end."""
    df, fl = _read_csv(data, METRICS_COLS, where, header=True)
    ts = pd.to_datetime(df["create_time"].str.strip(), format="%Y-%m-%d %H:%M:%S", errors="coerce", utc=True)
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise InputError(f"{where}, row {fl + i}, column create_time: {df['create_time'].iloc[i]!r} is not a timestamp")
    syms = df["symbol"].str.strip()
    if (syms != symbol).any():
        i = int(np.flatnonzero((syms != symbol).to_numpy())[0])
        raise InputError(f"{where}, row {fl + i}, column symbol: {syms.iloc[i]!r} is not {symbol}")
    return pd.DataFrame({
        "symbol": symbol,
        "ts": ts.astype(UTC_MS),
        "oi_contracts": _numeric(df, "sum_open_interest", where, fl),
        "oi_usd": _numeric(df, "sum_open_interest_value", where, fl),
    })


def parse_funding(data: bytes, symbol: str, where: str) -> pd.DataFrame:
    """Settled funding. calc_time carries millisecond jitter (…015): ts is it rounded to the minute."""
    df, fl = _read_csv(data, FUNDING_COLS, where, header=True)
    calc = _ms(_numeric(df, "calc_time", where, fl, "int"))
    return pd.DataFrame({
        "symbol": symbol,
        "ts": calc.dt.round("min"),
        "funding_rate": _numeric(df, "last_funding_rate", where, fl),
        "interval_hours": _numeric(df, "funding_interval_hours", where, fl, "int"),
        "calc_time": calc,
    })


def parse_agg_trades(data: bytes, symbol: str, where: str) -> pd.DataFrame:
    df, fl = _read_csv(data, AGG_TRADE_COLS, where)
    maker = df["is_buyer_maker"].str.strip().str.lower()
    bad = ~maker.isin(["true", "false"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{where}, row {fl + i}, column is_buyer_maker: {df['is_buyer_maker'].iloc[i]!r} is not true/false")
    price = _numeric(df, "price", where, fl)
    qty = _numeric(df, "quantity", where, fl)
    return pd.DataFrame({
        "symbol": symbol,
        "agg_trade_id": _numeric(df, "agg_trade_id", where, fl, "int"),
        "ts": _ms(_numeric(df, "transact_time", where, fl, "int")),
        "price": price,
        "qty": qty,
        "notional_usd": price * qty,
        "is_buyer_maker": maker == "true",
        "first_trade_id": _numeric(df, "first_trade_id", where, fl, "int", nullable=True),
        "last_trade_id": _numeric(df, "last_trade_id", where, fl, "int", nullable=True),
    })


_SIDE = {"SELL": "long", "BUY": "short"}  # a SELL liquidation order closes a LONG


def parse_force_orders(data: bytes, where: str, symbol: str | None = None, source: str = "binance_forceOrder") -> pd.DataFrame:
    """A forceOrder tape: one websocket payload a line. Missing fields (often "ap") become nulls."""
    rows = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            o = msg.get("o", msg) if isinstance(msg, dict) else None
            if not isinstance(o, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise InputError(f"{where}, row {n}: not a forceOrder payload ({exc})") from None
        sym = str(o.get("s", "")).upper()
        if symbol is not None and sym != symbol:
            continue
        raw_side = str(o.get("S", "")).upper()
        rows.append({
            "symbol": sym,
            "ts_ms": o.get("T", msg.get("E")),
            "side": _SIDE.get(raw_side, raw_side.lower() or None),
            "price": o.get("p"),
            "avg_price": o.get("ap"),
            "qty": o.get("z", o.get("q")),
            "order_status": o.get("X"),
            "line": n,
        })
    cols = ["symbol", "ts_ms", "side", "price", "avg_price", "qty", "order_status", "line"]
    df = pd.DataFrame(rows, columns=cols)
    ts = pd.to_numeric(df["ts_ms"], errors="coerce")
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise InputError(f"{where}, row {df['line'].iloc[i]}: no event time (fields T and E missing)")
    out = pd.DataFrame({
        "symbol": df["symbol"].astype(str),
        "ts": _ms(ts.astype("int64")) if len(df) else pd.Series([], dtype=UTC_MS),
        "side": df["side"].astype("string"),
        "price": pd.to_numeric(df["price"], errors="coerce").astype("float64"),
        "avg_price": pd.to_numeric(df["avg_price"], errors="coerce").astype("float64"),
        "qty": pd.to_numeric(df["qty"], errors="coerce").astype("float64"),
    })
    out["notional_usd"] = out["avg_price"].fillna(out["price"]) * out["qty"]
    out["source"] = source
    out["order_status"] = df["order_status"].astype("string")
    return out


def parse_liquidation_bars(data: bytes, symbol: str, interval: str, venue: str, where: str) -> pd.DataFrame:
    """Vendor liquidation bars: timestamp (bar start, ISO-8601 UTC or epoch ms), long_usd, short_usd."""
    df, fl = _read_csv(data, ["timestamp", "long_usd", "short_usd"], where, header=True)
    raw = df["timestamp"].str.strip()
    is_ms = raw.str.fullmatch(r"\d{10,16}")
    ts = pd.Series(pd.NaT, index=df.index, dtype=UTC_MS)
    if is_ms.any():
        ts[is_ms] = _ms(raw[is_ms].astype("int64"))
    if (~is_ms).any():
        ts[~is_ms] = pd.to_datetime(raw[~is_ms], utc=True, errors="coerce", format="ISO8601").astype(UTC_MS)
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise InputError(f"{where}, row {fl + i}, column timestamp: {raw.iloc[i]!r} is not ISO-8601 or epoch ms")
    return pd.DataFrame({
        "symbol": symbol, "ts": ts, "interval": interval,
        "long_usd": _numeric(df, "long_usd", where, fl), "short_usd": _numeric(df, "short_usd", where, fl),
        "venue": venue,
    })


# -- REST pages (JSON as received) --------------------------------------------------------------

def _rows_to_csv(rows: list[list]) -> bytes:
    return "\n".join(",".join(str(v) for v in r) for r in rows).encode()


def _rest_value(row: dict, field: str) -> str:
    if field.startswith("="):
        return field[1:]
    key, _, kind = field.partition(":")
    value = row.get(key, "")
    if kind == "time":
        return pd.Timestamp(int(value), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_rest_page(table, data: bytes, symbol: str, interval: str | None, where: str) -> pd.DataFrame:
    """A REST page as received (JSON) -> the same frame the archive's CSV gives, through the same parser:
    the page is rewritten as the archive's CSV (columns from the table's RawSpec.rest_fields)."""
    try:
        rows = json.loads(data)
    except ValueError as exc:
        raise InputError(f"{where}: not JSON ({exc})") from None
    if not isinstance(rows, list):
        raise InputError(f"{where}: expected a JSON list")
    from .tables import get

    spec = (get(table) if isinstance(table, str) else table).raw
    parser = globals()[spec.parser]
    if spec.per_interval:        # klines: rows are lists in the archive's column order
        return parser(_rows_to_csv(rows), symbol, interval, where)
    try:
        values = [[_rest_value(r, f) for f in spec.rest_fields] for r in rows]
    except AttributeError:
        raise InputError(f"{where}: rows are not JSON objects") from None
    columns = ARCHIVE_COLUMNS[spec.parser]
    values = [v + [""] * (len(columns) - len(v)) for v in values]
    return parser((",".join(columns) + "\n" + _rows_to_csv(values).decode()).encode(), symbol, where)


# The archive CSV's columns, per parser (what a REST page is rewritten as).
ARCHIVE_COLUMNS = {"parse_klines": KLINE_COLS, "parse_metrics": METRICS_COLS, "parse_funding": FUNDING_COLS,
                   "parse_agg_trades": AGG_TRADE_COLS}
