"""Per-bar skill of both models on real BTCUSDT (../shared/data/real, 2026-04-05..2026-06-08).

The estimator runs day by day on the 1h klines, 5-minute OI and funding exactly as the pipeline does;
realised liquidations are the vendor's 30-minute bars (Binance+Bybit+OKX) summed to the hour (the real
klines are hourly). Printed per model and side: Spearman of predicted vs realised USD per bar, the naive
baseline (the bar's move toward the side), and the partial correlation beyond the move with the flexible
control (and the linear one, for comparison), with n.

    python bench/real_skill.py [--real ../shared/data/real]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import realdata
import walk_forward as wf
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.validation.skill import bar_skill, side_moves

START, END = dt.date(2026, 4, 5), dt.date(2026, 6, 8)


def run(root: Path, cfg: ModelConfig):
    data = realdata.load(root)
    # the validation suite's hourly frame (klines with the 30m bars summed per hour), as walk_forward scores it
    frame = wf.hourly_frame(data, START, END).dropna(subset=["real_long", "real_short"])
    moves = side_moves(frame)
    out = {}
    for model, pred in wf.predictions(data, cfg, START, END).items():
        f = frame.join(pred)
        for side in ("long", "short"):
            out[(model, side)] = bar_skill(f[f"pred_{side}"].fillna(0.0).to_numpy(), f[f"real_{side}"].to_numpy(),
                                           moves[side])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT))
    a = ap.parse_args(argv)
    out = run(Path(a.real), ModelConfig())     # what the pipeline runs on real data
    print(f"real BTCUSDT {START}..{END}, 1h bars, realised = 30m vendor bars summed to 1h")
    print(f"{'model':7s} {'side':6s} {'n':>5s} {'Spearman':>9s} {'naive (move)':>13s} {'partial flexible':>17s} {'partial linear':>15s}")
    for (model, side), s in out.items():
        print(f"{model:7s} {side:6s} {s.n:5d} {s.spearman:9.3f} {s.naive_spearman:13.3f} {s.partial_flexible:17.3f} {s.partial_linear:15.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
