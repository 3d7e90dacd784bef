"""USD-M contract details from Binance's exchange info (public GET /fapi/v1/exchangeInfo): status, contract type,
tick and lot sizes, precisions, minimum notional, listing date; one row per symbol.

Snapshots, exchange-info-YYYY-MM-DD.csv, sit beside the bracket snapshots (`liq symbols refresh` writes them into
$LIQ_BRACKETS_DIR, or the package's data folder); the latest is used. With one in place, a symbol it does not list
as a trading perpetual is refused before it becomes a partition, and the simulated market trades each listed
symbol at its real tick and lot size. Without one, any well-formed symbol is accepted and decimals come from the
simulated market's profiles.
"""
from __future__ import annotations

import datetime as dt
import decimal
import io
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..io.storage import write_bytes_atomic

if TYPE_CHECKING:     # pandas is imported where rows are made: `liq heatmap` imports this module for price_decimals
    import pandas as pd

ENDPOINT = "/fapi/v1/exchangeInfo"
COLUMNS = ["symbol", "status", "contract_type", "base_asset", "quote_asset", "price_precision", "quantity_precision",
           "tick_size", "step_size", "min_notional", "onboard_date"]
_NAME = re.compile(r"^exchange-info-(\d{4}-\d{2}-\d{2})\.csv$")


def from_answer(body: dict) -> pd.DataFrame:
    """The exchange info answer as rows of COLUMNS (tick from PRICE_FILTER, lot from LOT_SIZE, MIN_NOTIONAL)."""
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        raise InputError(f"{ENDPOINT}: not an exchange info answer: {str(body)[:200]}")
    rows = []
    for s in body["symbols"]:
        filters = {f.get("filterType"): f for f in s.get("filters", [])}
        try:
            rows.append({
                "symbol": s["symbol"], "status": s.get("status", ""), "contract_type": s.get("contractType", ""),
                "base_asset": s.get("baseAsset", ""), "quote_asset": s.get("quoteAsset", ""),
                "price_precision": int(s.get("pricePrecision", 0)), "quantity_precision": int(s.get("quantityPrecision", 0)),
                "tick_size": filters["PRICE_FILTER"]["tickSize"], "step_size": filters["LOT_SIZE"]["stepSize"],
                "min_notional": filters.get("MIN_NOTIONAL", {}).get("notional", ""),
                "onboard_date": dt.datetime.fromtimestamp(int(s["onboardDate"]) / 1000, dt.UTC).date().isoformat()
                if s.get("onboardDate") else ""})
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{ENDPOINT}: symbol {s.get('symbol', '?')}: missing or bad field ({exc!r})") from None
    import pandas as pd
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("symbol", ignore_index=True)


def write_snapshot(df: pd.DataFrame, out_dir: Path, fetched_at: dt.datetime, origin: str) -> Path:
    header = (f"# Binance USD-M exchange info, GET {origin}{ENDPOINT} at {fetched_at.isoformat(timespec='seconds')} "
              f"(written by `liq symbols refresh`)\n")
    path = Path(out_dir) / f"exchange-info-{fetched_at.date().isoformat()}.csv"
    write_bytes_atomic(path, (header + df.to_csv(index=False)).encode())
    return path


def _latest():
    from .brackets import snapshot_files
    found = {m.group(1): f for m, f, _ in snapshot_files(_NAME)}
    return found[max(found)] if found else None


def snapshot() -> tuple[pd.DataFrame, str] | None:
    """The latest snapshot's rows (text kept as written: tick sizes stay exact) and its file name, or None."""
    f = _latest()
    if f is None:
        return None
    import pandas as pd
    return pd.read_csv(io.StringIO(f.read_text()), comment="#", dtype=str, keep_default_na=False), f.name


def contract(symbol: str) -> dict | None:
    """The symbol's row of the latest snapshot (None: no snapshot, or not listed)."""
    snap = snapshot()
    if snap is None:
        return None
    rows = snap[0][snap[0]["symbol"] == symbol]
    return rows.iloc[0].to_dict() if len(rows) else None


def check_listed(symbol: str) -> None:
    """With a snapshot, refuse a symbol it does not list as a trading perpetual (InputError naming it and the file)."""
    snap = snapshot()
    if snap is None:
        return
    rows, name = snap
    row = rows[rows["symbol"] == symbol]
    if row.empty:
        raise InputError(f"symbol {symbol}: not a USD-M symbol in {name} ({len(rows)} listed); "
                         f"`liq symbols refresh` fetches the current list")
    if trading_perpetuals(row).empty:
        status, kind = row["status"].iloc[0], row["contract_type"].iloc[0]
        raise InputError(f"symbol {symbol}: {name} lists it as {kind} {status}, not a trading perpetual")


def trading_perpetuals(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows that are perpetual contracts trading now (not quarterlies, not settling or delisted ones)."""
    return rows[(rows["contract_type"] == "PERPETUAL") & (rows["status"] == "TRADING")]


def price_decimals(price: float) -> int:
    """Decimals that show a price to ~5 significant digits: 1 at BTC's scale, 5 at a $0.40 coin's."""
    return max(1, 4 - math.floor(math.log10(price))) if price > 0 else 1


def decimals(size: str) -> int:
    """Decimal places of a tick or lot size as Binance writes it ("0.00100000" -> 3, "1" -> 0)."""
    return max(0, -decimal.Decimal(str(size)).normalize().as_tuple().exponent)
