"""A scenario: everything that shapes one simulated market. Same scenario (seed included), same bytes.

Defaults are set so the default scenario's hourly statistics sit in the range of real BTCUSDT
(bench/sim_realism.py prints them side by side with ../shared/data/real).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import numpy as np

from ..params import KLINE_INTERVALS

REGIMES = ("calm", "normal", "trending", "crash")
# Per regime: volatility multiplier, |drift| per day (log), activity multiplier.
REGIME_PARAMS = {"calm": (0.65, 0.0, 0.8), "normal": (1.0, 0.0, 1.0), "trending": (1.15, 0.03, 1.2),
                 "crash": (1.9, 0.0, 1.6)}
DEFAULT_REGIME_ODDS = {"calm": 0.40, "normal": 0.37, "trending": 0.17, "crash": 0.06}
# The seed system's leverage mix (attributed to Coinglass); a scenario draws its own around it.
LEVERAGES = (5, 10, 25, 50, 100)
REFERENCE_MIX = (0.15, 0.30, 0.25, 0.20, 0.10)


@dataclasses.dataclass(frozen=True)
class Scenario:
    seed: int = 7
    symbol: str = "BTCUSDT"
    # the random stream within the seed: 0 for the reference market (BTCUSDT), a hash of the symbol for the others
    # (lib/sim/profiles), so one seed gives every symbol its own path
    stream: int = 0
    start: str = "2026-04-05"
    days: int = 30
    interval_s: int = 60
    initial_price: float = 67_000.0
    sigma_minute: float = 0.00055          # log-return s.d. per minute on a "normal" day
    # Student-t degrees of freedom of minute shocks: 2.8 puts the hourly excess kurtosis (7.2) inside the real weekly
    # range (1.1..9.1; 3.5 gave 1.25, at its floor) and the long share of liquidations in up hours with it (wicks
    # down in an up hour liquidate longs: 0.08, real 0.04..0.25; 3.5 gave 0.27). bench/sim_realism.py, seed 7.
    tail_df: float = 2.8
    regimes: tuple[str, ...] = ()          # one per day; empty: drawn from regime_odds by the seed
    regime_odds: tuple[tuple[str, float], ...] = tuple(DEFAULT_REGIME_ODDS.items())
    target_oi_usd: float = 6.0e9           # sets the arrival rate: OI ≈ arrivals × mean size × mean holding
    size_median_usd: float = 150_000.0     # position notional: lognormal(median, size_sigma), heavy right tail
    size_sigma: float = 1.4
    size_cap_usd: float = 150e6
    leverages: tuple[int, ...] = LEVERAGES
    leverage_mix: tuple[float, ...] = ()   # empty: drawn per scenario (Dirichlet around REFERENCE_MIX)
    hold_mean_minutes: float = 6 * 1440.0  # holding time: lognormal with this mean
    hold_sigma: float = 1.0
    leverage_size_exponent: float = 1.0    # size median × (10/L)^k: high leverage comes in smaller size
    leverage_hold_exponent: float = 0.6    # holding mean × (5/L)^k: high leverage is held shorter
    stop_share: float = 0.85               # share of takers with a stop-loss (closed, not liquidated)
    stop_margin_loss: tuple[float, float] = (0.4, 0.9)  # stop placed at this share of margin lost
    momentum_bias: float = 0.08            # P(long) shift per unit of 1h momentum (in hourly sigmas, tanh)
    funding_bias: float = 0.25             # P(long) shift per 0.05% of funding (against the crowd paying)
    funding_base: float = 0.00003          # the interest component, 0.01% per 8h
    funding_slope: float = 0.0002          # funding per unit of long/short imbalance ((L−S)/(L+S))
    funding_cap: float = 0.003
    liq_impact_per_musd: float = 0.5e-4    # log price move per $1M of liquidation orders (cascades)
    impact_permanence: float = 0.5         # share of that move still there at the bar's close
    impact_half_life_minutes: float = 90.0 # the rest of a cascade's move reverts with this half-life
    # Non-leveraged churn volume. Real BTCUSDT trades a median 4.2% of its OI an hour (weekly 3.2..9.6%,
    # bench/sim_realism.py); at 9e6 the simulated market traded 21%, all but 3 points of it churn, so a model
    # that turns its book over with volume (ModelConfig.turnover_decay) turned it over 4x too fast here. 1.5e6
    # gives 5.5% (positions opened and closed are ~3 points of it).
    background_usd_per_minute: float = 1.5e6
    trade_size_btc: float = 0.12          # mean trade size, in the base asset (the name is from the first market)
    price_decimals: int = 1                # the contract's tick (0.1) and lot step (0.001) as decimals
    qty_decimals: int = 3
    # sim_positions cadence: every 4 hours, the snapshots the validation's truth distance scores. Hourly ones were
    # 4x the rows (and 4x their gate's work) for no metric; the market is the same either way.
    snapshot_minutes: int = 240
    agg_trades: bool = False               # also emit aggTrades (every position flow as a taker trade)
    oi_minutes: int = 5

    @classmethod
    def default(cls, seed: int = 7, start: str | None = None, days: int = 30, **overrides) -> "Scenario":
        kw = {"seed": seed, "days": days, **overrides}
        if start:
            kw["start"] = start
        return cls(**kw)

    @property
    def start_date(self) -> dt.date:
        return dt.date.fromisoformat(self.start)

    @property
    def last_date(self) -> dt.date:
        return self.start_date + dt.timedelta(days=self.days - 1)

    @property
    def interval(self) -> str:
        """The bar as the archive names it (1m, 5m)."""
        return next(name for name, seconds in KLINE_INTERVALS.items() if seconds == self.interval_s)

    @property
    def bars(self) -> int:
        return self.days * 86_400 // self.interval_s

    def scenario_id(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return f"{self.symbol}-{self.start}-{self.days}d-seed{self.seed}-{hashlib.sha256(blob).hexdigest()[:10]}"

    def resolved(self, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        """The day regimes and the leverage mix this scenario uses (drawn when not given)."""
        if self.regimes:
            if len(self.regimes) != self.days or any(r not in REGIMES for r in self.regimes):
                raise ValueError(f"regimes: need {self.days} of {REGIMES}, got {self.regimes}")
            regimes = list(self.regimes)
        else:
            names, odds = zip(*self.regime_odds)
            regimes = list(rng.choice(names, size=self.days, p=np.array(odds) / sum(odds)))
        if self.leverage_mix:
            mix = np.asarray(self.leverage_mix, float)
        else:
            mix = rng.dirichlet(np.asarray(REFERENCE_MIX) * 20)
        return regimes, mix / mix.sum()
