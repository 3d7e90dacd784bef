"""What `liq heatmap` reads: a window of heatmap_levels from the warehouse, done in DuckDB alone.

The command's whole time is a target (< 300 ms), and importing pandas would take ~0.6 s of it: the window comes
back from SQL as plain rows and the levels table is summed from them in Python; pandas is imported only for a
picture (`window_frame`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math

BUCKET = 0.0025
LOG_BUCKET = math.log1p(BUCKET)
# timeframe -> (window, snapshot stride, bucket multiple, price range shown)
TIMEFRAMES = {
    "1d": (dt.timedelta(days=1), dt.timedelta(hours=1), 1, 0.06),
    "7d": (dt.timedelta(days=7), dt.timedelta(hours=4), 2, 0.12),
    "30d": (dt.timedelta(days=30), dt.timedelta(hours=12), 4, 0.20),
    "90d": (dt.timedelta(days=90), dt.timedelta(days=1), 8, 0.25),
}
LEVEL_COLUMNS = ("price_low", "price_high", "long_usd", "long_peak_usd", "short_usd", "short_peak_usd")
WINDOW_COLUMNS = ("ts", "side", "b", "usd", "price", "is_now")


def bucket_low(k: float) -> float:
    """levels.bucket_low of one bucket, without numpy."""
    return math.exp(k * LOG_BUCKET)


@dataclasses.dataclass
class HeatmapView:
    ts: dt.datetime                 # the snapshot shown (UTC)
    price: float                    # the price at it
    levels: list[dict]              # LEVEL_COLUMNS, highest price first: at the snapshot, and the window's peak
    window: list[tuple]             # WINDOW_COLUMNS (ts in epoch ms): every snapshot of the window, by bucket
    mult: int                       # buckets of the timeframe, in BUCKETs

    def window_frame(self):
        """The window as a frame with each bucket's price range (what plots.heatmap_png/html draw)."""
        import pandas as pd

        from .levels import bucket_low as bucket_low_of
        win = pd.DataFrame(self.window, columns=list(WINDOW_COLUMNS))
        win["ts"] = pd.to_datetime(win["ts"], unit="ms", utc=True)
        win["price_low"] = bucket_low_of(win["b"] * self.mult)
        win["price_high"] = bucket_low_of((win["b"] + 1) * self.mult)
        return win


def _snapshot_times(at: dt.datetime, window: dt.timedelta, stride: dt.timedelta) -> list[dt.datetime]:
    """The snapshot times a window shows: stride-aligned, in (at − window, at], and `at` itself."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    first = at - window
    start = epoch + math.ceil((first - epoch) / stride) * stride
    if start == first:
        start += stride
    times = []
    while start <= at:
        times.append(start)
        start += stride
    return sorted(set(times) | {at})


def query(con, symbol: str, model: str, at: dt.datetime | None, timeframe: str) -> HeatmapView | None:
    """The levels at the snapshot `at` (default: the latest) with the window's peak per bucket, and the window;
    None when there is no snapshot."""
    window, stride, mult, span = TIMEFRAMES[timeframe]
    if at is None:
        at = con.execute("SELECT max(ts) FROM heatmap_levels WHERE symbol = $s AND model = $m",
                         {"s": symbol, "m": model}).fetchall()[0][0]
        if at is None:
            return None
    at = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    # the snapshot times, listed: an IN list on the sorted table lets DuckDB skip everything else by its zone maps
    ts_list = ", ".join(f"TIMESTAMPTZ '{t.isoformat()}'" for t in _snapshot_times(at, window, stride))
    rows = con.execute(f"""
        WITH lv AS (SELECT ts, side, floor(bucket / $mult)::BIGINT AS b, sum(notional_usd) AS usd, any_value(price) AS price
                    FROM heatmap_levels
                    WHERE symbol = $symbol AND model = $model AND ts IN ({ts_list})
                    GROUP BY ALL),
             now AS (SELECT max(ts) AS t FROM lv),
             path AS (SELECT min(price) AS lo, max(price) AS hi FROM lv)
        SELECT epoch_ms(lv.ts), side, b, usd, lv.price, (lv.ts = now.t) AS is_now
        FROM lv, now, path
        WHERE exp(b * $mult * {LOG_BUCKET}) BETWEEN path.lo * (1 - $span) AND path.hi * (1 + $span)
        ORDER BY lv.ts, side, b
    """, {"symbol": symbol, "model": model, "mult": mult, "span": span}).fetchall()
    now = [r for r in rows if r[5]]
    if not now:
        return None
    # times come back as epoch ms: DuckDB makes each TIMESTAMPTZ a datetime through pytz (~20 µs a row)
    when, price_now = dt.datetime.fromtimestamp(now[0][0] / 1000, dt.UTC), float(now[0][4])
    # the picture spans the window's whole price path; the levels table, the range around the price now:
    # per bucket, the notional at the snapshot and the window's peak, by side
    lo, hi = price_now * (1 - span) * (1 - BUCKET * mult), price_now * (1 + span) * (1 + BUCKET * mult)
    by_bucket: dict[int, dict] = {}
    for _, side, b, usd, _, is_now in rows:
        if bucket_low(b * mult) < lo or bucket_low((b + 1) * mult) > hi:
            continue
        level = by_bucket.setdefault(b, dict.fromkeys(LEVEL_COLUMNS, 0.0))
        level[f"{side}_peak_usd"] = max(level[f"{side}_peak_usd"], float(usd))
        if is_now:
            level[f"{side}_usd"] += float(usd)
    levels = []
    for b in sorted(by_bucket, reverse=True):
        by_bucket[b].update(price_low=bucket_low(b * mult), price_high=bucket_low((b + 1) * mult))
        levels.append(by_bucket[b])
    return HeatmapView(when, price_now, levels, rows, mult)
