"""Walk-forward skill of the estimator on real BTCUSDT: whatever is chosen is chosen on earlier data and scored
on later data it never saw.

Data: ../shared/data/real, 2026-04-05..2026-06-08 (1h klines, 5-minute OI, funding); realised liquidations are
the vendor's 30-minute bars (Binance+Bybit+OKX) summed to 1h and 4h bars. The estimator runs day by day from the
window's first day exactly as the pipeline does (causal: every prediction uses only data before its bar).

Protocol: three consecutive test folds of 10 days. For each fold, a flow-model configuration is chosen among the
candidates (decay half-life × flow weight) by the mean flexible partial (long and short, 4h bars) on the fit
window: every day from the warm-up's end up to the fold, never the fold itself. The chosen configuration's
predictions on the fold are then pooled over the folds and scored at 1h and 4h, by side: Spearman, the naive
move-size baseline, the flexible partial correlation beyond the move with its 95% moving-block bootstrap
interval, a placebo (a pure function of the move, which must score near zero), and the partial with a stricter
control (a slope per move bin: `piecewise`) as a robustness check. A threshold placebo's residual ranks are zero
in every move bin but the one its threshold falls in, so its value rests on ~18 bars at 4h: read it as noise. The default configuration,
the static (seed) model and the naive rule are scored on the same test bars.

    python bench/walk_forward.py [--real ../shared/data/real]
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd

import realdata
from liq_pipeline.lib import brackets
from liq_pipeline.lib.liqprice import BracketArrays
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_days
from liq_pipeline.lib.validation.skill import side_moves, side_scores

START, END = dt.date(2026, 4, 5), dt.date(2026, 6, 8)
WARM_UP_DAYS = 7                     # the book's first week is not scored anywhere
FOLDS = [(dt.date(2026, 5, 10), dt.date(2026, 5, 19)), (dt.date(2026, 5, 20), dt.date(2026, 5, 29)),
         (dt.date(2026, 5, 30), dt.date(2026, 6, 8))]
CANDIDATES = {"decay_half_life_hours": [24.0, 72.0, 168.0, None], "flow_weight": [0.5, 1.0, 2.0]}
BLOCK_HOURS = 24                     # bootstrap blocks of one day


def predictions(data: dict, cfg: ModelConfig, model: str) -> pd.DataFrame:
    """Predicted liquidated USD per 1h bar, long and short columns, indexed by bar start."""
    br = BracketArrays.of(brackets.load("BTCUSDT"))
    days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
    pred = pd.concat([est.predicted for _, est in estimate_days(data["klines"], data["oi"], data["funding"], days, cfg, br)])
    pred = pred[pred.model == model]
    return pred.pivot_table(index="ts", columns="side", values="notional_usd", aggfunc="sum").rename(
        columns=lambda s: f"pred_{s}")


def hourly_frame(data: dict) -> pd.DataFrame:
    kl = data["klines"]
    kl = kl[(kl.open_time >= pd.Timestamp(START, tz="UTC")) & (kl.open_time < pd.Timestamp(END + dt.timedelta(days=1), tz="UTC"))]
    bars = data["bars_30m"]
    real = bars.assign(hour=bars.ts.dt.floor("1h")).groupby("hour")[["long_usd", "short_usd"]].sum(min_count=1)
    frame = kl.set_index("open_time")[["open", "high", "low"]]
    return frame.join(real.rename(columns={"long_usd": "real_long", "short_usd": "real_short"}))


def in_days(frame: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    return frame[(frame.index >= pd.Timestamp(first, tz="UTC")) & (frame.index < pd.Timestamp(last + dt.timedelta(days=1), tz="UTC"))]


def scores(frame: pd.DataFrame, hours: int, side: str, pred_col: str | None, block: int) -> dict:
    """Spearman, naive, flexible partial [CI], piecewise of one prediction column (None: the naive rule itself):
    lib/validation/skill.side_scores, the code the validation suite reports with."""
    s = side_scores(frame, hours, side, pred_col, block_hours=block)
    return {"n": s["n"], "spearman": s["value"], "naive": s["naive"], "partial": s.get("partial"),
            "ci": s.get("partial_ci95"), "piecewise": s.get("piecewise")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT))
    a = ap.parse_args(argv)
    data = realdata.load(Path(a.real))
    hourly = hourly_frame(data)
    t0 = time.monotonic()
    configs = [dataclasses.replace(ModelConfig(), **dict(zip(CANDIDATES, values)))
               for values in itertools.product(*CANDIDATES.values())]
    flow = {cfg: predictions(data, cfg, "flow") for cfg in configs}
    static = predictions(data, ModelConfig(), "static")
    print(f"{len(configs)} flow configurations and the static model over {START}..{END}: {time.monotonic() - t0:.1f} s")

    label = lambda cfg: f"decay {cfg.decay_half_life_hours} h, flow weight {cfg.flow_weight}"
    fit_start = START + dt.timedelta(days=WARM_UP_DAYS)
    chosen_parts = []
    print(f"\nfolds (fit from {fit_start}; chosen by mean flexible partial, long and short, 4h, on the fit window):")
    for first, last in FOLDS:
        def fit_score(cfg):
            f = in_days(hourly.join(flow[cfg]), fit_start, first - dt.timedelta(days=1))
            return np.mean([scores(f, 4, side, f"pred_{side}", BLOCK_HOURS)["partial"] for side in ("long", "short")])
        fits = {cfg: fit_score(cfg) for cfg in configs}
        best = max(fits, key=fits.get)
        print(f"  fit {fit_start}..{first - dt.timedelta(days=1)}  test {first}..{last}: {label(best)} "
              f"(fit partial {fits[best]:.3f}; default's {fits[ModelConfig()]:.3f})")
        chosen_parts.append(in_days(hourly.join(flow[best]), first, last))
    chosen = pd.concat(chosen_parts)
    test_days = (FOLDS[0][0], FOLDS[-1][1])
    default = in_days(hourly.join(flow[ModelConfig()]), *test_days)
    seed = in_days(hourly.join(static), *test_days)
    placebo = default.assign(pred_long=lambda d: np.where(side_moves(d)["long"] > 0.01, side_moves(d)["long"], 0.0),
                             pred_short=lambda d: np.where(side_moves(d)["short"] > 0.01, side_moves(d)["short"], 0.0))

    print(f"\ntest bars {test_days[0]}..{test_days[1]} (never used for a choice), 95% moving-block bootstrap "
          f"({BLOCK_HOURS} h blocks):")
    print(f"{'bars':5s} {'side':6s} {'model':28s} {'n':>4s} {'Spearman':>9s} {'naive':>7s} {'flexible partial [95% CI]':>28s}"
          f" {'piecewise':>10s}")
    for hours in (1, 4):
        for side in ("long", "short"):
            rows = [("naive: move size", default, None), ("flow, chosen walk-forward", chosen, f"pred_{side}"),
                    ("flow, default config", default, f"pred_{side}"), ("static (seed)", seed, f"pred_{side}"),
                    ("placebo: move if > 1%", placebo, f"pred_{side}")]
            for name, frame, col in rows:
                s = scores(frame, hours, side, col, BLOCK_HOURS)
                partial = f"{s['partial']:6.3f} [{s['ci'][0]:6.3f}, {s['ci'][1]:6.3f}] {s['piecewise']:10.3f}" if col else ""
                print(f"{hours:>3d}h  {side:6s} {name:28s} {s['n']:4d} {s['spearman']:9.3f} {s['naive']:7.3f} {partial:>28s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
