"""Signal audit (seed 004, part 3.2): which inputs the model reads carry information about realised liquidations
beyond the price path, on the development window of real BTCUSDT (../shared/data/real, 2026-04-05..2026-06-08).

For each 4h bar and side, each input as known at the bar's start:
- oi_change: open interest now over 4 hours before, − 1;
- taker_imbalance: the taker-buy share of the 4 hours before, − 0.5;
- funding: the last settled rate;
- profile_mass: the 30 days before's quote volume traded at prices inside the bar's range toward the side (the
  volume profile read as the map-ahead test reads the map);
- swept_levels: the flow model's predicted liquidations of the side over the 24 hours before (levels already swept);
- book_near_price: the flow book's notional of the side within 1% of the price, at the snapshot standing then;
- map_ahead: the flow map's own forecast of the bar (its notional between the open and the bar's extreme).

Scored against the realised USD (the vendor's 30-minute bars, Binance+Bybit+OKX, summed to 4h) beyond the path
baseline (the bar's move, the hourly moves toward the side and the hourly ranges, each flexible:
lib/validation/skill.partial_beyond_rows): the partial rank correlation and the mutual information of the two
rank residuals (quantile-binned, in bits), each with a moving-block bootstrap 95% interval; and the partial in each
of three consecutive folds. An input earns its place when its interval is clear of 0, every fold has the same
sign, and its MI is above what a shuffled residual scores (the bootstrap's MI runs high, as a resample repeats bars).
Nothing is fitted: the folds show stability, not a choice.

    python bench/signal_audit.py [--real ../shared/data/real] [--reps 200]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import realdata
import walk_forward as wf
from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.market.liqprice import BracketArrays
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_days
from liq_pipeline.lib.validation import outcome
from liq_pipeline.lib.validation.skill import (block_bars, coarser_bars, controls_bins, controls_design, rank_residuals,
                                               side_moves)

START, END = dt.date(2026, 4, 5), dt.date(2026, 6, 8)
HOURS = 4


def run_model(data: dict, cfg: ModelConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The flow model over the window as the pipeline runs it: its per-hour predictions and its heatmap levels."""
    br = BracketArrays.of(brackets.load("BTCUSDT"))
    days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
    preds, heat = [], []
    for _, est in estimate_days(data["klines"], data["oi"], data["funding"], days, cfg, br):
        preds.append(est.predicted[est.predicted.model == "flow"])
        if len(est.heatmap):
            heat.append(est.heatmap[est.heatmap.model == "flow"])
    pred = pd.concat(preds).pivot_table(index="ts", columns="side", values="notional_usd", aggfunc="sum")
    h = pd.concat(heat)
    levels = h.groupby(["ts", "side", "price_low", "price_high"], as_index=False) \
        .agg(notional_usd=("notional_usd", "sum"), price=("price", "first"))
    return pred, levels


def features(data: dict, bars: pd.DataFrame, pred: pd.DataFrame, levels: pd.DataFrame) -> dict[str, dict]:
    """Each input per bar and side (the same series for both sides where the input has no side)."""
    t = bars.index
    oi = data["oi"].set_index("ts")["oi_contracts"].sort_index()
    oi_at = lambda when: oi.reindex(when, method="ffill").to_numpy(float)  # noqa: E731
    kl = data["klines"].set_index("open_time").sort_index()
    buy = kl["taker_buy_volume"].rolling(f"{HOURS}h").sum() / kl["volume"].rolling(f"{HOURS}h").sum()
    before = lambda s, when: s.shift(1).reindex(when, method="ffill").to_numpy(float)  # noqa: E731
    fu = data["funding"].set_index("ts")["funding_rate"].sort_index()
    common = {"oi_change": oi_at(t) / oi_at(t - pd.Timedelta(hours=HOURS)) - 1,
              "taker_imbalance": before(buy, t) - 0.5,
              "funding": fu.shift(0).reindex(t - pd.Timedelta(milliseconds=1), method="ffill").to_numpy(float)}
    out = {name: {"long": v, "short": v} for name, v in common.items()}
    closes, volumes, times = kl["close"].to_numpy(float), kl["quote_volume"].to_numpy(float), kl.index
    prof = {"long": [], "short": []}
    for start, bar in zip(t, bars.itertuples()):
        past = (times < start) & (times >= start - pd.Timedelta(days=30))
        c, v = closes[past], volumes[past]
        prof["long"].append(v[(c >= bar.low) & (c <= bar.open)].sum())
        prof["short"].append(v[(c >= bar.open) & (c <= bar.high)].sum())
    out["profile_mass"] = {s: np.asarray(x) for s, x in prof.items()}
    swept = pred.rolling("24h").sum().shift(1)
    out["swept_levels"] = {s: swept[s].reindex(t, method="ffill").to_numpy(float) for s in ("long", "short")}
    snaps = outcome.Snapshots(levels)
    near = {"long": [], "short": []}
    at = np.searchsorted(snaps.times, t.to_numpy(dtype="datetime64[ns]"), side="right") - 1
    for i in range(len(t)):
        for side in ("long", "short"):
            if at[i] < 0:
                near[side].append(np.nan)
                continue
            pl, ph, usd = snaps.groups.get((snaps.times[at[i]], side), (np.empty(0),) * 3)
            mid = (pl + ph) / 2
            price = bars["open"].iloc[i]
            near[side].append(usd[np.abs(mid / price - 1) <= 0.01].sum())
    out["book_near_price"] = {s: np.asarray(x) for s, x in near.items()}
    fc = outcome.map_forecasts(snaps, bars)
    out["map_ahead"] = {s: fc[f"map_{s}"].to_numpy(float) for s in ("long", "short")}
    return out


def residual_ranks(x: np.ndarray, y: np.ndarray, controls: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The two rank residuals partial_beyond_rows correlates (the same design), for the MI too."""
    return rank_residuals(x, y, controls_design(controls, controls_bins(x.shape[-1], len(controls))))


def mutual_information(a: np.ndarray, b: np.ndarray, bins: int = 6) -> float:
    """Mutual information (bits) of two series, each cut into quantile bins."""
    qa = np.searchsorted(np.quantile(a, np.linspace(0, 1, bins + 1)[1:-1]), a, side="right")
    qb = np.searchsorted(np.quantile(b, np.linspace(0, 1, bins + 1)[1:-1]), b, side="right")
    joint = np.histogram2d(qa, qb, bins=[np.arange(bins + 1)] * 2)[0] / len(a)
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / (pa @ pb)[nz])).sum())


def audit_cell(x, y, controls, reps: int, rng) -> dict:
    n = len(x)
    block = block_bars(n, HOURS)
    ra, rb = residual_ranks(x, y, controls)
    partial = float(np.corrcoef(ra, rb)[0, 1])
    mi = mutual_information(ra, rb)
    starts = rng.integers(0, n - block + 1, (reps, int(np.ceil(n / block))))
    idx = (starts[:, :, None] + np.arange(block)).reshape(reps, -1)[:, :n]
    boot_p, boot_mi = [], []
    for row in idx:
        a, b = residual_ranks(x[row], y[row], [c[row] for c in controls])
        if np.std(a) > 0 and np.std(b) > 0:
            boot_p.append(np.corrcoef(a, b)[0, 1])
            boot_mi.append(mutual_information(a, b))
    # the MI of independent series of this length is not 0: a shuffle of the residual gives its floor
    floor = np.mean([mutual_information(ra, rng.permutation(rb)) for _ in range(50)])
    return {"n": n, "partial": partial, "partial_ci": np.quantile(boot_p, [0.025, 0.975]), "mi": mi,
            "mi_ci": np.quantile(boot_mi, [0.025, 0.975]), "mi_floor": floor}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT))
    ap.add_argument("--reps", type=int, default=200)
    a = ap.parse_args(argv)
    data = realdata.load(Path(a.real))
    pred, levels = run_model(data, ModelConfig())
    bars = coarser_bars(wf.hourly_frame(data, START, END), HOURS).dropna(subset=["real_long", "real_short"])
    feats = features(data, bars, pred, levels)
    rng = np.random.default_rng(0)
    third = len(bars) // 3
    print(f"signal audit: real BTCUSDT {START}..{END}, {HOURS}h bars (n={len(bars)}), realised = vendor 30m bars "
          f"(Binance+Bybit+OKX) summed; beyond the bar's move, the hourly moves and the hourly ranges; "
          f"{a.reps} block-bootstrap draws; folds = the window's thirds in time")
    print(f"{'input':16s} {'side':5s} {'n':>4s} {'partial [95% CI]':>24s} {'MI bits [95% CI]':>22s} {'MI floor':>8s} "
          f"{'partial by fold':>24s}  earns its place")
    for name, by_side in feats.items():
        for side in ("long", "short"):
            x = by_side[side]
            ok = np.isfinite(x)
            y = bars[f"real_{side}"].to_numpy(float)
            move = side_moves(bars)[side]
            controls = [move, bars[f"path_{side}"].to_numpy(float), bars["path_range"].to_numpy(float)]
            cell = audit_cell(x[ok], y[ok], [c[ok] for c in controls], a.reps, rng)
            folds = []
            for k in range(3):
                sl = np.zeros(len(x), bool)
                sl[k * third:(k + 1) * third if k < 2 else len(x)] = True
                m = sl & ok
                ra, rb = residual_ranks(x[m], y[m], [c[m] for c in controls])
                folds.append(np.corrcoef(ra, rb)[0, 1])
            # information either way round: the interval clear of 0, every fold of that sign, MI above chance's
            # (the bootstrap's MI runs high: a resample repeats bars, so the point value is set against the floor)
            signed = (cell["partial_ci"][0] > 0 and min(folds) > 0) or (cell["partial_ci"][1] < 0 and max(folds) < 0)
            earns = signed and cell["mi"] > cell["mi_floor"]
            print(f"{name:16s} {side:5s} {cell['n']:4d} {cell['partial']:7.3f} [{cell['partial_ci'][0]:6.3f}, "
                  f"{cell['partial_ci'][1]:6.3f}] {cell['mi']:6.3f} [{cell['mi_ci'][0]:5.3f}, {cell['mi_ci'][1]:5.3f}] "
                  f"{cell['mi_floor']:8.3f} {' '.join(f'{f:7.3f}' for f in folds):>24s}  {'yes' if earns else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
