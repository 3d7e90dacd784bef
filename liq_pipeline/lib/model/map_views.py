"""What the live map serves, as plain data from the warehouse: a timeframe's heatmap as the commercial APIs return it
(price bins × time), the key levels ranked by notional, and the recorded liquidations over the window. Light at
import (no pandas): a request's whole time is a target."""
from __future__ import annotations

import datetime as dt

from .buckets import bucket_low
from .levels_query import HeatmapView, query

# Bounds of one answer: the matrix has at most TIMEFRAMES' snapshots × the window's buckets; events and levels are
# capped here (the largest kept).
MAX_EVENTS = 2000
MAX_LEVELS = 100


def _z(t: dt.datetime) -> str:
    """ISO-8601 UTC with the Z the commercial APIs use."""
    return t.isoformat().replace("+00:00", "Z")


def _iso(epoch_ms: int) -> str:
    return _z(dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC))


def heatmap(con, symbol: str, model: str, timeframe: str, at: dt.datetime | None, levels_table: str = "heatmap_levels",
            events_table: str = "liquidation_events", until: dt.datetime | None = None) -> dict | None:
    """The snapshot `at` (default: the latest) and its timeframe: `asof`, `price`, `levels` of that snapshot (side,
    price_low, price_high, notional_usd), and `matrix` (times, price bins, long and short USD per bin and time,
    the price at each time), `events` (liquidations recorded in the window, none after `until`: a replay's clock).
    None when there is no snapshot."""
    view = query(con, symbol, model, at, timeframe, window=True, table=levels_table)
    if view is None:
        return None
    times = sorted({r[0] for r in view.window})
    bins = sorted({r[2] for r in view.window})
    col, row = {t: i for i, t in enumerate(times)}, {b: i for i, b in enumerate(bins)}
    grid = {side: [[0.0] * len(times) for _ in bins] for side in ("long", "short")}
    price_at = [None] * len(times)
    levels = []
    for ts, side, b, usd, price, is_now in view.window:
        grid[side][row[b]][col[ts]] = round(float(usd), 2)
        price_at[col[ts]] = float(price)
        if is_now and usd > 0:
            levels.append({"side": side, "price_low": bucket_low(b * view.mult),
                           "price_high": bucket_low((b + 1) * view.mult), "notional_usd": round(float(usd), 2)})
    levels.sort(key=lambda lv: -lv["price_low"])
    return {"symbol": symbol, "model": model, "timeframe": timeframe, "asof": _z(view.ts),
            "from": _z(view.first), "covers_timeframe": not view.short_of_timeframe,
            "price": view.price, "levels": levels,
            "matrix": {"times": [_iso(t) for t in times], "price_bins": [bucket_low(b * view.mult) for b in bins],
                       "bin_width": [bucket_low((b + 1) * view.mult) - bucket_low(b * view.mult) for b in bins],
                       "long_usd": grid["long"], "short_usd": grid["short"], "price": price_at},
            "events": events(con, symbol, view, events_table, until)}


def events(con, symbol: str, view: HeatmapView, table: str = "liquidation_events",
           until: dt.datetime | None = None) -> list[dict]:
    """The liquidations recorded (forceOrder tapes) in the window, the largest MAX_EVENTS of them, in time order."""
    last = view.ts + view.stride if until is None else min(view.ts + view.stride, until)
    rows = con.execute(f"""
        SELECT epoch_ms(ts), side, price, notional_usd, source FROM {table}
        WHERE symbol = $symbol AND ts >= $first AND ts < $last
        ORDER BY notional_usd DESC LIMIT $n""",
        {"symbol": symbol, "first": view.first, "last": last, "n": MAX_EVENTS}).fetchall()
    return [{"ts": _iso(t), "side": side, "price": float(p), "notional_usd": round(float(usd), 2), "source": src}
            for t, side, p, usd, src in sorted(rows, key=lambda r: r[:4])]


def key_levels(con, symbol: str, model: str, top: int, at: dt.datetime | None = None,
               levels_table: str = "heatmap_levels") -> dict | None:
    """The latest snapshot's levels (the 1d view's buckets) ranked by notional: side, span, USD, distance from the
    price in percent (negative below it)."""
    view = query(con, symbol, model, at, "1d", table=levels_table)
    if view is None:
        return None
    ranked = []
    for lv in view.levels:
        for side in ("long", "short"):
            usd = lv[f"{side}_usd"]
            if usd > 0:
                mid = (lv["price_low"] + lv["price_high"]) / 2
                ranked.append({"side": side, "price_low": lv["price_low"], "price_high": lv["price_high"],
                               "notional_usd": round(usd, 2), "distance_pct": round(100 * (mid / view.price - 1), 3)})
    ranked.sort(key=lambda lv: -lv["notional_usd"])
    return {"symbol": symbol, "model": model, "asof": _z(view.ts), "price": view.price,
            "levels": ranked[:min(top, MAX_LEVELS)]}

