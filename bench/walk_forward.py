"""Walk-forward skill of the estimator's map on real BTCUSDT: whatever is chosen is chosen on earlier data and
scored on later data it never saw.

Data: ../shared/data/real, 2026-04-05..2026-06-08 (1h klines, 5-minute OI, funding); realised liquidations are
the vendor's 30-minute bars (Binance+Bybit+OKX) summed to 1h and 4h bars. The estimator runs day by day from the
window's first day exactly as the pipeline does (causal: every snapshot and prediction uses only data before it).
Any other root in the same layout and any window of it can be scored the same way (--real, --start, --end, --folds,
--fold-days), against any interval of liquidation bars it has (--bars: liquidationBars/BTCUSDT/<interval>/*.csv,
e.g. a vendor's Binance-only 4h series); bars are scored only at whole multiples of that interval (4h bars: 4h only).

Protocol: consecutive test folds at the window's end (three of 10 days unless told). For each fold, a flow-model
configuration is chosen among the candidates (decay half-life × turnover decay × flow weight × the leverage rows'
turnover exponent: 72, ~8 min) by the map-ahead protocol (lib/validation/outcome: the snapshot standing at a bar's
start read as that bar's forecast):
the mean flexible partial beyond the move, at 1h and 4h, long and short, on the fit window: every day from the
warm-up's end up to the fold, never the fold itself. On the folds, pooled, by bar size and side:
  - the baselines: the naive rule (the bar's move toward the side) and the path (the hourly moves toward the side,
    summed): their Spearman;
  - the map-ahead forecast of the configuration chosen for each fold, of the default configuration (ModelConfig():
    what the pipeline runs on every market) and of the static (seed) model: Spearman, the flexible partial beyond
    the move [95% moving-block CI] and beyond the path (the move, the hourly moves and the hourly ranges) [CI];
  - the per-bar predictions (the book's liquidations bar by bar, summed) of the same three, scored the same way,
    with a placebo (a pure function of each bar's move, which must score near zero beyond it) and a path placebo
    (each hour's move over 1 %, summed: a function of the path, near zero beyond the path).

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
from liq_pipeline.lib.model.levels import rollup
from liq_pipeline.lib.params import KLINE_INTERVALS
from liq_pipeline.lib.validation import outcome, skill
from liq_pipeline.lib.validation.skill import side_moves, side_scores
from liq_pipeline.lib.validation.suite import scorable

START, END = dt.date(2026, 4, 5), dt.date(2026, 6, 8)
WARM_UP_DAYS = 7                     # the book's first week is not scored anywhere
N_FOLDS, FOLD_DAYS = 3, 10           # the test folds: 2026-05-10..19, 05-20..29, 05-30..06-08 of the default window
CANDIDATES = {"decay_half_life_hours": [24.0, 72.0, None], "turnover_decay": [None, 0.5, 1.0, 2.0],
              "flow_weight": [0.5, 1.0], "leverage_turnover_exponent": [0.0, 0.6, 1.2]}
BLOCK_HOURS = 24                     # bootstrap blocks of one day
MAP_HOURS = (1, 4)                   # the map-ahead bars a configuration is chosen on
# Map-ahead fits this close to the best are a tie (the configurations with any decay span ~0.02 on every fit window,
# where a fold's bootstrap interval is ~0.15 wide): the per-bar fit decides among them.
PLATEAU = 0.01


def folds(start: dt.date, end: dt.date, n: int = N_FOLDS, days: int = FOLD_DAYS) -> list[tuple[dt.date, dt.date]]:
    """The test folds: n consecutive runs of `days` days that end the window; the days before them, after the
    warm-up, are the first fold's fit window (at least a week of it)."""
    first = end - dt.timedelta(days=n * days - 1)
    if n < 1 or days < 1 or (first - start).days < WARM_UP_DAYS + 7:
        raise SystemExit(f"--folds {n} --fold-days {days} leave {(first - start).days - WARM_UP_DAYS} fit day(s) in "
                         f"{start}..{end} after the {WARM_UP_DAYS}-day warm-up: at least 7 are needed")
    return [(first + dt.timedelta(days=i * days), first + dt.timedelta(days=(i + 1) * days - 1)) for i in range(n)]


@dataclasses.dataclass
class Estimate:
    """One run of the estimator over the window: each model's per-bar predictions (hourly, pred_long / pred_short,
    indexed by bar start) and its map (heatmap_levels rows, as the pipeline writes them)."""
    predicted: dict[str, pd.DataFrame]
    snapshots: dict[str, outcome.Snapshots]


def estimate(data: dict, cfg: ModelConfig, start: dt.date = START, end: dt.date = END) -> Estimate:
    br = BracketArrays.of(brackets.load("BTCUSDT"))
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    preds, levels = [], []
    for _, est in estimate_days(data["klines"], data["oi"], data["funding"], days, cfg, br):
        preds.append(est.predicted)
        levels.append(rollup(est.heatmap))
    pred, lv = pd.concat(preds), pd.concat(levels)
    return Estimate({model: pred[pred.model == model].pivot_table(index="ts", columns="side", values="notional_usd",
                                                                  aggfunc="sum").rename(columns=lambda s: f"pred_{s}")
                     for model in MODELS},
                    {model: outcome.Snapshots(lv[lv.model == model]) for model in MODELS})


def predictions(data: dict, cfg: ModelConfig, start: dt.date = START, end: dt.date = END) -> dict[str, pd.DataFrame]:
    """Each model's predicted liquidated USD per 1h bar ({model: frame}, MODELS), long and short columns, indexed by
    bar start: one run of the estimator makes both models."""
    return estimate(data, cfg, start, end).predicted


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


def map_bars(hourly: pd.DataFrame, snaps: outcome.Snapshots, hours: int) -> pd.DataFrame:
    """`hours`-hour bars of an hourly frame with the map's forecast of each (map_long, map_short: the snapshot
    standing at the bar's start, read between the open and the bar's extreme)."""
    bars = skill.bars_of(hourly, hours)
    return bars.join(outcome.map_forecasts(snaps, bars))


def map_scores(bars: pd.DataFrame, hours: int, side: str, reps: int = 400) -> dict:
    """The map-ahead cell of lib/validation/outcome (the validation suite's own) of one side's forecasts, in the
    keys of scores()."""
    ok = bars[f"real_{side}"].notna() & bars[f"map_{side}"].notna()
    b = bars[ok]
    c = outcome._skill_cell(b[f"map_{side}"].to_numpy(float), b[f"real_{side}"].to_numpy(float), b, side, hours, reps)
    return {"n": c["n"], "spearman": c["value"], "naive": c["naive"], "partial": c["partial"], "ci": c["partial_ci95"],
            "beyond_path": c.get("partial_beyond_path"), "beyond_path_ci": c.get("partial_beyond_path_ci95")}


def map_partial(bars: pd.DataFrame, side: str) -> float:
    """The flexible partial beyond the move of the map's forecasts (no interval: what a choice is made by)."""
    ok = (bars[f"real_{side}"].notna() & bars[f"map_{side}"].notna()).to_numpy()
    b = bars[ok]
    return float(skill.partial_beyond_rows(b[f"map_{side}"].to_numpy(float), b[f"real_{side}"].to_numpy(float),
                                           side_moves(b)[side]))


def move_placebo(hourly: pd.DataFrame, hours: int, threshold: float = 0.01) -> pd.DataFrame:
    """An hourly frame whose predictions, summed into `hours`-hour bars, are a pure function of each bar's own move
    (the move if over `threshold`, else 0): placed on the bar's first hour, 0 on the others. A placebo made hour by
    hour and summed would be a function of the path, which a 4h bar's move does not control for."""
    bars = skill.bars_of(hourly, hours)
    out = hourly.assign(pred_long=0.0, pred_short=0.0)
    for side, move in side_moves(bars).items():
        out.loc[bars.index, f"pred_{side}"] = np.where(move > threshold, move, 0.0)
    return out


def candidate_configs(candidates: dict = CANDIDATES) -> list[ModelConfig]:
    """Every combination of the candidates' values, over the field defaults."""
    return [dataclasses.replace(ModelConfig(), **dict(zip(candidates, values)))
            for values in itertools.product(*candidates.values())]


def label(cfg: ModelConfig) -> str:
    return (f"decay {cfg.decay_half_life_hours} h, turnover {cfg.turnover_decay}, flow weight {cfg.flow_weight}, "
            f"leverage exponent {cfg.leverage_turnover_exponent}")


def fit_score(frame: pd.DataFrame, first: dt.date, last: dt.date) -> float:
    """The per-bar choice of earlier sessions (kept for bench/choice_stability.py): the mean flexible partial, long
    and short, of 4h bars in first..last."""
    f = in_days(frame, first, last)
    return float(np.mean([scores(f, 4, side, f"pred_{side}", BLOCK_HOURS)["partial"] for side in ("long", "short")]))


def bar_fit_score(frame: pd.DataFrame, first: dt.date, last: dt.date, hours: int = 4) -> float:
    """The per-bar flexible partial beyond the move, mean of long and short, of `hours`-hour bars in first..last (no
    interval: a tie-break)."""
    bars = skill.bars_of(in_days(frame, first, last), hours)
    parts = []
    for side in ("long", "short"):
        b = bars.dropna(subset=[f"real_{side}"])
        parts.append(skill.partial_spearman(b[f"pred_{side}"].fillna(0.0).to_numpy(float),
                                            b[f"real_{side}"].to_numpy(float), side_moves(b)[side]))
    return float(np.mean(parts))


def choose(map_fits: dict, bar_fits: dict, plateau: float = PLATEAU) -> ModelConfig:
    """The map first: the configurations whose map-ahead fit is within `plateau` of the best; among them, the best
    per-bar fit."""
    best = max(map_fits.values())
    return max((cfg for cfg, v in map_fits.items() if v >= best - plateau), key=bar_fits.get)


def map_fit_score(hourly: pd.DataFrame, snaps: outcome.Snapshots, first: dt.date, last: dt.date,
                  hours: tuple[int, ...] = MAP_HOURS) -> float:
    """What a configuration is chosen by: the map-ahead flexible partial, mean over `hours` and both sides, of the
    bars in first..last."""
    f = in_days(hourly, first, last)
    return float(np.mean([map_partial(map_bars(f, snaps, h), side) for h in hours for side in ("long", "short")]))


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
    default_cfg = ModelConfig()                        # what the pipeline runs on every market
    made = {cfg: estimate(data, cfg, start, end) for cfg in {*configs, default_cfg}}
    out(f"{len(configs)} flow configurations and the static model over {start}..{end}: {time.monotonic() - t0:.1f} s")
    out(f"realised: liquidation bars of {bars} ({', '.join(sorted(set(data[f'bars_{bars}'].venue)))}), scored at "
        f"{' and '.join(f'{h}h' for h in hours_scored)}")

    fit_start = start + dt.timedelta(days=WARM_UP_DAYS)
    fit_hours = tuple(h for h in MAP_HOURS if h in hours_scored)
    chosen = []
    out(f"\nfolds (fit from {fit_start}; chosen by the map-ahead flexible partial, mean of "
        f"{' and '.join(f'{h}h' for h in fit_hours)}, long and short, on the fit window; within {PLATEAU} of the "
        f"best, by the per-bar 4h partial):")
    for first, last in test_folds:
        fit_end = first - dt.timedelta(days=1)
        fits = {cfg: map_fit_score(hourly, made[cfg].snapshots["flow"], fit_start, fit_end, fit_hours)
                for cfg in configs}
        bar_fits = {cfg: bar_fit_score(hourly.join(made[cfg].predicted["flow"]), fit_start, fit_end) for cfg in configs}
        best = choose(fits, bar_fits)
        default_fit = (f"{fits[default_cfg]:.3f} / {bar_fits[default_cfg]:.3f}" if default_cfg in fits
                       else "not a candidate")
        out(f"  fit {fit_start}..{fit_end}  test {first}..{last}: {label(best)} (fit map-ahead / per-bar "
            f"{fits[best]:.3f} / {bar_fits[best]:.3f}; best map-ahead {max(fits.values()):.3f}; default's "
            f"{default_fit})")
        chosen.append((first, last, best))
    test_days = (test_folds[0][0], test_folds[-1][1])
    test = in_days(hourly, *test_days)

    def fold_maps(pick, hours: int) -> pd.DataFrame:
        """The test folds' bars with the map of the configuration `pick(fold's choice)` standing at each."""
        return pd.concat([map_bars(in_days(hourly, first, last), pick(best), hours) for first, last, best in chosen])

    def fold_preds(pick) -> pd.DataFrame:
        return pd.concat([in_days(hourly.join(pick(best)), first, last) for first, last, best in chosen])

    per_bar = {"flow, chosen walk-forward": fold_preds(lambda cfg: made[cfg].predicted["flow"]),
               "flow, default": test.join(made[default_cfg].predicted["flow"]),
               "static (seed)": test.join(made[default_cfg].predicted["static"])}
    # a function of the path (each hour's move over 1 %, summed: the hourly bars' move placebo): nothing beyond the
    # path, and what the path knows beyond the bar's move; the bar's own is made per bar size below
    per_bar["path placebo: hours > 1%"] = move_placebo(per_bar["flow, default"], 1)
    maps = {"flow, chosen walk-forward": lambda cfg: made[cfg].snapshots["flow"],
            "flow, default": lambda cfg: made[default_cfg].snapshots["flow"],
            "static (seed)": lambda cfg: made[default_cfg].snapshots["static"]}

    out(f"\ntest bars {test_days[0]}..{test_days[1]} (never used for a choice), 95% moving-block bootstrap "
        f"({BLOCK_HOURS} h blocks):")
    out(f"{'bars':5s} {'side':6s} {'forecast':38s} {'n':>4s} {'Spearman':>9s} {'flexible partial [95% CI]':>26s}"
        f" {'beyond path [95% CI]':>24s}")
    results = {}

    def line(hours, side, name, s, with_partial=True):
        partial = f"{s['partial']:6.3f} [{s['ci'][0]:6.3f}, {s['ci'][1]:6.3f}]" if with_partial else ""
        path = (f" {s['beyond_path']:6.3f} [{s['beyond_path_ci'][0]:6.3f}, {s['beyond_path_ci'][1]:6.3f}]"
                if with_partial and s.get("beyond_path") is not None else "")
        out(f"{hours:>3d}h  {side:6s} {name:38s} {s['n']:4d} {s['spearman']:9.3f} {partial:>26s}{path}")

    for hours in hours_scored:
        frames = {**per_bar, "placebo: bar's move > 1%": move_placebo(per_bar["flow, default"], hours)}
        for side in ("long", "short"):
            bar_rows = {name: scores(frame, hours, side, f"pred_{side}", BLOCK_HOURS) for name, frame in frames.items()}
            base = results[(hours, side, "naive: move size")] = scores(per_bar["flow, default"], hours, side, None,
                                                                        BLOCK_HOURS)
            line(hours, side, "naive: move size", base, False)
            # the path baseline's ρ: skill.path_scores made it beside every per-bar row, on the same bars
            path = results[(hours, side, "path: hourly moves summed")] = dict(
                base, spearman=bar_rows["flow, default"]["path_naive"])
            line(hours, side, "path: hourly moves summed", path, False)
            for name, pick in maps.items():
                s = results[(hours, side, f"map-ahead, {name}")] = map_scores(fold_maps(pick, hours), hours, side)
                line(hours, side, f"map-ahead, {name}", s)
            for name, s in bar_rows.items():
                results[(hours, side, f"per-bar, {name}")] = s
                line(hours, side, f"per-bar, {name}", s)
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
