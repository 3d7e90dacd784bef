"""The 30-day volume profile: each bar's quote volume spread evenly over its low..high, summed per price bin."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..params import KLINE_INTERVALS

PROFILE_DAYS = 30


def finest_interval(klines: pd.DataFrame) -> str | None:
    ivs = list(klines["interval"].unique()) if len(klines) else []
    return min(ivs, key=KLINE_INTERVALS.get) if ivs else None


def finest_klines(klines: pd.DataFrame) -> pd.DataFrame:
    """The bars of the finest interval present, in time order."""
    interval = finest_interval(klines)
    return klines[klines["interval"] == interval].sort_values("open_time").reset_index(drop=True) if interval \
        else klines


def trailing_profile(klines: pd.DataFrame) -> tuple[pd.DataFrame, str | None, int]:
    """The profile of the given (past) klines at their finest interval, bins ~0.1% of the last close.
    Returns (profile, interval, days with bars); an empty profile when there are no bars."""
    interval = finest_interval(klines)
    if interval is None:
        return volume_profile(klines.head(0), 1.0), None, 0
    bars = klines[klines["interval"] == interval].sort_values("open_time")
    prof = volume_profile(bars, nice_width(float(bars["close"].iloc[-1])))
    return prof, interval, int(bars["open_time"].dt.date.nunique())


def nice_width(price: float, frac: float = 0.001) -> float:
    """~frac of price, rounded to 1, 2 or 5 × a power of ten (67,000 → 50)."""
    raw = price * frac
    p = 10 ** math.floor(math.log10(raw))
    return min((m * p for m in (1, 2, 5, 10)), key=lambda w: abs(math.log(w / raw)))


def spread_volume(low: np.ndarray, high: np.ndarray, volumes: list[np.ndarray], width: float):
    """Bin edges (multiples of `width` over low..high) and, for each array of per-bar volumes, its volume per
    bin, each bar's spread evenly over its range."""
    edges = np.arange(math.floor(low.min() / width), math.floor(high.max() / width) + 2) * width
    span = np.maximum(high - low, 1e-12)

    def spread(volume: np.ndarray) -> np.ndarray:
        # F(x) = Σ v·clamp((x − low)/(high − low), 0, 1): the volume below x; a bin holds F(b) − F(a).
        # Done edge by edge to keep memory at O(bars), not O(bars × edges).
        cum = np.array([(volume * np.clip((e - low) / span, 0.0, 1.0)).sum() for e in edges])
        return np.diff(cum)

    return edges, [spread(v) for v in volumes]


def volume_profile(bars: pd.DataFrame, width: float) -> pd.DataFrame:
    """bars: klines with low, high, quote_volume, taker_buy_quote_volume. Bins are multiples of `width`."""
    cols = ["price_low", "price_high", "volume_usd", "taker_buy_usd"]
    if bars.empty:
        return pd.DataFrame(columns=cols, dtype=float)
    edges, (volume, taker) = spread_volume(bars["low"].to_numpy(float), bars["high"].to_numpy(float),
                                           [bars["quote_volume"].to_numpy(float),
                                            bars["taker_buy_quote_volume"].to_numpy(float)], width)
    out = pd.DataFrame({"price_low": edges[:-1], "price_high": edges[1:], "volume_usd": volume, "taker_buy_usd": taker})
    return out[out.volume_usd > 0].reset_index(drop=True)
