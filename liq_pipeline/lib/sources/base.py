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
