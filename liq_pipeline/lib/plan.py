"""What a `liq run` will do, decided before anything is pulled or recorded: each symbol confirmed by its source
and the exchange's list, the bracket table it runs on, every day present in the source (else the range is refused
whole, naming the gap and the ranges it could run instead), and the history a first day is replayed over."""
from __future__ import annotations

import dataclasses
import datetime as dt

from .market import brackets, contracts
from .errors import InputError
from .model.profile import PROFILE_DAYS
from .params import describe_days
from .sources.base import Source, history_days, missing_days
from .io.storage import DataLayout


@dataclasses.dataclass(frozen=True)
class RunPlan:
    symbols: list[str]
    days: list[dt.date]
    history: dict[str, list[dt.date]]     # per symbol, the days pulled and replayed before the first one
    fallback: dict[str, str]              # symbols that run on the fallback tiers, and the tiers' provenance


def history_to_pull(layout: DataLayout, source: Source, symbol: str, first: dt.date) -> list[dt.date]:
    """The days before `first` to pull so that its book starts warm and its volume profile is whole: up to the
    profile's window, as far back as the source has them without a gap; none when the data root already
    holds the day before (a continuation, or history pulled earlier)."""
    if layout.partition("clean", "klines", symbol, first - dt.timedelta(days=1)).exists():
        return []
    return history_days(source, symbol, first, PROFILE_DAYS)


def plan_run(source: Source, layout: DataLayout, symbols: list[str], days: list[dt.date],
             bracket_fallback: bool) -> RunPlan:
    """The run's plan, or InputError / SourceError naming what refuses it (nothing has been pulled)."""
    fallback = {}
    for sym in symbols:
        contracts.check_listed(sym)          # with an exchange-info snapshot: a listed, trading perpetual
        source.check_symbol(sym, days[0])
        # never silently: a symbol with no bracket table is refused, or runs on the fallback when asked
        _, where = brackets.resolve(sym, days[0], fallback=bracket_fallback)
        if brackets.is_fallback(where):
            fallback[sym] = where
        # every day the run asks for is in the source, or the run is refused whole, naming the gap and what it
        # could run instead (a real archive has gaps: ../shared's OI lacks 2026-06-15..19)
        lacking = missing_days(source, sym, days)
        if lacking:
            have = sorted(set(days) - set(lacking))
            raise InputError(
                f"{sym}: the source lacks a required dataset (klines, open interest or funding) on {len(lacking)} "
                f"of the {len(days)} day(s) asked for: {describe_days(lacking)} ({source.where_days(sym)}). "
                + (f"It has {describe_days(have)}: run those ranges apart (the day after a gap starts a new book; "
                   f"its heatmap metadata `start` says how warm)." if have else "It has none of them."))
    # a first day starts warm: the history the source has before it is pulled first
    history = {sym: history_to_pull(layout, source, sym, days[0]) for sym in symbols}
    return RunPlan(symbols, days, history, fallback)
