"""Model configuration. Every default says where it comes from."""
from __future__ import annotations

import dataclasses
import hashlib
import json

# The models the estimator makes (the tables' `model` column, `liq heatmap --model`), in the order of their codes.
MODELS = ("flow", "static")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    # Leverage mix by notional. Source: the mix the seed system attributes to Coinglass
    # (../shared/seeds/001, DESIGN section 5): 5x/10x/25x/50x/100x at 15/30/25/20/10%.
    leverages: tuple[float, ...] = (5, 10, 25, 50, 100)
    leverage_mix: tuple[float, ...] = (0.15, 0.30, 0.25, 0.20, 0.10)
    # Representative position sizes (USD) and weights: they only pick the bracket (MMR, cum). Source: an
    # assumption, quantiles of the simulated market's default lognormal (median $150k, sigma 1.4).
    sizes_usd: tuple[float, ...] = (15_000, 80_000, 400_000, 3_000_000)
    size_weights: tuple[float, ...] = (0.25, 0.35, 0.30, 0.10)
    # Entry prices of a bar's new notional: this many points spread evenly over the low..high of the bars that
    # started within the entry window before it, itself included (an hourly bar's own range: the real 1h klines'
    # books are unchanged by it). On shorter bars the new levels next to the price sat in a few bins, and the map
    # scored worse than an hourly book's. Chosen on real data: the fit window 2026-04-12..05-09 on 5-minute bars made
    # from the OI stamps' prices, windows of one bar, 15 min, 1 h and 4 h: 1 h (map-ahead partial, mean of 1h and 4h,
    # long and short, 0.422 against 0.366, 0.386 and 0.373). On the simulated truth (1m bars, seeds 7, 11, 23, 3) it
    # takes the map-ahead partial up in 14 of 16 cells and the hourly per-bar one up too; per 5-minute bar the
    # predictions' timing is worse (docs/model.md). The window restarts each UTC day. 0: each bar's own range.
    entry_points: int = 5
    entry_window_minutes: float = 60.0
    # ONE configuration for every market (real or simulated), chosen on real data, walk-forward, and run on the
    # simulated market's truth too (docs/model.md, "One configuration for every market"). bench/walk_forward.py:
    # the map-ahead partial (1h and 4h), the per-bar 4h partial deciding among fits within 0.01 of its best, on fit
    # windows 2026-04-12..05-09, ..05-19 and ..05-29 of the real samples; test folds 2026-05-10..06-08.
    # Long share of new notional: 0.5 + flow_weight·(taker_buy/volume − 0.5) + funding tilt + candle tilt.
    # Source: order-flow imbalance (seeds/001 section 4), funding and candle tilts as in DESIGN section 5. The
    # walk-forward picks 0.5 on all three fit windows; 1.0 scores within 0.01.
    flow_weight: float = 0.5
    funding_tilt_per_bp: float = 0.02     # +2 points of long share per 0.01% of funding
    candle_tilt: float = 0.03
    # Positions decay (closed and re-opened at current prices) with this half-life; DESIGN section 5 reports
    # ~3 days helped a little on real data (its window, not this repository's). None: no decay. The walk-forward
    # picks 72 h on the first and last fit windows (..05-09, ..05-29), none on the second (within 0.01 of 72 h).
    decay_half_life_hours: float | None = 72.0
    # And with trading: each bar closes 1 − exp(−turnover_decay · volume / OI at the bar's start) of the book, so a
    # busy bar (a trend, a crash) turns more of it over than a quiet one. None: not at all. The walk-forward picks
    # 0.5 on all three fit windows (with the leverage exponent below; 1.0 without it). On a median real hour
    # (volume ≈ 4% of OI) it closes about 2% of the book, more of its high-leverage rows, less of its low. The
    # simulated market trades 5.5% of its OI an hour since its churn was set to the real market's
    # (lib/sim/scenario.py); at 21% an hour it turned the book over in ~3 h, which is why the simulated market
    # once ran without it (MARKET_DEFAULTS, removed 2026-12-07).
    turnover_decay: float | None = 0.5
    # Both decays close each leverage row at (L / L̄)^k times the book's rate (L̄ ≈ 20x: the mix's geometric mean):
    # high leverage is held shorter (a 100x row closes 7x as fast as the book, a 5x row a fifth as fast), so the
    # surviving book leans to low leverage, as a real one does where traders who lever most hold least. 0: every
    # row alike. The walk-forward picks 1.2 on all three fit windows (among 0, 0.6, 1.2); on the simulated truth it
    # halves the flow book's distance to the true positions (docs/model.md, "One configuration for every market").
    leverage_turnover_exponent: float = 1.2
    # Price grid of liquidation levels: log bins of ~0.1% (DESIGN: adaptive, ~0.1% of price).
    bin_step: float = 0.001
    grid_span: float = 8.0                # the grid covers anchor/8 .. anchor×8
    # Heatmap snapshots: cadence, and the rows kept (bins within ±range of price, notional above the floor).
    snapshot_minutes: int = 60
    heatmap_range: float = 0.25
    heatmap_min_usd: float = 1_000.0
    # Static (seed) model: OI-delta boost for bins within ±1% of price, funding bias on the split.
    static_near_price: float = 0.01
    static_oi_boost: float = 5.0

    def __post_init__(self):
        if len(self.leverages) != len(self.leverage_mix) or not self.leverages:
            raise ValueError(f"leverages {self.leverages} and leverage_mix {self.leverage_mix} differ in length")
        if len(self.sizes_usd) != len(self.size_weights) or not self.sizes_usd:
            raise ValueError(f"sizes_usd {self.sizes_usd} and size_weights {self.size_weights} differ in length")
        for name in ("leverage_mix", "size_weights"):
            w = getattr(self, name)
            if min(w) < 0 or abs(sum(w) - 1) > 1e-6:
                raise ValueError(f"{name} {w} must be non-negative and sum to 1")
        if self.turnover_decay is not None and self.turnover_decay < 0:
            raise ValueError(f"turnover_decay {self.turnover_decay} must be non-negative (or None)")
        if self.entry_window_minutes < 0:
            raise ValueError(f"entry_window_minutes {self.entry_window_minutes} must be non-negative")
        if min(self.leverages) < 1:
            raise ValueError(f"leverages {self.leverages}: each must be at least 1")

    def key(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
