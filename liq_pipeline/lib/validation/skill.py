"""Per-bar skill (DESIGN section 7) and ground-truth comparisons (simulated source).

Per-bar skill: Spearman of predicted vs realised liquidated USD per bar and side, next to the naive
baseline (the bar's move toward that side) and the partial correlation beyond the move. The control is
flexible: ranks are residualised on the move rank plus quantile-bin dummies of it, so a function of the
move that is zero on small bars cannot pass for skill (a plain linear control would reward it).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats


@dataclasses.dataclass
class Skill:
    n: int
    spearman: float
    p_value: float
    naive_spearman: float
    partial_flexible: float
    partial_linear: float


def _residual(y: np.ndarray, design: np.ndarray) -> np.ndarray:
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    return y - design @ beta


def flexible_design(move: np.ndarray, bins: int = 15) -> np.ndarray:
    r = stats.rankdata(move) / len(move)
    edges = np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1])
    which = np.searchsorted(edges, r, side="right")
    dummies = np.eye(bins)[which][:, 1:]
    return np.column_stack([np.ones(len(r)), r, dummies])


def partial_spearman(pred: np.ndarray, real: np.ndarray, move: np.ndarray, flexible: bool = True) -> float:
    rp, rr = stats.rankdata(pred), stats.rankdata(real)
    design = flexible_design(move) if flexible else np.column_stack([np.ones(len(move)), stats.rankdata(move)])
    a, b = _residual(rp, design), _residual(rr, design)
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")


def bar_skill(pred: np.ndarray, real: np.ndarray, move: np.ndarray) -> Skill:
    pred, real, move = (np.asarray(x, float) for x in (pred, real, move))
    rho, p = stats.spearmanr(pred, real)
    naive = stats.spearmanr(move, real).statistic
    return Skill(len(pred), float(rho), float(p), float(naive), partial_spearman(pred, real, move, True),
                 partial_spearman(pred, real, move, False))


def side_moves(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    """The naive baseline: how far the bar went toward each side's liquidations."""
    return {"long": ((bars["open"] - bars["low"]) / bars["open"]).to_numpy(),
            "short": ((bars["high"] - bars["open"]) / bars["open"]).to_numpy()}


def weighted_distance(est_prices, est_weights, true_prices, true_weights, price: float) -> float:
    """1-Wasserstein distance between two notional-weighted distributions of liquidation price, in % of price."""
    if np.sum(est_weights) <= 0 or np.sum(true_weights) <= 0:
        return float("nan")
    return 100 * stats.wasserstein_distance(np.asarray(est_prices) / price, np.asarray(true_prices) / price,
                                            est_weights, true_weights)


def top_decile_share(snapshots: pd.DataFrame, liquidations: pd.DataFrame) -> float:
    """Share of true liquidated notional whose liquidation price lay in a top-decile bin of the latest
    estimated snapshot before it (same side). snapshots: ts, side, price_low, price_high, notional_usd."""
    if liquidations.empty or snapshots.empty:
        return float("nan")
    hit = np.zeros(len(liquidations), bool)
    times = np.sort(snapshots["ts"].unique())
    at = np.searchsorted(times, liquidations["ts"].to_numpy(), side="right") - 1
    groups = {k: g for k, g in snapshots.groupby(["ts", "side"])}
    for i, (t_i, side, lp) in enumerate(zip(at, liquidations["side"], liquidations["liq_price"])):
        if t_i < 0 or (times[t_i], side) not in groups:
            continue
        g = groups[(times[t_i], side)]
        top = g[g["notional_usd"] >= g["notional_usd"].quantile(0.9)]
        hit[i] = ((top["price_low"] <= lp) & (lp < top["price_high"])).any()
    w = liquidations["notional_usd"].to_numpy()
    return float(w[hit].sum() / w.sum())
