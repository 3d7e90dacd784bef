"""The estimator's day loops: a symbol's days in date order, each day's volume profile and both models' book, each
day starting from what the day before saved (data/model/_state/…). Plain results: the asset that runs them turns
these into Dagster metadata.

The flow book carries from day to day: a range's days carry it in memory, and its first day loads the book the
day before closed with (the `book_state` table, a partition like any other). Without it (a first
day), the book is replayed over the clean history of the PROFILE_DAYS days before, as far as the data root has it
(`liq run` pulls it first where the source has it); with no history at all, the volume-profile baseline seeds the
book (a cold start). `start` / `warm_start_days` say which. A rerun of an earlier day leaves later days' states as
they were: rerun the range after it to carry the change forward.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd

from ..market import brackets
from .. import parallel
from ..io import schemas
from ..errors import InputError, PartitionError
from ..market.liqprice import BracketArrays
from ..io.storage import DataLayout, Written, concat_days, write_bytes_atomic
from . import book as book_mod
from .estimate import estimate_day, replay_history
from .levels import day_tables
from .profile import PROFILE_DAYS, ProfileWindow

ONE_DAY = dt.timedelta(days=1)


def profile_days(layout: DataLayout, symbol: str, days: list[dt.date]) -> Iterator[tuple[dt.date, Written, dict]]:
    """Each day's profile of the PROFILE_DAYS days before it, written: (day, what was written, facts). The window of
    the day before, carried on by one day (its saved parts plus one day of klines), is used where that equals
    building it anew (profile.py), so a day's run reads one klines partition, not 30, and a range reads each once."""
    prev = layout.profile_state(symbol, days[0] - ONE_DAY)
    window = ProfileWindow.from_bytes(prev.read_bytes()) if prev.exists() else None
    start = days[0] - (ONE_DAY if window is not None else dt.timedelta(days=PROFILE_DAYS))
    kl = layout.read_days("clean", "klines", symbol, [start + i * ONE_DAY for i in range((days[-1] - start).days)])

    def klines_between(a: dt.date, b: dt.date) -> pd.DataFrame:
        if a < start:      # a window rebuilt mid-range (its bin width moved) reaches back before what was read
            return layout.read_days("clean", "klines", symbol, [a + i * ONE_DAY for i in range((b - a).days)])
        return kl[(kl["open_time"] >= pd.Timestamp(a, tz="UTC")) & (kl["open_time"] < pd.Timestamp(b, tz="UTC"))] \
            if len(kl) else kl

    for day in days:
        window, carried = ProfileWindow.for_day(day, window, klines_between)
        write_bytes_atomic(layout.profile_state(symbol, day), window.to_bytes())
        prof = window.profile()
        if window.interval is not None:
            prof = prof.assign(date=day.isoformat(), interval=window.interval, days_used=len(window.parts))
        prof = schemas.conform_stamped(prof, "volume_profile", symbol, "profile")
        written = layout.write(prof, "model", "volume_profile", symbol, day)
        days_used = int(prof["days_used"].iloc[0]) if len(prof) else 0
        yield day, written, {"window": "carried on from the day before" if carried else "built from 30 days of klines",
                             "days_used": days_used, "first_days_of_history": days_used < PROFILE_DAYS}


def replay(layout: DataLayout, symbol: str, day: dt.date, cfg, br: BracketArrays) -> tuple:
    """The book at the start of `day` replayed over the clean klines, OI and funding of the PROFILE_DAYS days
    before it (what `liq run` pulls before a first day, where the source has it): (state or None, days)."""
    history = [day - dt.timedelta(days=i) for i in range(PROFILE_DAYS, 0, -1)]
    return replay_history(layout.read_days("clean", "klines", symbol, history),
                          layout.read_days("clean", "open_interest", symbol, history),
                          layout.read_days("clean", "funding", symbol, history), cfg, br)


def stored_state(layout: DataLayout, symbol: str, day: dt.date, cfg) -> book_mod.FlowState | None:
    """The book `day` closed with, from its `book_state` partition: None where there is none, or where it was made
    by another configuration (its leverages and grid are another book's)."""
    try:
        rows = layout.read("model", "book_state", symbol, day)
    except FileNotFoundError:
        return None
    if rows.empty or set(rows["config_key"].unique()) != {cfg.key()}:
        return None
    return book_mod.state_from_frame(rows, cfg.leverages)


def estimated_days(layout: DataLayout, symbol: str, days: list[dt.date], cfg, fallback: bool,
                   write: tuple[str, ...]) -> Iterator[tuple[tuple[dt.date, dict], object]]:
    """The book over `days`, in order (each day starts from the book the day before saved): for each day,
    ((day, facts common to its tables), the future of its tables rolled up and written: levels.day_tables, in a
    worker of lib/parallel while the book goes on to the next day). A day without a bracket table raises
    PartitionError naming it."""
    read: dict = {}             # (table, day) -> clean partition: a day's OI and funding serve two days

    def two_days(table: str, day: dt.date) -> pd.DataFrame:
        """The clean table's day before and day, as layout.read_days gives them, each read once."""
        both = [day - ONE_DAY, day]
        for d in both:
            if (table, d) not in read:
                read[(table, d)] = layout.read_days("clean", table, symbol, [d])
        read.pop((table, day - 2 * ONE_DAY), None)
        return concat_days([read[(table, d)] for d in both])

    carried = None              # the book the day before ended with, within this range
    for day in days:
        try:
            table, brackets_from = brackets.resolve(symbol, day, fallback=fallback)
        except InputError as exc:
            raise PartitionError(day, symbol, exc) from None
        br = BracketArrays.of(table)
        prev, warm_days = carried, None
        if prev is None:
            prev = stored_state(layout, symbol, day - ONE_DAY, cfg)
        if prev is None:          # a first day: start from the history the data root holds, if any
            prev, warm_days = replay(layout, symbol, day, cfg, br)
        est = estimate_day(day, layout.read("clean", "klines", symbol, day), two_days("open_interest", day),
                           two_days("funding", day), layout.read("model", "volume_profile", symbol, day),
                           prev, cfg, br)
        carried = est.state
        start = ("carried from the day before" if warm_days is None else
                 f"warm: replayed {warm_days} day(s) of history" if warm_days else
                 "cold: no history, seeded from the volume profile")
        common = {"config_key": cfg.key(), "brackets": brackets_from, "cold_start": est.cold_start, "start": start,
                  "warm_start_days": warm_days or 0, "interval": est.interval or "",
                  "bars_without_oi": est.bars_without_oi,
                  "snapshots_without_history": est.snapshots_without_history}
        state = book_mod.state_frame(est.state, cfg.leverages) if est.state is not None else pd.DataFrame()
        yield (day, common), parallel.submit(day_tables, day, layout, symbol, cfg.key(), est.heatmap, est.predicted,
                                             est.snapshots, state, write)


def estimate_range(layout: DataLayout, symbol: str, days: list[dt.date], cfg, fallback: bool,
                   write: tuple[str, ...]) -> Iterator[tuple[tuple[dt.date, dict], dict[str, Written | None]]]:
    """estimated_days with each day's tables awaited in day order: ((day, facts), {table: written, or None where
    only its gate runs})."""
    return parallel.in_order(estimated_days(layout, symbol, days, cfg, fallback, write))
