"""Resources, one per concern: where data lives (storage) and what feeds it (source: one feed of five kinds). The
estimator's settings are run configuration of the model asset (defs/model/config.py), the same for every feed."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Union

import dagster as dg
from pydantic import Field, field_validator

from ..lib.io import quality, storage
from ..lib.params import KLINE_INTERVALS, ParameterError, parse_date, parse_interval
from ..lib.sim import BARS as SIM_BARS
from ..lib.sources import SourceKind
from ..lib.sources.archive import ARCHIVE_URL
from ..lib.sources.binance_rest import FAPI_URL

class StorageResource(dg.ConfigurableResource):
    """The data root and every path under it (partitions, manifests, book state, warehouse, reports), and the
    great-expectations suites the gates run."""

    data_dir: Optional[str] = Field(default=None, description="Data root; unset: $LIQ_DATA_DIR, else ./data")
    expectations_dir: Optional[str] = Field(default=None, description="Suites folder; unset: the ones shipped "
                                                                      "with the package")

    def layout(self) -> storage.DataLayout:
        return storage.DataLayout(storage.data_root(self.data_dir))

    def suites_dir(self) -> Path:
        return Path(self.expectations_dir) if self.expectations_dir else quality.default_expectations_dir()


def _intervals(v):
    try:
        return [parse_interval(i, "intervals") for i in v] if v else None
    except ParameterError as exc:
        raise ValueError(str(exc)) from None


class SimulatedFeed(dg.Config):
    """The built-in simulated market (lib/sim): a market per symbol it has a bracket table for, simulated once per
    scenario into the raw layer in the archive's layout, then read like files."""
    kind: Literal["simulated"] = "simulated"
    seed: int = Field(default=7, description="The scenario's seed")
    start: Optional[str] = Field(default=None, description="First day simulated (liq run sets it)")
    days: int = Field(default=30, ge=1, le=3660, description="Days simulated")
    interval: Optional[str] = Field(default=None, description="The market's bar: 1m (default) or 5m")
    agg_trades: bool = Field(default=False, description="Also emit aggTrades files")
    any_symbol: bool = Field(default=False, description="Also a symbol with no bracket table of its own (its "
                             "exchange then trades on the fallback tiers, and the model says so); unset, such a "
                             "symbol is refused like a typo")

    @field_validator("interval")
    @classmethod
    def _one_bar(cls, v):
        if v is not None and v not in SIM_BARS:
            raise ValueError(f"interval: the simulated market has one bar interval, one of {', '.join(SIM_BARS)} "
                             f"(got {v})")
        return v

    @field_validator("start")
    @classmethod
    def _start(cls, v):
        try:
            return parse_date(v, "start").isoformat() if v else None
        except ParameterError as exc:
            raise ValueError(str(exc)) from None

    def scenario(self, symbol: str):
        """The simulated market of `symbol` (each symbol its own: lib/sim/profiles)."""
        from ..lib.sim.profiles import scenario_for
        bar = {"interval_s": KLINE_INTERVALS[self.interval]} if self.interval else {}
        return scenario_for(symbol, seed=self.seed, start=self.start, days=self.days, agg_trades=self.agg_trades,
                            **bar)

    def open(self, raw_root: Path):
        from ..lib.sim.source import SimulatedSource
        return SimulatedSource(raw_root, self.scenario, [self.interval] if self.interval else None,
                               any_symbol=self.any_symbol)


class _KlineFeed(dg.Config):
    """What the exchange-data feeds share: the kline intervals they read."""
    intervals: Optional[list[str]] = Field(default=None, description="Kline intervals; unset: all the folder has "
                                                                     "(files), 1m otherwise")
    _check_intervals = field_validator("intervals")(classmethod(lambda cls, v: _intervals(v)))


class FilesFeed(_KlineFeed):
    """A local folder in the archive's layout (plus forceOrder tapes and liquidation bars)."""
    kind: Literal["files"] = "files"
    path: str = Field(description="The folder (liq run --path DIR)")

    def open(self, raw_root: Path):
        from ..lib.sources.mirror import FilesSource
        return FilesSource(raw_root, self.path, self.intervals)


class ArchiveFeed(_KlineFeed):
    """The public bulk archive over HTTP, mirrored file by file."""
    kind: Literal["archive"] = "archive"
    url: str = ARCHIVE_URL

    def open(self, raw_root: Path):
        from ..lib.sources.archive import ArchiveSource
        return ArchiveSource(raw_root, self.url, self.intervals)


class BinanceFeed(_KlineFeed):
    """Binance USD-M REST (open interest for its last 30 days only)."""
    kind: Literal["binance"] = "binance"
    url: str = FAPI_URL
    agg_trades: bool = Field(default=False, description="Also aggTrades (heavy: weight 20 a call)")

    def open(self, raw_root: Path):
        from ..lib.sources.binance_rest import BinanceRestSource
        return BinanceRestSource(raw_root, self.url, self.intervals, agg_trades=self.agg_trades)


class AutoFeed(_KlineFeed):
    """The archive for the days it has published, REST for the recent days it has not (the daily schedule's)."""
    kind: Literal["auto"] = "auto"
    archive_url: str = ARCHIVE_URL
    rest_url: str = FAPI_URL
    agg_trades: bool = Field(default=False, description="Also aggTrades over REST (heavy)")

    def open(self, raw_root: Path):
        from ..lib.sources.archive import ArchiveSource
        from ..lib.sources.auto import AutoSource
        from ..lib.sources.binance_rest import BinanceRestSource
        return AutoSource(ArchiveSource(raw_root, self.archive_url, self.intervals),
                          BinanceRestSource(raw_root, self.rest_url, self.intervals, agg_trades=self.agg_trades))


FEEDS = {f.model_fields["kind"].default: f for f in (SimulatedFeed, FilesFeed, ArchiveFeed, BinanceFeed, AutoFeed)}
assert tuple(FEEDS) == tuple(k.value for k in SourceKind), "lib.sources.SourceKind and the feeds differ"


class SourceResource(dg.ConfigurableResource):
    """What feeds the raw layer: one feed, each kind with its own settings (a discriminated union: in run config
    `feed: {files: {path: ...}}`), and what every kind shares."""

    feed: Union[SimulatedFeed, FilesFeed, ArchiveFeed, BinanceFeed, AutoFeed] = Field(
        default_factory=SimulatedFeed, discriminator="kind", description="Where raw data comes from, and its settings")
    bracket_fallback: bool = Field(default=False, description="A symbol with no bracket table of its own runs on the "
                                   "fallback tiers (lib/market/brackets; the model's metadata says so) instead of "
                                   "being refused")

    @property
    def kind(self) -> SourceKind:
        return SourceKind(self.feed.kind)

    def bracket_fallback_allowed(self) -> bool:
        return self.bracket_fallback or getattr(self.feed, "any_symbol", False)

    def open(self, raw_root: Path):
        """The source, writing what it pulls under raw_root."""
        return self.feed.open(raw_root)
