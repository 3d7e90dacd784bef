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

import pandas as pd

import realdata
from liq_pipeline.lib import brackets
from liq_pipeline.lib.liqprice import BracketArrays
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_days
from liq_pipeline.lib.validation.skill import bar_skill, side_moves

START, END = dt.date(2026, 4, 5), dt.date(2026, 6, 8)


def run(root: Path, cfg: ModelConfig):
    data = realdata.load(root)
    kl, oi, fu, bars = data["klines"], data["oi"], data["funding"], data["bars_30m"]
    br = BracketArrays.of(brackets.load("BTCUSDT"))
    days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
    pred = pd.concat([est.predicted for _, est in estimate_days(kl, oi, fu, days, cfg, br)])
    window = kl[(kl.open_time >= pd.Timestamp(START, tz="UTC")) & (kl.open_time < pd.Timestamp(END + dt.timedelta(days=1), tz="UTC"))]
    real = bars.assign(hour=bars.ts.dt.floor("1h")).groupby("hour")[["long_usd", "short_usd"]].sum()
    k = window.set_index("open_time")
    real = real.reindex(k.index)
    keep = real.notna().all(axis=1).to_numpy()
    moves = side_moves(k)
    out = {}
    for model in ("flow", "static"):
        for side in ("long", "short"):
            p = pred[(pred.model == model) & (pred.side == side)].set_index("ts").notional_usd.reindex(k.index).fillna(0.0)
            out[(model, side)] = bar_skill(p.to_numpy()[keep], real[f"{side}_usd"].to_numpy()[keep], moves[side][keep])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT))
    a = ap.parse_args(argv)
    out = run(Path(a.real), ModelConfig())
    print(f"real BTCUSDT {START}..{END}, 1h bars, realised = 30m vendor bars summed to 1h")
    print(f"{'model':7s} {'side':6s} {'n':>5s} {'Spearman':>9s} {'naive (move)':>13s} {'partial flexible':>17s} {'partial linear':>15s}")
    for (model, side), s in out.items():
        print(f"{model:7s} {side:6s} {s.n:5d} {s.spearman:9.3f} {s.naive_spearman:13.3f} {s.partial_flexible:17.3f} {s.partial_linear:15.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
