"""Exact liquidation price, Binance USD-M, isolated margin, one-way mode, tiered brackets with cum.

    long:  LP = (EP·(1 − 1/L) − cum/Q) / (1 − MMR)
    short: LP = (EP·(1 + 1/L) + cum/Q) / (1 + MMR)

MMR and cum come from the bracket of the notional *at liquidation* (Q·LP), which is not known until LP
is: start from the bracket at entry, recompute, re-pick, until the bracket is stable.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

MAX_ITER = 12


@dataclasses.dataclass(frozen=True)
class BracketArrays:
    """A bracket table as numpy arrays (the formula runs in hot loops: no DataFrame access there)."""
    floors: np.ndarray
    mmr: np.ndarray
    cum: np.ndarray
    max_lev: np.ndarray

    @classmethod
    def of(cls, table: "pd.DataFrame | BracketArrays") -> "BracketArrays":
        if isinstance(table, cls):
            return table
        return cls(*(table[c].to_numpy(float) for c in ("notional_floor", "mmr", "cum", "max_leverage")))


def bracket_index(floors: np.ndarray, notional: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(floors, notional, side="right") - 1, 0, len(floors) - 1)


def liquidation_price(is_long: np.ndarray, entry: np.ndarray, qty: np.ndarray, leverage: np.ndarray,
                      brackets: "pd.DataFrame | BracketArrays") -> np.ndarray:
    """Vectorised. `qty` in coins (> 0). A long at 1x has no liquidation price: 0 is returned."""
    is_long = np.asarray(is_long, dtype=bool)
    entry, qty, lev = (np.asarray(a, dtype=float) for a in (entry, qty, leverage))
    b = BracketArrays.of(brackets)
    floors, mmr_t, cum_t = b.floors, b.mmr, b.cum
    idx = bracket_index(floors, entry * qty)
    lp = entry
    for _ in range(MAX_ITER):
        mmr, cum = mmr_t[idx], cum_t[idx]
        lp = np.where(is_long, (entry * (1 - 1 / lev) - cum / qty) / (1 - mmr),
                      (entry * (1 + 1 / lev) + cum / qty) / (1 + mmr))
        lp = np.maximum(lp, 0.0)
        new = bracket_index(floors, qty * lp)
        if np.array_equal(new, idx):
            break
        idx = new
    return lp


def bankruptcy_price(is_long, entry, leverage) -> np.ndarray:
    """Where the position's margin is exactly gone: the price a liquidation order is sent at."""
    entry, lev = np.asarray(entry, float), np.asarray(leverage, float)
    return np.where(np.asarray(is_long, bool), entry * (1 - 1 / lev), entry * (1 + 1 / lev))


def max_leverage(brackets: "pd.DataFrame | BracketArrays", notional: np.ndarray) -> np.ndarray:
    """The most leverage the exchange allows at this notional (a position's bracket caps it)."""
    b = BracketArrays.of(brackets)
    return b.max_lev[bracket_index(b.floors, notional)]
