"""Notional brackets (maintenance margin rate and amount) per symbol, as dated CSV snapshots.

Snapshots: brackets-SYM-YYYY-MM-DD.csv, shipped in liq_pipeline/data/ or written by `liq brackets refresh` into
$LIQ_BRACKETS_DIR (which wins over a shipped file of the same date). The snapshot in force on a day is the latest
one dated on or before it (or the earliest, for days before any snapshot). A symbol with none is refused, unless
the caller allows the fallback table (brackets-fallback.csv), which is then named in the provenance.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

FUNDING_CAP_FACTOR = 0.75  # Binance caps funding at ±0.75 × the first bracket's maintenance margin rate
BRACKETS_DIR_VAR = "LIQ_BRACKETS_DIR"
FALLBACK_FILE = "brackets-fallback.csv"
COLUMNS = ["bracket", "max_leverage", "notional_floor", "notional_cap", "mmr", "cum"]
_NAME = re.compile(r"^brackets-([A-Z0-9]{2,20})-(\d{4}-\d{2}-\d{2})\.csv$")


def user_dir() -> Path | None:
    d = os.environ.get(BRACKETS_DIR_VAR)
    return Path(d).expanduser() if d else None


def shipped_dir() -> Path:
    """The package's data folder (a real folder: a wheel or a source checkout)."""
    return Path(str(resources.files("liq_pipeline.data")))


def snapshot_files(pattern: re.Pattern):
    """(match, file, where from) of every snapshot file whose name matches: the shipped ones first, then those of
    $LIQ_BRACKETS_DIR (so a refreshed one of the same date wins where callers keep the last)."""
    places = [(shipped_dir(), "shipped")]
    if user_dir() and user_dir().is_dir():
        places.append((user_dir(), f"refreshed, {user_dir()}"))
    for place, origin in places:
        for f in place.iterdir():
            if m := pattern.match(f.name):
                yield m, f, origin


def _files():
    """Every bracket snapshot: (symbol, date) -> (file, where from)."""
    return {(m.group(1), dt.date.fromisoformat(m.group(2))): (f, origin) for m, f, origin in snapshot_files(_NAME)}


def known_symbols() -> list[str]:
    return sorted({sym for sym, _ in _files()})


def _snapshot(symbol: str, day: dt.date | None):
    snaps = sorted((d, f) for (sym, d), f in _files().items() if sym == symbol)
    if not snaps:
        return None
    chosen = snaps[0][1]
    for d, f in snaps:
        if day is None or d <= day:
            chosen = f
    return chosen


@functools.cache
def _read(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, comment="#")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: bracket table without column(s) {', '.join(missing)}")
    check_continuity(df, path.name)
    return df


def resolve(symbol: str, day: dt.date | None = None, fallback: bool = False) -> tuple[pd.DataFrame, str]:
    """The symbol's table in force on `day` and where it came from. No table: InputError, or with `fallback` the
    fallback table, its provenance saying so."""
    chosen = _snapshot(symbol, day)
    if chosen is not None:
        f, origin = chosen
        return _read(Path(f).resolve()), f"{f.name} ({origin})"
    if fallback:
        return _read(shipped_dir() / FALLBACK_FILE), f"FALLBACK {FALLBACK_FILE}: no bracket table for {symbol}"
    raise InputError(f"symbol {symbol}: no bracket table (have {', '.join(known_symbols())}). Fetch Binance's with "
                     f"`liq brackets refresh --symbols {symbol}` (needs an API key), or run on the generic fallback "
                     f"table with --bracket-fallback (every output's metadata then says so)")


def load(symbol: str, day: dt.date | None = None, fallback: bool = False) -> pd.DataFrame:
    return resolve(symbol, day, fallback)[0]


def is_fallback(provenance: str) -> bool:
    return provenance.startswith("FALLBACK")


def check_continuity(df: pd.DataFrame, where: str) -> None:
    """cum_n = cum_{n-1} + floor_n · (mmr_n − mmr_{n-1}): the maintenance amount makes margin continuous."""
    expected = df["cum"].shift(1) + df["notional_floor"] * (df["mmr"] - df["mmr"].shift(1))
    bad = ~np.isclose(df["cum"].iloc[1:], expected.iloc[1:], rtol=1e-9, atol=1e-6)
    if bad.any():
        i = int(np.flatnonzero(bad)[0]) + 1
        raise InputError(f"{where}: bracket {df['bracket'].iloc[i]} cum {df['cum'].iloc[i]} breaks continuity "
                         f"(expected {expected.iloc[i]})")


def funding_cap(symbol: str, default: float = 0.03) -> float:
    """The symbol's funding cap from its own table; `default` where it has none (the fallback's first rate says
    nothing about this symbol's cap)."""
    try:
        return FUNDING_CAP_FACTOR * float(load(symbol)["mmr"].iloc[0])
    except InputError:
        return default
