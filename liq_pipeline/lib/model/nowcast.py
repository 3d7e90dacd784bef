"""The nowcast: the current, unfinished day estimated by the pipeline's own code, current to the last closed bar.

A day's partition exists once the day is over, so by evening the stored map is up to a day old. The nowcast takes
what the pipeline would start the day from (the book the day before closed with: the `book_state` table, else the
same replay of history a first day gets; the day's 30-day volume profile) and estimates the day's bars pulled
from the source so far. There is no second model: each snapshot the nowcast serves for a time ts is
the one the daily run later writes for ts, number for number (tests/test_e2e_sim.py), plus one more at the last
closed bar's end, so the map is current between the hourly snapshots. It is made with the pieces estimate_day is
made of (lib/model/estimate: the day's start, the static model, both models' snapshot rows; the flow book's
run_flow), run over the bars as they close (DayMap), so a refresh costs the new bars, not the day so far.

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

from ..errors import InputError
from ..io import schemas
from ..io.clean import clean_partition
from ..io.storage import DataLayout, concat_days
from ..market import brackets
from ..market.liqprice import BracketArrays
from ..params import KLINE_INTERVALS
from .days import ONE_DAY, replay, stored_state
from .book import run_flow
from .estimate import DayBars, first_prior, heatmap_frame, snapshot_heatmap, start_book, static_model
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
    What changes as the day goes on is pulled anew at every refresh: everything over REST (asked up to the clock);
    from a folder, the forceOrder tape (a recorder appends to it); the rest of a folder's files, and the simulated
    market's, hold the whole day and are read once."""

    def __init__(self, source, scratch: Path):
        self.source, self.scratch = source, Path(scratch)
        kind = getattr(source, "name", "")
        self.rest = kind == "binance"
        self.growing = set(DAY_TABLES) if self.rest else {"liquidation_events"} if kind == "files" else set()
        self._held: dict = {}
        self.absent: dict = {}          # (symbol, day, table) -> why the source has none of it yet

    def day(self, symbol: str, day: dt.date, until: dt.datetime | None = None) -> dict[str, pd.DataFrame]:
        """The day's rows (REST: those up to `until`, the clock; the caller cuts the others at it)."""
        key = (symbol, day)
        held = self._held.get(key)
        if held is None:
            self.source.check_symbol(symbol, day)
        frames = {}
        for table in DAY_TABLES:
            if held is not None and table not in self.growing:
                frames[table] = held[table]
                continue
            try:
                pull = self.source.pull(table, symbol, day, until) if self.rest else self.source.pull(table, symbol, day)
            except (FileNotFoundError, InputError) as exc:    # not there yet (a day not over): a gap, not an end
                self.absent[(symbol, day, table)] = str(exc).splitlines()[0]
                frames[table] = schemas.conform(pd.DataFrame(), table)
                continue
            self.absent.pop((symbol, day, table), None)
            df = pd.DataFrame()
            if pull.files:
                manifest = {"source": self.source.name, "files": [f.to_dict() for f in pull.files]}
                df, _ = clean_partition(table, symbol, day, manifest, self.scratch)
            frames[table] = schemas.conform(df, table)
        self._held = {k: v for k, v in self._held.items() if k[0] != symbol}    # a symbol's one day: the clock
        self._held[key] = frames                                                 # moves on
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


@dataclasses.dataclass
class DayStart:
    """What a day's nowcast starts from, the same at every refresh of the day: the book the day before closed with
    (or the replay of history a first day gets), the day's profile, the day before's OI and funding, the brackets."""
    prev: object
    start: str
    profile: pd.DataFrame
    oi: pd.DataFrame
    funding: pd.DataFrame
    brackets: BracketArrays


def day_start(layout: DataLayout, symbol: str, day: dt.date, cfg, fallback: bool) -> DayStart:
    table, _ = brackets.resolve(symbol, day, fallback=fallback)
    br = BracketArrays.of(table)
    prev = stored_state(layout, symbol, day - ONE_DAY, cfg)
    start = "the book the day before closed with"
    if prev is None:
        prev, warm = replay(layout, symbol, day, cfg, br)
        start = (f"warm: replayed {warm} day(s) of history" if warm else
                 "cold: no history, seeded from the volume profile")
    before = [day - ONE_DAY]
    return DayStart(prev, start, day_profile(layout, symbol, day),
                    layout.read_days("clean", "open_interest", symbol, before),
                    layout.read_days("clean", "funding", symbol, before), br)


class DayMap:
    """A day's map as the nowcast extends it: the book after the bars taken so far, and the levels of the snapshots
    they finished. Each refresh runs the flow book over the newly taken bars only, from where the last one stopped
    (run_flow carries its state bar by bar, so this is the day's run split in parts: the same numbers), and adds the
    static model and the levels of the new snapshots; the snapshot at the last bar is remade each time."""

    def __init__(self, begin: DayStart, cfg):
        self.begin, self.cfg = begin, cfg
        self.state, self.grid, self.prior = None, None, None
        self.last_open = None                   # the open time (ms) of the last bar taken
        self.kept: list[pd.DataFrame] = []      # levels of the finished snapshots
        self.live = pd.DataFrame()              # levels of the snapshot at the last bar

    def extend(self, bars: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame) -> pd.DataFrame:
        """The day's levels with every bar of `bars` taken (the day's bars up to the horizon)."""
        d = DayBars.of(bars, oi, funding)
        if d is None:
            return pd.DataFrame()
        if self.grid is None:                   # the day's first refresh: its start, as the daily run makes it
            self.state, self.grid = start_book(self.begin.prev, d, self.cfg)
            self.prior = first_prior(self.state, d, static_model(d, self.begin.profile, self.cfg,
                                                                 self.begin.brackets, self.grid))
        new = d.bars if self.last_open is None else d.bars[d.bars["open_time"] > self.last_open]
        if len(new):
            static_at = static_model(d, self.begin.profile, self.cfg, self.begin.brackets, self.grid)
            run = run_flow(new, d.oi_frame(), d.funding_frame(), self.cfg, self.begin.brackets, self.state,
                           d.interval_ms, prior=self.prior, grid=self.grid, snapshot_at_end=True)
            self.state, self.last_open = run.state, int(new["open_time"].iloc[-1])
            *finished, last = run.snapshots
            self.kept += [self._levels(snap, static_at) for snap in finished]
            self.live = self._levels(last, static_at)
        return pd.concat([*self.kept, self.live], ignore_index=True)

    def _levels(self, snap, static_at) -> pd.DataFrame:
        return rollup(heatmap_frame(snapshot_heatmap(snap.ts, snap.price, snap.book(self.grid.n),
                                                     static_at(snap.ts, snap.price), self.grid, self.cfg)))


def nowcast(layout: DataLayout, feed: DayFeed, symbol: str, now: dt.datetime, cfg, fallback: bool,
            days: dict | None = None) -> Live:
    """The map of `symbol`'s day at `now`, as the daily run will make it, up to the last bar that can be taken.
    `days` keeps the day's DayMap between refreshes (its start, and the bars already run)."""
    began = time.perf_counter()
    day = now.astimezone(dt.UTC).date()
    clock = pd.Timestamp(now).tz_convert("UTC")
    key = (symbol, day, cfg.key())
    daymap = days.get(key) if days is not None else None
    if daymap is None:
        daymap = DayMap(day_start(layout, symbol, day, cfg, fallback), cfg)
        if days is not None:
            days.clear()                        # one day at a time per symbol: the clock moves on
            days[key] = daymap
    begin = daymap.begin
    today = feed.day(symbol, day, now)
    kl = today["klines"]
    interval = finest_interval(kl[kl["open_time"] < clock]) if len(kl) else None
    oi = concat_days([begin.oi, today["open_interest"]])
    funding = concat_days([begin.funding, today["funding"]])
    events = today["liquidation_events"]
    events = events[events["ts"] <= clock] if len(events) else events
    horizon = horizon_of(kl, oi, funding, clock, interval) if interval else None
    absent = [f"{t}: {why}" for (sym, d, t), why in feed.absent.items() if sym == symbol and d == day]
    if horizon is None:
        return Live(symbol, day, now, None, pd.DataFrame(), events, begin.start,
                    [f"no bar of {day} can be taken yet (closed, with its OI published)", *absent], interval,
                    time.perf_counter() - began)
    bars = kl[(kl["open_time"] + pd.Timedelta(seconds=KLINE_INTERVALS[interval]) <= horizon)]
    levels = daymap.extend(bars, oi[oi["ts"] <= horizon], funding[funding["ts"] < horizon])
    levels = schemas.conform_stamped(levels, "heatmap_levels", symbol, cfg.key())
    return Live(symbol, day, now, horizon.to_pydatetime(), levels, events, begin.start,
                absent + gaps_of(bars, today["open_interest"], day, horizon, interval), interval,
                time.perf_counter() - began)
