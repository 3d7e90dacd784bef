"""The 30-day volume profile: each bar's quote volume spread evenly over its low..high, summed per price bin."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
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
    window = ProfileWindow.of(klines)
    return window.profile(), window.interval, len(window.parts)


@dataclasses.dataclass(frozen=True)
class ProfileWindow:
    """The profile's parts: each UTC day's volume spread over the price grid (first bin index, volume, taker-buy
    volume per bin), summed oldest first into the profile. Kept per day, the next day's profile adds the day that
    enters and drops the one that leaves (`advance`) instead of re-reading 30 days of klines; both ways sum the
    same parts in the same order, so they agree bit for bit. Only the finest interval's bars count; `finest`
    remembers each day's finest interval, so a window whose finest interval changes is rebuilt."""
    interval: str | None
    width: float
    last_close: float
    parts: dict[str, tuple[int, np.ndarray, np.ndarray]]     # ISO day -> (first bin, volume, taker), oldest first
    finest: dict[str, str]                                    # ISO day -> the finest interval that day had

    @classmethod
    def of(cls, klines: pd.DataFrame) -> "ProfileWindow":
        interval = finest_interval(klines)
        if interval is None:
            return cls(None, 1.0, float("nan"), {}, {})
        days = klines["open_time"].dt.strftime("%Y-%m-%d")
        finest = {d: finest_interval(g) for d, g in klines.groupby(days, sort=True)}
        bars = klines[klines["interval"] == interval].sort_values("open_time")
        last_close = float(bars["close"].iloc[-1])
        width = nice_width(last_close)
        return cls(interval, width, last_close, _day_parts(bars, width), finest)

    @classmethod
    def for_day(cls, day: dt.date, before: "ProfileWindow | None", klines_between) -> tuple["ProfileWindow", bool]:
        """`day`'s window (the PROFILE_DAYS days before it): `before` (the day before's) carried on by one day where
        that equals building it anew, else built from those days' klines. `klines_between(a, b)` gives the klines
        of days a (inclusive) to b (exclusive). Returns the window and whether it was carried on."""
        first = day - dt.timedelta(days=PROFILE_DAYS)
        if before is not None:
            carried = before.advance(klines_between(day - dt.timedelta(days=1), day), first.isoformat())
            if carried is not None:
                return carried, True
        return cls.of(klines_between(first, day)), False

    def advance(self, entering: pd.DataFrame, first_day: str) -> "ProfileWindow | None":
        """The window one day on: the klines of the day that enters added, days before `first_day` dropped. None
        where that is not the same as building it anew (the finest interval or the bin width would change)."""
        finest = {d: i for d, i in self.finest.items() if d >= first_day}
        parts = {d: p for d, p in self.parts.items() if d >= first_day}
        if len(entering):
            day = entering["open_time"].iloc[0].strftime("%Y-%m-%d")
            finest[day] = finest_interval(entering)
        window_interval = min(finest.values(), key=KLINE_INTERVALS.get) if finest else None
        if window_interval != self.interval:
            return None
        bars = entering[entering["interval"] == self.interval].sort_values("open_time") if len(entering) else entering
        last_close = float(bars["close"].iloc[-1]) if len(bars) else self.last_close
        if nice_width(last_close) != self.width:
            return None
        if len(bars):
            parts.update(_day_parts(bars, self.width))
        return ProfileWindow(self.interval, self.width, last_close, parts, finest)

    def profile(self) -> pd.DataFrame:
        cols = ["price_low", "price_high", "volume_usd", "taker_buy_usd"]
        if not self.parts:
            return pd.DataFrame(columns=cols, dtype=float)
        lo = min(k for k, _, _ in self.parts.values())
        hi = max(k + len(v) for k, v, _ in self.parts.values())
        volume, taker = np.zeros(hi - lo), np.zeros(hi - lo)
        for day in sorted(self.parts):
            k, v, t = self.parts[day]
            volume[k - lo: k - lo + len(v)] += v
            taker[k - lo: k - lo + len(t)] += t
        edges = np.arange(lo, hi + 1) * self.width
        out = pd.DataFrame({"price_low": edges[:-1], "price_high": edges[1:], "volume_usd": volume, "taker_buy_usd": taker})
        return out[out.volume_usd > 0].reset_index(drop=True)

    def to_bytes(self) -> bytes:
        days = sorted(self.parts)
        meta = {"interval": self.interval, "width": self.width, "last_close": self.last_close, "finest": self.finest,
                "days": days, "first_bins": [self.parts[d][0] for d in days],
                "lengths": [len(self.parts[d][1]) for d in days]}
        buf = io.BytesIO()
        np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                 volume=np.concatenate([self.parts[d][1] for d in days]) if days else np.zeros(0),
                 taker=np.concatenate([self.parts[d][2] for d in days]) if days else np.zeros(0))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ProfileWindow":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes())
            volume, taker = z["volume"], z["taker"]
        ends = np.cumsum(meta["lengths"])
        parts = {d: (k, volume[e - n: e], taker[e - n: e])
                 for d, k, n, e in zip(meta["days"], meta["first_bins"], meta["lengths"], ends)}
        return cls(meta["interval"], meta["width"], meta["last_close"], parts, meta["finest"])


def _day_parts(bars: pd.DataFrame, width: float) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
    """Each UTC day's bars spread over the grid of `width` (bins k·width .. (k+1)·width)."""
    out = {}
    for day, g in bars.groupby(bars["open_time"].dt.strftime("%Y-%m-%d"), sort=True):
        low, high = g["low"].to_numpy(float), g["high"].to_numpy(float)
        _, (volume, taker) = spread_volume(low, high, [g["quote_volume"].to_numpy(float),
                                                       g["taker_buy_quote_volume"].to_numpy(float)], width)
        out[day] = (math.floor(low.min() / width), volume, taker)
    return out


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
