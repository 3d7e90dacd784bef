"""The nowcast: the current, unfinished day estimated by the pipeline's own code, current to the last closed bar.

A day's partition exists once the day is over, so by evening the stored map is up to a day old. The nowcast takes
what the pipeline would start the day from (the book the day before closed with: the `book_state` table, else the
same replay of history a first day gets; the day's 30-day volume profile) and runs `estimate_day` over the day's
bars pulled from the source so far. There is no second model: each snapshot the nowcast serves for a time ts is
the one the daily run later writes for ts, number for number (tests/test_nowcast.py), plus one more at the last
closed bar's end, so the map is current between the hourly snapshots.

Only data known at the clock is used, and only as far as it is complete: a bar is taken when it has closed, and
when the open interest and the funding it is reconciled with are already published (the 5-minute OI of its end,
the last settlement before it). Later bars wait for the next refresh; the gap between the clock and the data's
end is the nowcast's lag, which `/api/health` reports with any bar or OI row missing from the day.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import pandas as pd

from ..io import schemas
from ..io.clean import clean_partition
from ..io.storage import DataLayout, concat_days
from ..market import brackets
from ..market.liqprice import BracketArrays
from ..params import KLINE_INTERVALS
from .days import ONE_DAY, replay, stored_state
from .estimate import estimate_day
from .levels import rollup
from .profile import ProfileWindow, finest_interval

OI_STEP = pd.Timedelta(minutes=5)           # openInterestHist's period: each row is stamped at its interval's end
DAY_TABLES = ("klines", "open_interest", "funding", "liquidation_events")
MAX_GAPS_NAMED = 5


@dataclasses.dataclass
class Live:
    """One nowcast of a symbol: the day's snapshots up to `horizon`, as heatmap_levels rows, and what it rests on."""
    symbol: str
    day: dt.date
    clock: dt.datetime              # the time it was made for
    horizon: dt.datetime | None     # the data's end: the last bar taken ended here (None: no bar yet)
    levels: pd.DataFrame            # heatmap_levels rows, both models, ts <= horizon
    events: pd.DataFrame            # the day's recorded liquidations up to the clock (liquidation_events rows)
    start: str                      # where the day's book came from
    gaps: list[str]                 # bars and OI rows the day is missing up to the horizon
    interval: str | None
    seconds: float                  # how long it took

    @property
    def lag(self) -> dt.timedelta | None:
        return None if self.horizon is None else self.clock - self.horizon


class DayFeed:
    """A source's rows of a day, as the clean layer makes them (the same parsers), pulled into a scratch raw folder
    of its own: an unfinished day's pulls are not the day's raw partition, which the daily run makes once it is over.
    A source whose files hold the whole day (files, the simulated market) is read once a day; REST is pulled anew
    at every refresh."""

    def __init__(self, source, scratch: Path):
        self.source, self.scratch = source, Path(scratch)
        self.refetch = getattr(source, "name", "") == "binance"
        self._held: dict = {}

    def day(self, symbol: str, day: dt.date) -> dict[str, pd.DataFrame]:
        key = (symbol, day)
        if key in self._held and not self.refetch:
            return self._held[key]
        self.source.check_symbol(symbol, day)
        frames = {}
        for table in DAY_TABLES:
            pull = self.source.pull(table, symbol, day)
            df = pd.DataFrame()
            if pull.files:
                manifest = {"source": self.source.name, "files": [f.to_dict() for f in pull.files]}
                df, _ = clean_partition(table, symbol, day, manifest, self.scratch)
            frames[table] = schemas.conform(df, table)
        self._held = {key: frames}                  # one day held: the clock moves on, never back
        return frames


def horizon_of(klines: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame, now: pd.Timestamp,
               interval: str) -> pd.Timestamp | None:
    """The end of the last bar that can be taken at `now`: closed by now, with the OI of its end published (the next
    OI row would fall after it), and no funding settlement due before its end that is not yet published."""
    step = pd.Timedelta(seconds=KLINE_INTERVALS[interval])
    ends = klines.loc[klines["interval"] == interval, "open_time"] + step
    ends = ends[ends <= now]
    if ends.empty:
        return None
    limit = ends.max()
    known_oi = oi.loc[oi["ts"] <= now, "ts"] if len(oi) else pd.Series(dtype="datetime64[ms, UTC]")
    if known_oi.empty:
        return None
    limit = min(limit, known_oi.max() + OI_STEP - pd.Timedelta(milliseconds=1))
    known_funding = funding[funding["ts"] <= now] if len(funding) else funding
    if len(known_funding):
        last = known_funding.sort_values("ts").iloc[-1]
        limit = min(limit, last["ts"] + pd.Timedelta(hours=int(last["interval_hours"])))
    taken = ends[ends <= limit]
    return taken.max() if len(taken) else None


def gaps_of(klines: pd.DataFrame, oi: pd.DataFrame, day: dt.date, horizon: pd.Timestamp, interval: str) -> list[str]:
    """The day's bars and 5-minute OI rows missing up to the horizon, named (the first few) and counted."""
    out = []
    start = pd.Timestamp(day, tz="UTC")
    step = pd.Timedelta(seconds=KLINE_INTERVALS[interval])
    for what, have, expected in (
            (f"klines {interval}: bar", klines.loc[klines["interval"] == interval, "open_time"],
             pd.date_range(start, horizon - step, freq=step)),
            ("open_interest: row", oi["ts"] if len(oi) else pd.Series(dtype="datetime64[ms, UTC]"),
             pd.date_range(start + OI_STEP, horizon, freq=OI_STEP))):
        missing = expected.difference(pd.DatetimeIndex(have).as_unit("ms") if len(have) else pd.DatetimeIndex([]))
        if len(missing):
            named = ", ".join(f"{t:%H:%M}" for t in missing[:MAX_GAPS_NAMED])
            more = f" and {len(missing) - MAX_GAPS_NAMED} more" if len(missing) > MAX_GAPS_NAMED else ""
            out.append(f"{what} {named}{more} UTC missing ({len(missing)} of {len(expected)})")
    return out


def day_profile(layout: DataLayout, symbol: str, day: dt.date) -> pd.DataFrame:
    """The day's 30-day volume profile: the stored partition where the pipeline made it, else made the same way
    (the window of the day before carried on by one day, or built from the 30 days' klines), not written."""
    try:
        return layout.read("model", "volume_profile", symbol, day)
    except FileNotFoundError:
        pass
    prev = layout.profile_state(symbol, day - ONE_DAY)
    before = ProfileWindow.from_bytes(prev.read_bytes()) if prev.exists() else None

    def klines_between(a: dt.date, b: dt.date) -> pd.DataFrame:
        return layout.read_days("clean", "klines", symbol, [a + i * ONE_DAY for i in range((b - a).days)])

    window, _ = ProfileWindow.for_day(day, before, klines_between)
    return window.profile()


def nowcast(layout: DataLayout, feed: DayFeed, symbol: str, now: dt.datetime, cfg, fallback: bool) -> Live:
    """The map of `symbol`'s day at `now`, as the daily run will make it, up to the last bar that can be taken."""
    began = time.perf_counter()
    day = now.astimezone(dt.UTC).date()
    clock = pd.Timestamp(now).tz_convert("UTC")
    table, _ = brackets.resolve(symbol, day, fallback=fallback)
    br = BracketArrays.of(table)
    today = feed.day(symbol, day)
    kl = today["klines"]
    interval = finest_interval(kl[kl["open_time"] < clock]) if len(kl) else None
    yesterday = {t: _stored(layout, t, symbol, day - ONE_DAY) for t in ("open_interest", "funding")}
    oi = concat_days([yesterday["open_interest"], today["open_interest"]])
    funding = concat_days([yesterday["funding"], today["funding"]])
    events = today["liquidation_events"]
    events = events[events["ts"] <= clock] if len(events) else events
    horizon = horizon_of(kl, oi, funding, clock, interval) if interval else None
    empty = pd.DataFrame()
    prev = stored_state(layout, symbol, day - ONE_DAY, cfg)
    start = "the book the day before closed with"
    if prev is None:
        prev, warm = replay(layout, symbol, day, cfg, br)
        start = (f"warm: replayed {warm} day(s) of history" if warm else
                 "cold: no history, seeded from the volume profile")
    if horizon is None:
        return Live(symbol, day, now, None, empty, events, start,
                    [f"no bar of {day} can be taken yet (closed, with its OI published)"], interval,
                    time.perf_counter() - began)
    bars = kl[(kl["open_time"] + pd.Timedelta(seconds=KLINE_INTERVALS[interval]) <= horizon)]
    oi = oi[oi["ts"] <= horizon]
    funding = funding[funding["ts"] < horizon]
    est = estimate_day(day, bars, oi, funding, day_profile(layout, symbol, day), prev, cfg, br,
                       through_last_bar=True)
    levels = schemas.conform_stamped(rollup(est.heatmap), "heatmap_levels", symbol, cfg.key())
    return Live(symbol, day, now, horizon.to_pydatetime(), levels, events, start,
                gaps_of(bars, today["open_interest"], day, horizon, interval), interval,
                time.perf_counter() - began)


def _stored(layout: DataLayout, table: str, symbol: str, day: dt.date) -> pd.DataFrame:
    try:
        return layout.read("clean", table, symbol, day)
    except FileNotFoundError:
        return pd.DataFrame()
