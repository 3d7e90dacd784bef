"""The one interface every source implements, and what a raw partition records."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

# Raw datasets, named after the warehouse tables they feed.
DATASETS = ("klines", "open_interest", "funding", "agg_trades", "liquidation_events", "liquidation_bars",
            "sim_positions", "sim_liquidations")
# Ground truth: only the simulated source has it.
TRUTH = ("sim_positions", "sim_liquidations")
# A day without these is an error; the others may simply not exist for a source or a day.
REQUIRED = {"klines", "open_interest", "funding"}


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

    def pull(self, dataset: str, symbol: str, day: dt.date) -> Pull:
        """Fetch (or reuse) the raw files that hold `day` into the raw mirror and describe them."""
        ...
