"""Does rescaling the flow model's predictions by how much was really liquidated add skill? (issue 8, item 3)

Observed liquidations as feedback, in its simplest causal form: each side's prediction for a 1h bar is multiplied
by realised / predicted liquidated USD over the W hours before the bar (strictly before: the bar's own
liquidations never enter), shrunk toward the same ratio over everything before the bar. If the book's scale
drifts against the market's (more or less leverage than the fixed mix assumes), this corrects it bar by bar.

Same data and scoring as bench/walk_forward.py (the default flow configuration; 24 h bootstrap blocks): W is to
be chosen on the fit window 2026-04-12..05-09 and only then read on the test window 2026-05-10..06-08. A W that
does not beat the uncalibrated model on the fit window is not adopted, whatever the test window says.

    python bench/feedback_calibration.py [--real ../shared/data/real]
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pandas as pd

import realdata
import walk_forward as wf
from liq_pipeline.lib.model.config import ModelConfig

FIT = (dt.date(2026, 4, 12), dt.date(2026, 5, 9))
TEST = (dt.date(2026, 5, 10), dt.date(2026, 6, 8))
WINDOWS_HOURS = (24, 72, 168)
PRIOR_HOURS = 24.0          # weight of the long-run ratio, in hours of the window


def calibrated(frame: pd.DataFrame, hours: int) -> pd.DataFrame:
    """pred_* rescaled by the past-only realised/predicted ratio (rolling W hours, shrunk to the expanding one)."""
    out = frame.copy()
    for side in ("long", "short"):
        real, pred = frame[f"real_{side}"].fillna(0.0), frame[f"pred_{side}"].fillna(0.0)
        r_w = real.rolling(hours, min_periods=1).sum().shift(1)        # bars before this one only
        p_w = pred.rolling(hours, min_periods=1).sum().shift(1)
        long_run = real.cumsum().shift(1) / pred.cumsum().shift(1)
        prior = PRIOR_HOURS / hours * p_w
        ratio = (r_w + prior * long_run) / (p_w + prior)
        out[f"pred_{side}"] = pred * ratio.fillna(1.0)
    return out


def line(frame: pd.DataFrame, first: dt.date, last: dt.date) -> str:
    part = wf.in_days(frame, first, last)
    cells = []
    for hours in (1, 4):
        for side in ("long", "short"):
            s = wf.scores(part, hours, side, f"pred_{side}", wf.BLOCK_HOURS)
            cells.append(f"{hours}h {side:5s} ρ {s['spearman']:.3f} (naive {s['naive']:.3f}) partial {s['partial']:.3f} "
                         f"[{s['ci'][0]:.2f}, {s['ci'][1]:.2f}]")
    return " | ".join(cells)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT))
    a = ap.parse_args(argv)
    data = realdata.load(Path(a.real))
    frame = wf.hourly_frame(data).join(wf.predictions(data, ModelConfig())["flow"])
    print_windows({"uncalibrated": frame, **{f"calibrated, W = {w} h": calibrated(frame, w) for w in WINDOWS_HOURS}})
    return 0


def print_windows(variants: dict[str, pd.DataFrame]) -> None:
    """Each variant's scores on the fit window, then on the test window."""
    width = max(map(len, variants))
    for name, (first, last) in (("fit", FIT), ("test", TEST)):
        print(f"\n{name} window {first}..{last}:")
        for label, f in variants.items():
            print(f"  {label:{width}s} {line(f, first, last)}")


if __name__ == "__main__":
    raise SystemExit(main())
