"""The estimator's settings as run configuration of the model asset (the launchpad shows them): every field is
optional, and unset means the default of lib/model/config.py (one configuration for every source), where each
default names the data and window that chose it."""
from __future__ import annotations

from typing import Optional

import dagster as dg
from pydantic import Field, model_validator

from ...lib.model.config import ModelConfig


class EstimatorConfig(dg.Config):
    leverages: Optional[list[float]] = Field(default=None, description="Leverage tiers, e.g. [5, 10, 25, 50, 100]")
    leverage_mix: Optional[list[float]] = Field(default=None, description="Share of notional per tier (sums to 1)")
    sizes_usd: Optional[list[float]] = Field(default=None, description="Position size classes in USD (pick the bracket)")
    size_weights: Optional[list[float]] = Field(default=None, description="Weight of each size class (sums to 1)")
    decay_half_life_hours: Optional[float] = Field(default=None, ge=0, description="Flow book decay; 0: none")
    turnover_decay: Optional[float] = Field(default=None, ge=0,
                                            description="Flow book decay per unit of bar volume / OI; 0: none")
    flow_weight: Optional[float] = Field(default=None, ge=0, description="Weight of the taker-buy share in the "
                                                                         "long/short split of new positions")
    leverage_turnover_exponent: Optional[float] = Field(
        default=None, ge=0, description="Leverage rows decay at (L / mean L)^k times the book's rate; 0: alike")
    entry_window_minutes: Optional[float] = Field(
        default=None, ge=0, description="New positions enter over the low..high of the bars of this trailing window "
                                        "(minutes, within the UTC day); 0: each bar's own range")

    @model_validator(mode="after")
    def _valid(self):
        self.build()          # a bad mix or mismatched lengths fail when the run is configured, not mid-run
        return self

    def build(self) -> ModelConfig:
        """The ModelConfig of these settings over the defaults."""
        over = {k: tuple(v) for k, v in (("leverages", self.leverages), ("leverage_mix", self.leverage_mix),
                                         ("sizes_usd", self.sizes_usd), ("size_weights", self.size_weights)) if v}
        if self.decay_half_life_hours is not None:
            over["decay_half_life_hours"] = self.decay_half_life_hours or None
        if self.turnover_decay is not None:
            over["turnover_decay"] = self.turnover_decay or None
        for name in ("flow_weight", "leverage_turnover_exponent", "entry_window_minutes"):
            if getattr(self, name) is not None:
                over[name] = getattr(self, name)
        return ModelConfig(**over)
