"""Notional brackets (maintenance margin rate and amount) per symbol, shipped as dated CSV snapshots.

Files: liq_pipeline/data/brackets-SYM-YYYY-MM-DD.csv; the snapshot in force on a day is the latest one
dated on or before it (or the earliest, for days before any snapshot).
"""
from __future__ import annotations

import datetime as dt
import functools
from importlib import resources

import numpy as np
import pandas as pd

from .errors import InputError

FUNDING_CAP_FACTOR = 0.75  # Binance caps funding at ±0.75 × the first bracket's maintenance margin rate


def _snapshots(symbol: str) -> list[tuple[dt.date, str]]:
    out = []
    for f in resources.files("liq_pipeline.data").iterdir():
        name = f.name
        if name.startswith(f"brackets-{symbol}-") and name.endswith(".csv"):
            out.append((dt.date.fromisoformat(name[len(f"brackets-{symbol}-"):-4]), name))
    return sorted(out)


def known_symbols() -> list[str]:
    names = [f.name for f in resources.files("liq_pipeline.data").iterdir() if f.name.startswith("brackets-")]
    return sorted({n.split("-")[1] for n in names})


@functools.cache
def load(symbol: str, day: dt.date | None = None) -> pd.DataFrame:
    snaps = _snapshots(symbol)
    if not snaps:
        raise InputError(f"symbol {symbol}: no bracket table shipped (have {', '.join(known_symbols())}); "
                         f"add liq_pipeline/data/brackets-{symbol}-YYYY-MM-DD.csv")
    chosen = snaps[0][1]
    for d, name in snaps:
        if day is None or d <= day:
            chosen = name
    with resources.files("liq_pipeline.data").joinpath(chosen).open() as f:
        df = pd.read_csv(f, comment="#")
    check_continuity(df, chosen)
    return df


def check_continuity(df: pd.DataFrame, where: str) -> None:
    """cum_n = cum_{n-1} + floor_n · (mmr_n − mmr_{n-1}): the maintenance amount makes margin continuous."""
    expected = df["cum"].shift(1) + df["notional_floor"] * (df["mmr"] - df["mmr"].shift(1))
    bad = ~np.isclose(df["cum"].iloc[1:], expected.iloc[1:], rtol=0, atol=1e-6)
    if bad.any():
        i = int(np.flatnonzero(bad)[0]) + 1
        raise InputError(f"{where}: bracket {df['bracket'].iloc[i]} cum {df['cum'].iloc[i]} breaks continuity "
                         f"(expected {expected.iloc[i]})")


def funding_cap(symbol: str, default: float = 0.03) -> float:
    try:
        return FUNDING_CAP_FACTOR * float(load(symbol)["mmr"].iloc[0])
    except InputError:
        return default
