"""Resources, one per concern: where data lives (storage) and what feeds it (source). The estimator's settings
are run configuration of the model asset (defs/model/config.py), not a resource."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field, field_validator, model_validator

from ..lib import quality, storage
from ..lib.params import KLINE_INTERVALS, ParameterError, parse_date, parse_interval
from ..lib.sources import SourceKind
from ..lib.sources.archive import ARCHIVE_URL
from ..lib.sources.binance_rest import FAPI_URL

# The bars the simulated market can be made at (lib/sim/emit writes these archive intervals); 1m by default.
SIM_INTERVALS = ("1m", "5m")


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


class SourceResource(dg.ConfigurableResource):
    """Which source feeds the raw layer, and its settings. `kind` is typed: the one list is lib.sources.SourceKind."""

    kind: SourceKind = Field(default=SourceKind.simulated, description="Where raw data comes from")
    path: Optional[str] = Field(default=None, description="Folder in the archive layout (kind=files)")
    intervals: Optional[list[str]] = Field(default=None, description="Kline intervals; unset: all the folder "
                                                                     "has (files), 1m otherwise. The simulated "
                                                                     "market takes one: its bar (" +
                                                                     ", ".join(SIM_INTERVALS) + ")")
    archive_url: str = ARCHIVE_URL
    rest_url: str = FAPI_URL
    agg_trades: bool = Field(default=False, description="aggTrades: pull them over REST (heavy: weight 20 a "
                                                        "call), or have the simulated market emit them")
    sim_seed: int = Field(default=7, description="Simulated market: the scenario's seed")
    sim_start: Optional[str] = Field(default=None, description="Simulated market: first day (liq run sets it)")
    sim_days: int = Field(default=30, ge=1, le=3660, description="Simulated market: days simulated")
    bracket_fallback: bool = Field(default=False, description="A symbol with no bracket table of its own runs on the "
                                   "fallback tiers (lib/brackets; the model's metadata says so) instead of being "
                                   "refused")
    any_symbol: bool = Field(default=False, description="Simulated market: also a symbol with no bracket table of "
                             "its own (its exchange then trades on the fallback tiers, and the model says so); "
                             "unset, a symbol it has no table for is refused like a typo")

    def market(self) -> str:
        """Whose defaults the estimator takes (lib/model/config.MARKET_DEFAULTS): the simulated market's, or real
        market data's for every other source (a folder of files is taken to be real)."""
        return "simulated" if self.kind == SourceKind.simulated else "real"

    def bracket_fallback_allowed(self) -> bool:
        return self.bracket_fallback or self.any_symbol

    @model_validator(mode="after")
    def _any_symbol_is_simulated(self):
        if self.any_symbol and self.kind != SourceKind.simulated:
            raise ValueError("any_symbol: only the simulated market makes up a symbol's market; every other source "
                             "confirms a symbol itself (--bracket-fallback runs one without a bracket table)")
        return self

    @field_validator("intervals")
    @classmethod
    def _intervals(cls, v):
        try:
            return [parse_interval(i, "intervals") for i in v] if v else None
        except ParameterError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _one_simulated_bar(self):
        if self.kind == SourceKind.simulated and self.intervals and (
                len(self.intervals) > 1 or self.intervals[0] not in SIM_INTERVALS):
            raise ValueError(f"intervals: the simulated market has one bar interval, one of {', '.join(SIM_INTERVALS)}"
                             f" (got {','.join(self.intervals)})")
        return self

    @field_validator("sim_start")
    @classmethod
    def _start(cls, v):
        try:
            return parse_date(v, "sim_start").isoformat() if v else None
        except ParameterError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _path_for_files(self):
        if self.kind == SourceKind.files and not self.path:
            raise ValueError("kind=files needs path (liq run --path DIR)")
        return self

    def open(self, raw_root: Path):
        """The source, writing what it pulls under raw_root."""
        from ..lib.sources.archive import ArchiveSource
        from ..lib.sources.auto import AutoSource
        from ..lib.sources.binance_rest import BinanceRestSource
        from ..lib.sources.mirror import FilesSource

        ivs = self.intervals
        if self.kind == SourceKind.files:
            return FilesSource(raw_root, self.path, ivs)
        if self.kind == SourceKind.archive:
            return ArchiveSource(raw_root, self.archive_url, ivs)
        if self.kind == SourceKind.binance:
            return BinanceRestSource(raw_root, self.rest_url, ivs, agg_trades=self.agg_trades)
        if self.kind == SourceKind.auto:
            return AutoSource(ArchiveSource(raw_root, self.archive_url, ivs),
                              BinanceRestSource(raw_root, self.rest_url, ivs, agg_trades=self.agg_trades))
        from ..lib.sim.source import SimulatedSource
        return SimulatedSource(raw_root, self.scenario, ivs, any_symbol=self.any_symbol)

    def scenario(self, symbol: str):
        """The simulated market of `symbol` (each symbol its own: lib/sim/profiles)."""
        from ..lib.sim.profiles import scenario_for
        bar = {"interval_s": KLINE_INTERVALS[self.intervals[0]]} if self.intervals else {}
        return scenario_for(symbol, seed=self.sim_seed, start=self.sim_start, days=self.sim_days,
                            agg_trades=self.agg_trades, **bar)
