"""Is the walk-forward's choice a property of the market or of the window it was fit on? Every candidate of
bench/walk_forward.py scored on each half of the real samples' scored days apart, as a fold's fit is (the map-ahead
flexible partial, mean of 1h and 4h, long and short): the best few of each half, and where the defaults (one
configuration for every market), the defaults before the leverage exponent and the simulated market's former
defaults rank. A choice that holds would lead on both halves.

    python bench/choice_stability.py [--real ../shared/data/real]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import realdata
import walk_forward as wf
from liq_pipeline.lib.model.config import ModelConfig

HALVES = {"early 2026-04-12..05-09": (dt.date(2026, 4, 12), dt.date(2026, 5, 9)),
          "late 2026-05-10..06-08": (dt.date(2026, 5, 10), dt.date(2026, 6, 8))}
SHOWN = 6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT))
    a = ap.parse_args(argv)
    data = realdata.load(Path(a.real))
    hourly = wf.hourly_frame(data, wf.START, wf.END)
    configs = wf.candidate_configs()
    named = {"defaults": ModelConfig(),
             "defaults before the leverage exponent": ModelConfig(turnover_decay=1.0, leverage_turnover_exponent=0.0),
             "former simulated defaults": ModelConfig(turnover_decay=None, flow_weight=1.0,
                                                      leverage_turnover_exponent=0.0)}
    score = {}
    for cfg in {*configs, *named.values()}:
        snaps = wf.estimate(data, cfg).snapshots["flow"]
        score[cfg] = {half: wf.map_fit_score(hourly, snaps, *days) for half, days in HALVES.items()}   # a fold's fit
    for half in HALVES:
        other = next(h for h in HALVES if h != half)
        ranked = sorted(configs, key=lambda c: -score[c][half])
        print(f"fit on the {half} half: map-ahead flexible partial, mean of 1h and 4h (on the {other} half)")
        for cfg in ranked[:SHOWN]:
            print(f"  {wf.label(cfg):62s} {score[cfg][half]:.3f} ({score[cfg][other]:.3f})")
        for name, cfg in named.items():
            rank = f"rank {ranked.index(cfg) + 1} of {len(configs)}" if cfg in ranked else "not a candidate"
            print(f"  {name + ': ' + wf.label(cfg):62s} {score[cfg][half]:.3f} ({score[cfg][other]:.3f}), {rank}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
