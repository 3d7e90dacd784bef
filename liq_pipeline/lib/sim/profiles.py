"""Each symbol's simulated market: its own price scale, volatility, open interest, position sizes, contract
details and random stream (the leverage mix is drawn per market from its seed and stream).

BTCUSDT is the reference market: Scenario's defaults, tuned so its hourly statistics sit near real BTCUSDT
(bench/sim_realism.py). ETHUSDT and SOLUSDT have profiles set to resemble their rough scale (chosen, not
measured); any other valid symbol gets one drawn from a hash of its name, so a symbol always gets the same
market. Where an exchange-info snapshot lists the symbol (lib/market/contracts), its real tick and lot size are used.
A symbol without a bracket table of its own trades on the fallback tiers (lib/market/brackets), whose notional caps are
small: its positions are sized to them (small tickets, open interest in the hundreds of millions), or the
simulated exchange would allow it almost no leverage.
"""
from __future__ import annotations

import hashlib
import math

from ..market import brackets, contracts
from .scenario import Scenario

REFERENCE = "BTCUSDT"
# Mean trade of the reference market in USD (0.12 BTC at its initial price): other markets trade the same in USD.
TRADE_USD = 0.12 * 67_000.0
PROFILES: dict[str, dict] = {
    "ETHUSDT": {"initial_price": 3_400.0, "sigma_minute": 0.0007, "price_decimals": 2, "qty_decimals": 3},
    "SOLUSDT": {"initial_price": 150.0, "sigma_minute": 0.0009, "price_decimals": 3, "qty_decimals": 2},
}
# Sized to the fallback tiers (50x up to $5k, 20x to $10k, …): a position book of about the reference's count, and
# churn the same share of its open interest as the reference's (1.5e6 / 6e9 a minute).
SMALL_TIERS = {"target_oi_usd": 3.0e8, "size_median_usd": 4_000.0, "size_cap_usd": 12.5e6,
               "background_usd_per_minute": 7.5e4}


def _unit(symbol: str, i: int) -> float:
    """A number in [0, 1) from the symbol's name (the i-th of a few)."""
    return int.from_bytes(hashlib.sha256(f"{symbol}/{i}".encode()).digest()[:8], "big") / 2.0 ** 64


def profile(symbol: str) -> dict:
    """The Scenario fields that make `symbol`'s market (empty for the reference)."""
    listed = contracts.contract(symbol)         # the real tick and lot size, where an exchange-info snapshot has them
    real = {"price_decimals": contracts.decimals(listed["tick_size"]),
            "qty_decimals": contracts.decimals(listed["step_size"])} if listed else {}
    if symbol == REFERENCE:
        return {k: v for k, v in real.items() if getattr(Scenario, k) != v}
    drawn = PROFILES.get(symbol)
    if drawn is None:
        price = 10 ** (-1 + 4 * _unit(symbol, 0))            # $0.10 .. $1,000
        decimals = contracts.price_decimals(price)
        drawn = {"initial_price": float(f"{price:.{decimals}f}"), "sigma_minute": 0.00055 * (1.3 + 1.2 * _unit(symbol, 1)),
                 "price_decimals": decimals, "qty_decimals": max(0, min(3, math.floor(math.log10(price))))}
    drawn = {**drawn, **real}
    out = {**drawn, "stream": int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:4], "big"),
           "trade_size_btc": round(TRADE_USD / drawn["initial_price"], drawn["qty_decimals"] + 1)}
    if symbol not in brackets.known_symbols():
        out.update(SMALL_TIERS)
    return out


def scenario_for(symbol: str, seed: int = 7, start: str | None = None, days: int = 30, **overrides) -> Scenario:
    """The scenario of `symbol`'s market over `days` from `start`."""
    return Scenario.default(seed=seed, start=start, days=days, **{"symbol": symbol, **profile(symbol), **overrides})
