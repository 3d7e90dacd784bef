"""Walk-forward skill of the estimator on real BTCUSDT: whatever is chosen is chosen on earlier data and scored
on later data it never saw.

Data: ../shared/data/real, 2026-04-05..2026-06-08 (1h klines, 5-minute OI, funding); realised liquidations are
the vendor's 30-minute bars (Binance+Bybit+OKX) summed to 1h and 4h bars. The estimator runs day by day from the
window's first day exactly as the pipeline does (causal: every prediction uses only data before its bar).
Any other root in the same layout and any window of it can be scored the same way (--real, --start, --end, --folds,
--fold-days), against any interval of liquidation bars it has (--bars: liquidationBars/BTCUSDT/<interval>/*.csv,
e.g. a vendor's Binance-only 4h series); bars are scored only at whole multiples of that interval (4h bars: 4h only).

Protocol: consecutive test folds at the window's end (three of 10 days unless told). For each fold, a flow-model configuration is chosen among the
candidates (decay half-life × turnover decay × flow weight: 48, ~90 s) by the mean flexible partial (long and short, 4h bars) on the fit
window: every day from the warm-up's end up to the fold, never the fold itself. The chosen configuration's
predictions on the fold are then pooled over the folds and scored at 1h and 4h, by side: Spearman, the naive
move-size baseline, the flexible partial correlation beyond the move with its 95% moving-block bootstrap
interval, a placebo (a pure function of the move, which must score near zero), the path baseline (the hourly moves
toward the side summed: its ρ, and the partial beyond the move, the path and the hourly ranges [CI]: issue 32), and the partial with a stricter
control (a slope per move bin: `piecewise`) as a robustness check. A threshold placebo's residual ranks are zero
in every move bin but the one its threshold falls in, so its value rests on ~18 bars at 4h: read it as noise. The real-market default configuration (ModelConfig.for_market("real"): what the pipeline runs on real data),
the static (seed) model and the naive rule are scored on the same test bars.

    python bench/walk_forward.py [--real ../shared/data/real] [--start 2026-04-05 --end 2026-06-08]
                                 [--folds 3 --fold-days 10] [--bars 30m]
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
from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.market.liqprice import BracketArrays
from liq_pipeline.lib.model.config import MODELS, ModelConfig
from liq_pipeline.lib.model.estimate import estimate_days
from liq_pipeline.lib.params import KLINE_INTERVALS
from liq_pipeline.lib.validation import skill
from liq_pipeline.lib.validation.skill import side_moves, side_scores
from liq_pipeline.lib.validation.suite import scorable

START, END = dt.date(2026, 4, 5), dt.date(2026, 6, 8)
WARM_UP_DAYS = 7                     # the book's first week is not scored anywhere
N_FOLDS, FOLD_DAYS = 3, 10           # the test folds: 2026-05-10..19, 05-20..29, 05-30..06-08 of the default window
CANDIDATES = {"decay_half_life_hours": [24.0, 72.0, 168.0, None], "turnover_decay": [None, 0.5, 1.0, 2.0],
              "flow_weight": [0.5, 1.0, 2.0]}
BLOCK_HOURS = 24                     # bootstrap blocks of one day


def folds(start: dt.date, end: dt.date, n: int = N_FOLDS, days: int = FOLD_DAYS) -> list[tuple[dt.date, dt.date]]:
    """The test folds: n consecutive runs of `days` days that end the window; the days before them, after the
    warm-up, are the first fold's fit window (at least a week of it)."""
    first = end - dt.timedelta(days=n * days - 1)
    if n < 1 or days < 1 or (first - start).days < WARM_UP_DAYS + 7:
        raise SystemExit(f"--folds {n} --fold-days {days} leave {(first - start).days - WARM_UP_DAYS} fit day(s) in "
                         f"{start}..{end} after the {WARM_UP_DAYS}-day warm-up: at least 7 are needed")
    return [(first + dt.timedelta(days=i * days), first + dt.timedelta(days=(i + 1) * days - 1)) for i in range(n)]


def predictions(data: dict, cfg: ModelConfig, start: dt.date = START, end: dt.date = END) -> dict[str, pd.DataFrame]:
    """Each model's predicted liquidated USD per 1h bar ({model: frame}, MODELS), long and short columns, indexed by
    bar start: one run of the estimator makes both models."""
    br = BracketArrays.of(brackets.load("BTCUSDT"))
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    pred = pd.concat([est.predicted for _, est in estimate_days(data["klines"], data["oi"], data["funding"], days, cfg, br)])
    return {model: pred[pred.model == model].pivot_table(index="ts", columns="side", values="notional_usd",
                                                         aggfunc="sum").rename(columns=lambda s: f"pred_{s}")
            for model in MODELS}


def hourly_frame(data: dict, start: dt.date = START, end: dt.date = END, bars: str = "30m") -> pd.DataFrame:
    """The window's hourly klines with the realised liquidations of the `bars` interval per hour (a bar longer than
    an hour sits on its first hour: coarser_bars sums it back; only whole multiples of it are scored)."""
    kl = data["klines"]
    kl = kl[(kl.open_time >= pd.Timestamp(start, tz="UTC")) & (kl.open_time < pd.Timestamp(end + dt.timedelta(days=1), tz="UTC"))]
    if f"bars_{bars}" not in data:
        have = ", ".join(k[5:] for k in data if k.startswith("bars_")) or "none"
        raise SystemExit(f"--bars {bars}: no liquidationBars/BTCUSDT/{bars}/*.csv in the root (it has: {have})")
    return skill.hourly_frame(kl, data[f"bars_{bars}"])     # the validation suite's own frame


def in_days(frame: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    return frame[(frame.index >= pd.Timestamp(first, tz="UTC")) & (frame.index < pd.Timestamp(last + dt.timedelta(days=1), tz="UTC"))]


def scores(frame: pd.DataFrame, hours: int, side: str, pred_col: str | None, block: int) -> dict:
    """Spearman, naive, flexible partial [CI], piecewise of one prediction column (None: the naive rule itself):
    lib/validation/skill.side_scores, the code the validation suite reports with."""
    s = side_scores(frame, hours, side, pred_col, block_hours=block)
    return {"n": s["n"], "spearman": s["value"], "naive": s["naive"], "partial": s.get("partial"),
            "path_naive": s.get("path_naive"), "beyond_path": s.get("partial_beyond_path"),
            "beyond_path_ci": s.get("partial_beyond_path_ci95"),
            "ci": s.get("partial_ci95"), "piecewise": s.get("piecewise")}


def candidate_configs(candidates: dict = CANDIDATES) -> list[ModelConfig]:
    """Every combination of the candidates' values, over the field defaults."""
    return [dataclasses.replace(ModelConfig(), **dict(zip(candidates, values)))
            for values in itertools.product(*candidates.values())]


def label(cfg: ModelConfig) -> str:
    return f"decay {cfg.decay_half_life_hours} h, turnover {cfg.turnover_decay}, flow weight {cfg.flow_weight}"


def fit_score(frame: pd.DataFrame, first: dt.date, last: dt.date) -> float:
    """What a configuration is chosen by: the mean flexible partial, long and short, of 4h bars in first..last."""
    f = in_days(frame, first, last)
    return float(np.mean([scores(f, 4, side, f"pred_{side}", BLOCK_HOURS)["partial"] for side in ("long", "short")]))


def run(data: dict, start: dt.date = START, end: dt.date = END, n_folds: int = N_FOLDS, fold_days: int = FOLD_DAYS,
        bars: str = "30m", candidates: dict = CANDIDATES, out=print) -> dict:
    """The protocol over one window: prints as it goes (`out`) and returns {(hours, side, row name): scores}."""
    test_folds = folds(start, end, n_folds, fold_days)
    hourly = hourly_frame(data, start, end, bars)
    bar_hours = KLINE_INTERVALS[bars] / 3600
    hours_scored = [h for h in (1, 4) if scorable(h, bar_hours)]
    if 4 not in hours_scored:
        raise SystemExit(f"--bars {bars}: the configurations are chosen on 4h bars, which {bars} bars cannot make")
    t0 = time.monotonic()
    configs = candidate_configs(candidates)
    default_cfg = ModelConfig.for_market("real")          # what the pipeline runs on real market data
    made = {cfg: predictions(data, cfg, start, end) for cfg in {*configs, default_cfg}}
    flow, static = {cfg: p["flow"] for cfg, p in made.items()}, made[default_cfg]["static"]
    out(f"{len(configs)} flow configurations and the static model over {start}..{end}: {time.monotonic() - t0:.1f} s")
    out(f"realised: liquidation bars of {bars} ({', '.join(sorted(set(data[f'bars_{bars}'].venue)))}), scored at "
        f"{' and '.join(f'{h}h' for h in hours_scored)}")

    fit_start = start + dt.timedelta(days=WARM_UP_DAYS)
    chosen_parts = []
    out(f"\nfolds (fit from {fit_start}; chosen by mean flexible partial, long and short, 4h, on the fit window):")
    for first, last in test_folds:
        fits = {cfg: fit_score(hourly.join(flow[cfg]), fit_start, first - dt.timedelta(days=1)) for cfg in configs}
        best = max(fits, key=fits.get)
        default_fit = f"{fits[default_cfg]:.3f}" if default_cfg in fits else "not a candidate"
        out(f"  fit {fit_start}..{first - dt.timedelta(days=1)}  test {first}..{last}: {label(best)} "
            f"(fit partial {fits[best]:.3f}; default's {default_fit})")
        chosen_parts.append(in_days(hourly.join(flow[best]), first, last))
    chosen = pd.concat(chosen_parts)
    test_days = (test_folds[0][0], test_folds[-1][1])
    default = in_days(hourly.join(flow[default_cfg]), *test_days)
    seed = in_days(hourly.join(static), *test_days)
    placebo = default.assign(pred_long=lambda d: np.where(side_moves(d)["long"] > 0.01, side_moves(d)["long"], 0.0),
                             pred_short=lambda d: np.where(side_moves(d)["short"] > 0.01, side_moves(d)["short"], 0.0))

    out(f"\ntest bars {test_days[0]}..{test_days[1]} (never used for a choice), 95% moving-block bootstrap "
        f"({BLOCK_HOURS} h blocks):")
    out(f"{'bars':5s} {'side':6s} {'model':28s} {'n':>4s} {'Spearman':>9s} {'naive':>7s} {'flexible partial [95% CI]':>28s}"
        f" {'piecewise':>10s} {'path ρ':>7s} {'beyond path [95% CI]':>24s}")
    results = {}
    for hours in hours_scored:
        for side in ("long", "short"):
            rows = [("naive: move size", default, None), ("flow, chosen walk-forward", chosen, f"pred_{side}"),
                    ("flow, real-market default", default, f"pred_{side}"), ("static (seed)", seed, f"pred_{side}"),
                    ("placebo: move if > 1%", placebo, f"pred_{side}")]
            for name, frame, col in rows:
                s = results[(hours, side, name)] = scores(frame, hours, side, col, BLOCK_HOURS)
                partial = f"{s['partial']:6.3f} [{s['ci'][0]:6.3f}, {s['ci'][1]:6.3f}] {s['piecewise']:10.3f}" if col else ""
                path = (f" {s['path_naive']:7.3f} {s['beyond_path']:6.3f} [{s['beyond_path_ci'][0]:6.3f}, "
                        f"{s['beyond_path_ci'][1]:6.3f}]") if col and s.get("beyond_path") is not None else ""
                out(f"{hours:>3d}h  {side:6s} {name:28s} {s['n']:4d} {s['spearman']:9.3f} {s['naive']:7.3f} {partial:>28s}"
                    f"{path}")
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT), help="a root in the archive's layout")
    ap.add_argument("--start", type=dt.date.fromisoformat, default=START, help="the window's first day")
    ap.add_argument("--end", type=dt.date.fromisoformat, default=END, help="the window's last day")
    ap.add_argument("--folds", type=int, default=N_FOLDS, help="test folds at the window's end")
    ap.add_argument("--fold-days", type=int, default=FOLD_DAYS)
    ap.add_argument("--bars", default="30m", choices=[iv for iv in KLINE_INTERVALS if KLINE_INTERVALS[iv] >= 60],
                    help="the interval of liquidation bars to score against (liquidationBars/BTCUSDT/<interval>/)")
    a = ap.parse_args(argv)
    run(realdata.load(Path(a.real)), a.start, a.end, a.folds, a.fold_days, a.bars)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
