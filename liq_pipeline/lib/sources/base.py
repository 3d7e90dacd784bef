"""The one interface every source implements, and what a raw partition records."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class RawFile:
    """One file as pulled, stored under <root>/raw/<source>/<path>."""
    path: str            # relative to the source's raw mirror, POSIX
    origin: str          # URL or local path it came from
    sha256: str
    size: int
    format: str          # archive-zip | rest-json | force-order-jsonl | liquidation-bars-csv
    interval: str | None = None
    venue: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Pull:
    """What a source returned for one (dataset, symbol, day)."""
    files: list[RawFile]
    available: bool = True
    note: str = ""


class Source(Protocol):
    name: str

    def check_symbol(self, symbol: str, day: dt.date) -> None:
        """Raise InputError naming the symbol if the source does not have it."""
        ...

    def pull(self, dataset: str, symbol: str, day: dt.date) -> Pull:
        """Fetch (or reuse) the raw files that hold `day` into the raw mirror and describe them."""
        ...

    def has_day(self, symbol: str, day: dt.date) -> bool:
        """Whether the source has every required dataset of the day, found without pulling it."""
        ...

    def where_days(self, symbol: str) -> str:
        """Where the source's days come from, or what bounds them: what a message about a missing day adds."""
        ...


def missing_days(source: Source, symbol: str, days: list[dt.date]) -> list[dt.date]:
    """The days a run asks for that the source lacks a required dataset of (klines, open interest, funding), found
    without pulling: a run is refused before any of its partitions rather than stopped at the first gap."""
    return [d for d in days if not source.has_day(symbol, d)]


def history_days(source: Source, symbol: str, first: dt.date, most: int) -> list[dt.date]:
    """The days just before `first` that the source has, up to `most` of them and without a gap (oldest
    first): the history a first day's book is replayed over."""
    days = []
    day = first - dt.timedelta(days=1)
    while len(days) < most and source.has_day(symbol, day):
        days.append(day)
        day -= dt.timedelta(days=1)
    return days[::-1]
