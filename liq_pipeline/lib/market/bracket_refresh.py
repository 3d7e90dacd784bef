"""`liq brackets refresh`: Binance's notional brackets for USD-M symbols, fetched with an API key and written as
dated snapshots (brackets-SYM-YYYY-MM-DD.csv) that lib/market/brackets reads.

GET /fapi/v1/leverageBracket is a USER_DATA endpoint: signed with HMAC-SHA256 of the query string (timestamp
included) under the key's secret, the key in the X-MBX-APIKEY header. Without `symbol` it answers every symbol.
A `notionalCoef` other than 1 means the account's brackets were adjusted (caps scaled for it): the snapshot
records the coefficient and the caller is warned, since such a table is that account's, not the market's.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import urllib.parse
from pathlib import Path

import pandas as pd

from .brackets import COLUMNS, check_continuity
from ..errors import InputError, SourceError
from ..io.storage import write_bytes_atomic

ENDPOINT = "/fapi/v1/leverageBracket"


def signed_query(params: dict, secret: str) -> str:
    """The query string with its signature appended, as Binance verifies it."""
    query = urllib.parse.urlencode(params)
    return f"{query}&signature={hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}"


def fetch(http, base_url: str, api_key: str, api_secret: str, symbol: str | None = None,
          now_ms: int | None = None) -> list[dict]:
    """Every symbol's entry (or one symbol's) of the endpoint's answer."""
    params = {**({"symbol": symbol} if symbol else {}), "recvWindow": 10_000,
              "timestamp": now_ms if now_ms is not None else int(time.time() * 1000)}
    url = f"{base_url.rstrip('/')}{ENDPOINT}?{signed_query(params, api_secret)}"
    resp = http.get(url, headers={"X-MBX-APIKEY": api_key})
    try:
        body = resp.json()
    except ValueError:
        raise SourceError(f"GET {base_url}{ENDPOINT}: not JSON: {resp.text[:200]}") from None
    entries = body if isinstance(body, list) else [body]
    if not all(isinstance(e, dict) and "symbol" in e and "brackets" in e for e in entries):
        raise SourceError(f"GET {base_url}{ENDPOINT}: not a bracket answer: {str(body)[:200]}")
    return entries


def to_table(entry: dict) -> pd.DataFrame:
    """One symbol's brackets as the snapshot's columns, checked for continuity (cum) before anything is written."""
    rows = [{"bracket": int(b["bracket"]), "max_leverage": int(b["initialLeverage"]),
             "notional_floor": float(b["notionalFloor"]), "notional_cap": float(b["notionalCap"]),
             "mmr": float(b["maintMarginRatio"]), "cum": float(b["cum"])} for b in entry["brackets"]]
    if not rows:
        raise InputError(f"{entry['symbol']}: the answer has no brackets")
    df = pd.DataFrame(rows, columns=COLUMNS).sort_values("bracket", ignore_index=True)
    check_continuity(df, f"{entry['symbol']} from {ENDPOINT}")
    return df


def adjusted_coef(entry: dict):
    """The entry's notionalCoef where it is not 1 (the account's brackets are adjusted), else None."""
    coef = entry.get("notionalCoef")
    return None if coef is None or float(coef) == 1 else coef


def write_snapshot(entry: dict, out_dir: Path, fetched_at: dt.datetime, origin: str) -> Path:
    symbol = entry["symbol"]
    df = to_table(entry)
    coef = adjusted_coef(entry)
    header = (f"# {symbol} notional brackets (Binance USD-M), GET {origin}{ENDPOINT} at "
              f"{fetched_at.isoformat(timespec='seconds')} (signed; written by `liq brackets refresh`)\n"
              + (f"# notionalCoef {coef}: this account's brackets are adjusted; the caps are scaled for it\n"
                 if coef is not None else ""))
    path = Path(out_dir) / f"brackets-{symbol}-{fetched_at.date().isoformat()}.csv"
    write_bytes_atomic(path, (header + df.to_csv(index=False, float_format="%.10g")).encode())
    return path


def largest_by_open_interest(http, base_url: str, n: int) -> list[tuple[str, float]]:
    """The n trading USD-M perpetuals with the most open interest in USD (contracts × mark price), largest first:
    exchange info for the list, premiumIndex (one call, every symbol) for mark prices, openInterest per symbol."""
    from .contracts import ENDPOINT as EXCHANGE_INFO, from_answer, trading_perpetuals

    base = base_url.rstrip("/")
    perpetual = trading_perpetuals(from_answer(http.get(f"{base}{EXCHANGE_INFO}").json()))["symbol"].tolist()
    marks = {p["symbol"]: float(p["markPrice"]) for p in http.get(f"{base}/fapi/v1/premiumIndex").json()}
    sized = []
    for symbol in perpetual:
        if symbol not in marks:
            continue
        oi = float(http.get(f"{base}/fapi/v1/openInterest", {"symbol": symbol}).json()["openInterest"])
        sized.append((symbol, oi * marks[symbol]))
    return sorted(sized, key=lambda x: -x[1])[:n]
