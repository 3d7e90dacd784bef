"""The pipeline's one configurable resource: where data lives and which source feeds it."""
from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ..lib import storage
from ..lib.params import parse_interval
from ..lib.sources.archive import ARCHIVE_URL, ArchiveSource
from ..lib.sources.auto import AutoSource
from ..lib.sources.binance_rest import FAPI_URL, BinanceRestSource
from ..lib.sources.mirror import FilesSource

SOURCES = ("simulated", "files", "archive", "binance", "auto")


class PipelineConfig(dg.ConfigurableResource):
    """Set by `liq run` through run config; `dagster dev` uses these defaults or LIQ_* variables."""

    data_dir: str = Field(default="", description="Data root; empty means $LIQ_DATA_DIR or ./data")
    source: str = Field(default="simulated", description=f"One of {', '.join(SOURCES)}")
    source_path: str = Field(default="", description="Folder in the archive layout (source=files)")
    intervals: list[str] = Field(default_factory=list, description="Kline intervals; empty: all the folder has (files), 1m otherwise")
    archive_url: str = ARCHIVE_URL
    rest_url: str = FAPI_URL
    agg_trades: bool = Field(default=False, description="aggTrades: pull them over REST (heavy: weight 20 a call), "
                                                         "or have the simulated market emit them")
    funding_cap_default: float = Field(default=0.03, description="|funding| cap for symbols with no bracket table")
    model_leverages: list[float] = Field(default_factory=list, description="Leverage tiers (empty: ModelConfig's default)")
    model_leverage_mix: list[float] = Field(default_factory=list, description="Share of notional per tier")
    model_sizes_usd: list[float] = Field(default_factory=list, description="Position size classes (pick the bracket)")
    model_size_weights: list[float] = Field(default_factory=list, description="Weight of each size class")
    model_decay_half_life_hours: float = Field(default=-1.0, description="Flow book decay; 0: none; <0: default")
    sim_seed: int = 7
    sim_start: str = Field(default="", description="Simulated scenario's first day (liq run sets it)")
    sim_days: int = 30

    def root(self) -> Path:
        return storage.data_root(self.data_dir or None)

    def raw_root(self) -> Path:
        return self.root() / "raw"

    def make_source(self):
        ivs = [parse_interval(i, "intervals") for i in self.intervals] or None
        raw = self.raw_root()
        if self.source == "files":
            if not self.source_path:
                raise dg.Failure("source=files needs source_path (liq run --path DIR)", allow_retries=False)
            return FilesSource(raw, self.source_path, ivs)
        if self.source == "archive":
            return ArchiveSource(raw, self.archive_url, ivs)
        if self.source == "binance":
            return BinanceRestSource(raw, self.rest_url, ivs, agg_trades=self.agg_trades)
        if self.source == "auto":
            return AutoSource(ArchiveSource(raw, self.archive_url, ivs),
                              BinanceRestSource(raw, self.rest_url, ivs, agg_trades=self.agg_trades))
        if self.source == "simulated":
            from ..lib.sim.source import SimulatedSource
            return SimulatedSource(raw, self.scenario(), ivs)
        raise dg.Failure(f"source: {self.source!r} is not one of {', '.join(SOURCES)}", allow_retries=False)

    def estimator_config(self):
        """ModelConfig's defaults (with their provenance, lib/model/config.py), overridden where set here."""
        from ..lib.model.config import ModelConfig

        over = {k: tuple(v) for k, v in (("leverages", self.model_leverages), ("leverage_mix", self.model_leverage_mix),
                                         ("sizes_usd", self.model_sizes_usd), ("size_weights", self.model_size_weights)) if v}
        if self.model_decay_half_life_hours >= 0:
            over["decay_half_life_hours"] = self.model_decay_half_life_hours or None
        try:
            return ModelConfig(**over)
        except ValueError as exc:
            raise dg.Failure(f"model configuration: {exc}", allow_retries=False) from None

    def scenario(self):
        from ..lib.sim.scenario import Scenario
        return Scenario.default(seed=self.sim_seed, start=self.sim_start or None, days=self.sim_days,
                                agg_trades=self.agg_trades)
