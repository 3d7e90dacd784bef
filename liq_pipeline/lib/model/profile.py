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


def volume_profile(bars: pd.DataFrame, width: float) -> pd.DataFrame:
    """bars: klines with low, high, quote_volume, taker_buy_quote_volume. Bins are multiples of `width`."""
    cols = ["price_low", "price_high", "volume_usd", "taker_buy_usd"]
    if bars.empty:
        return pd.DataFrame(columns=cols, dtype=float)
    lo, hi = bars["low"].to_numpy(float), bars["high"].to_numpy(float)
    edges = np.arange(math.floor(lo.min() / width), math.floor(hi.max() / width) + 2) * width
    span = np.maximum(hi - lo, 1e-12)

    def spread(volume: np.ndarray) -> np.ndarray:
        # F(x) = Σ v·clamp((x − low)/(high − low), 0, 1): the volume below x; a bin holds F(b) − F(a).
        # Done edge by edge to keep memory at O(bars), not O(bars × edges).
        cum = np.array([(volume * np.clip((e - lo) / span, 0.0, 1.0)).sum() for e in edges])
        return np.diff(cum)

    out = pd.DataFrame({"price_low": edges[:-1], "price_high": edges[1:],
                        "volume_usd": spread(bars["quote_volume"].to_numpy(float)),
                        "taker_buy_usd": spread(bars["taker_buy_quote_volume"].to_numpy(float))})
    return out[out.volume_usd > 0].reset_index(drop=True)
