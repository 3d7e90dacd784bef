"""What `liq heatmap` reads: a window of heatmap_levels from the warehouse, done in DuckDB alone.

The command's whole time is a target (< 300 ms), and importing pandas would take most of it: the window comes
back from SQL as plain rows and the levels table is summed from them in Python; pandas is imported only for a
picture (`window_frame`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from .buckets import BUCKET, LOG_BUCKET, bucket_low
# timeframe -> (window, snapshot stride, bucket multiple, price range shown)
TIMEFRAMES = {
    "1d": (dt.timedelta(days=1), dt.timedelta(hours=1), 1, 0.06),
    "7d": (dt.timedelta(days=7), dt.timedelta(hours=4), 2, 0.12),
    "30d": (dt.timedelta(days=30), dt.timedelta(hours=12), 4, 0.20),
    "90d": (dt.timedelta(days=90), dt.timedelta(days=1), 8, 0.25),
}
LEVEL_COLUMNS = ("price_low", "price_high", "long_usd", "long_peak_usd", "short_usd", "short_peak_usd")
WINDOW_COLUMNS = ("ts", "side", "b", "usd", "price", "is_now")


@dataclasses.dataclass
class HeatmapView:
    ts: dt.datetime                 # the snapshot shown (UTC)
    price: float                    # the price at it
    levels: list[dict]              # LEVEL_COLUMNS, highest price first: at the snapshot, and the window's peak
    window: list[tuple]             # WINDOW_COLUMNS (ts in epoch ms): every snapshot of the window, by bucket
    mult: int                       # buckets of the timeframe, in BUCKETs
    first: dt.datetime | None = None    # the window's earliest snapshot
    asked: dt.timedelta | None = None   # the timeframe's span
    stride: dt.timedelta | None = None  # the time between the window's snapshots

    @property
    def covered(self) -> dt.timedelta | None:
        """How much of the timeframe the data fills: less than asked where the warehouse's history is shorter."""
        return None if self.first is None else self.ts - self.first + self.stride

    @property
    def short_of_timeframe(self) -> bool:
        return self.covered is not None and self.asked is not None and self.covered < self.asked

    def window_frame(self):
        """The window as a frame with each bucket's price range (what plots.heatmap_png/html draw)."""
        import pandas as pd

        win = pd.DataFrame(self.window, columns=list(WINDOW_COLUMNS))
        win["ts"] = pd.to_datetime(win["ts"], unit="ms", utc=True)
        win["price_low"] = bucket_low(win["b"] * self.mult)
        win["price_high"] = bucket_low((win["b"] + 1) * self.mult)
        return win


def coarse_table(timeframe: str) -> str:
    """The warehouse's table of a timeframe's snapshots pre-grouped into its buckets (its schema: lib/io/warehouse's
    DERIVED)."""
    return f"heatmap_levels_{timeframe}"


def _summed_into(mult: int) -> str:
    """A snapshot's stored buckets summed into the timeframe's (`mult` of them each; grouped by ts and side): the one
    expression the pre-grouped tables and the query's own grouping share, so both paths give the same rows."""
    return f"floor(bucket / {mult})::BIGINT AS b, sum(notional_usd) AS usd, any_value(price) AS price"


def coarse_tables() -> dict:
    """The derived tables (lib/io/warehouse.Derived) the warehouse keeps for the timeframes coarser than the stored
    buckets: per symbol, model, stride-aligned snapshot, side and bucket of the timeframe, the notional and the
    price. A 90d window is then 90 snapshots read together and one aggregation, where picking them out of every
    hourly snapshot by the time's remainder and grouping them into the buckets took most of the query."""
    from ..io.warehouse import Derived
    out = {}
    for timeframe, (_, stride, mult, _) in TIMEFRAMES.items():
        if mult > 1:
            out[coarse_table(timeframe)] = Derived(
                "heatmap_levels",
                f"SELECT symbol, model, ts, side, {_summed_into(mult)} FROM heatmap_levels "
                f"WHERE epoch_us(ts) % {stride // dt.timedelta(microseconds=1)} = 0 AND {{where}} GROUP BY ALL",
                "symbol, model, ts")
    return out


def _snapshot_filter(at: dt.datetime, window: dt.timedelta, stride: dt.timedelta) -> tuple[str, dict]:
    """The snapshots a window shows, as a predicate: stride-aligned (from the epoch) in (at − window, at], and `at`
    itself. A range, which DuckDB prunes by its zone maps, and a remainder: an IN list of the times cost more to
    bind and test than the whole scan. The remainder is taken of epoch_us, a TIMESTAMPTZ's own microseconds: epoch_ms
    would divide every row's first."""
    at_ms = round(at.timestamp() * 1000)
    return ("ts > make_timestamptz($first_us) AND ts <= make_timestamptz($at_us) "
            "AND (epoch_us(ts) % $stride_us = 0 OR ts = make_timestamptz($at_us))",
            {"first_us": (at_ms - window // dt.timedelta(milliseconds=1)) * 1000, "at_us": at_ms * 1000,
             "stride_us": stride // dt.timedelta(microseconds=1)})


def _window_rows(table: str, timeframe: str, at: dt.datetime, coarse: bool) -> tuple[str, dict]:
    """The window's rows by (snapshot, side, bucket of the timeframe), as a relation, and its parameters: at 1d the
    stored buckets themselves (a snapshot holds each once); coarser and `coarse`, the warehouse's pre-grouped
    snapshots before `at` and the snapshot `at` grouped here (it is seldom aligned); else the stored buckets summed
    into the timeframe's."""
    span_of, stride, mult, _ = TIMEFRAMES[timeframe]
    where, args = _snapshot_filter(at, span_of, stride)
    picked = f"FROM {table} WHERE symbol = $symbol AND model = $model"
    if mult == 1:
        return f"(SELECT ts, side, bucket AS b, notional_usd AS usd, price {picked} AND {where})", args
    grouped = f"SELECT ts, side, {_summed_into(mult)} {picked}"
    if coarse:
        from ..io.warehouse import DERIVED
        return (f"(SELECT ts, side, b, usd, price FROM {DERIVED}.{coarse_table(timeframe)} WHERE symbol = $symbol "
                f"AND model = $model AND ts > make_timestamptz($first_us) AND ts < make_timestamptz($at_us) "
                f"UNION ALL {grouped} AND ts = make_timestamptz($at_us) GROUP BY ALL)",
                {k: args[k] for k in ("first_us", "at_us")})
    return f"({grouped} AND {where} GROUP BY ALL)", args


def _catalog_error():
    from ..io.warehouse import duckdb
    return duckdb.CatalogException


def latest(con, symbol: str, model: str, table: str = "heatmap_levels", before: dt.datetime | None = None) -> dt.datetime | None:
    """The latest snapshot of a symbol's model (at or before `before`, if given). The table's own latest time is
    known from its statistics; a symbol that is up to date is then found in the last two days' row groups, not in a
    scan of the whole table."""
    args = {"s": symbol, "m": model}
    sql = f"SELECT max(ts) FROM {table} WHERE symbol = $s AND model = $m"
    if before is not None:
        sql += " AND ts <= $before"
        args["before"] = before
        recent = " AND ts > $before - INTERVAL 2 DAY"
    else:
        recent = f" AND ts >= (SELECT max(ts) FROM {table}) - INTERVAL 2 DAY"
    at = con.execute(sql + recent, args).fetchall()[0][0]
    return at if at is not None else con.execute(sql, args).fetchall()[0][0]


def held_symbols(con, model: str, table: str = "heatmap_levels") -> list[str]:
    """The symbols a model has snapshots of: what a request for another symbol is told exists (on the not-found path
    only: it reads the symbol column of the whole table)."""
    return [r[0] for r in con.execute(f"SELECT DISTINCT symbol FROM {table} WHERE model = $m ORDER BY 1",
                                      {"m": model}).fetchall()]


def not_found(symbol: str, model: str, held: list[str]) -> str:
    """What a request that found no snapshot of `symbol` is missing: the symbol itself (and what is held instead), or
    a snapshot in the time asked for (the caller says which)."""
    if symbol in held:
        return ""
    if not held:
        return f"the warehouse holds no {model} heatmap yet (`liq run` makes them)"
    return f"{symbol} is not among the symbols with a {model} heatmap: {', '.join(held)}"


def query(con, symbol: str, model: str, at: dt.datetime | None, timeframe: str, window: bool = False,
          table: str = "heatmap_levels") -> HeatmapView | None:
    """The levels at the snapshot `at` (default: the latest) with the window's peak per bucket, and, with
    `window`, the window's rows (what a picture draws); None when there is no snapshot.

    The snapshot shown is the latest at or before `at` (a stored hourly one, or the nowcast's at its last closed
    bar), and the window ends at it. The levels are the
    buckets within the timeframe's range of the price then and within the range of the window's whole price
    path (what the picture spans), highest price first. `table` is the levels' relation: the warehouse's, or the
    server's view of it with the nowcast's day in place of the stored one (code's name, never a request's). Only the per-bucket figures come back from SQL for the
    text formats: fetching the window's thousands of rows was most of the query's time."""
    span_of, stride, mult, span = TIMEFRAMES[timeframe]
    if at is not None:
        at = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    # the window ends at the snapshot shown: the latest at or before `at`
    at = latest(con, symbol, model, table, at)
    if at is None:
        return None
    at = at.astimezone(dt.UTC)
    # One pass, per side and bucket: the window's peak, the notional at the snapshot shown, and what the window-wide
    # figures are folded from here (the price then, the price path's range, the first snapshot): a CTE read twice
    # and joined to its own one-row summary cost ~1 ms more (times as epoch ms: DuckDB makes each TIMESTAMPTZ a
    # datetime through pytz). The warehouse's pre-grouped timeframes where it has them (not a server's view of the
    # levels, nor a warehouse built without them)
    for coarse in (table == "heatmap_levels" and mult > 1, False):
        lv, args = _window_rows(table, timeframe, at, coarse)
        args = {**args, "symbol": symbol, "model": model}
        try:
            rows = con.execute(f"""
                SELECT side, b, max(usd), sum(usd) FILTER (WHERE ts = make_timestamptz($at_us)),
                       any_value(price) FILTER (WHERE ts = make_timestamptz($at_us)), min(price), max(price),
                       epoch_ms(min(ts))
                FROM {lv} GROUP BY side, b
            """, args).fetchall()
            break
        except _catalog_error() as exc:
            if not coarse or coarse_table(timeframe) not in str(exc):
                raise
    if not rows:
        return None
    price_now = next((float(r[4]) for r in rows if r[4] is not None), None)
    if price_now is None:                                   # the snapshot shown has no row in the window
        return None
    path_lo, path_hi = min(r[5] for r in rows) * (1 - span), max(r[6] for r in rows) * (1 + span)
    lo, hi = price_now * (1 - span) * (1 - BUCKET * mult), price_now * (1 + span) * (1 + BUCKET * mult)
    in_path = [r for r in rows if path_lo <= bucket_low(r[1] * mult) <= path_hi]
    if not any(r[3] is not None for r in in_path):          # nothing at the snapshot within the picture
        return None
    by_bucket: dict[int, dict] = {}
    for side, b, peak, now_usd, *_ in in_path:
        low, high = bucket_low(b * mult), bucket_low((b + 1) * mult)
        if low < lo or high > hi:
            continue
        level = by_bucket.setdefault(b, {**dict.fromkeys(LEVEL_COLUMNS, 0.0), "price_low": low, "price_high": high})
        level[f"{side}_peak_usd"] = float(peak)
        level[f"{side}_usd"] = float(now_usd or 0.0)
    levels = [by_bucket[b] for b in sorted(by_bucket, reverse=True)]
    picture = []
    if window:
        picture = con.execute(f"""
            SELECT epoch_ms(ts), side, b, usd, price, ts = make_timestamptz($at_us) AS is_now FROM {lv}
            WHERE exp(b * {mult} * {LOG_BUCKET}) BETWEEN $path_lo AND $path_hi
            ORDER BY ts, side, b
        """, {**args, "path_lo": path_lo, "path_hi": path_hi}).fetchall()
    first = dt.datetime.fromtimestamp(min(r[7] for r in rows) / 1000, dt.UTC)
    return HeatmapView(at, price_now, levels, picture, mult, first, span_of, stride)
