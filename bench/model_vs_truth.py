"""Both models against the simulated market's truth (which no public heatmap has ever been measured on).

Simulates the default scenario, runs the estimator day by day as the pipeline does, then prints per model
and side: the distance between estimated and true liquidation-price distributions (1-Wasserstein, % of
price, averaged over hourly snapshots), and the share of true liquidated notional that fell in the
estimated top-decile bins of the snapshot before it; plus per-bar skill (5-minute bars) against the truth.

    python bench/model_vs_truth.py [--days 30] [--seed 7] [--set turnover_decay=1.0 --set leverage_turnover_exponent=0]

--set runs the estimator with a field of ModelConfig other than its default (the value read as JSON).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys

import numpy as np
import pandas as pd

from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.market.liqprice import BracketArrays
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_days, sim_frames
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.scenario import Scenario
from liq_pipeline.lib.validation.metrics import true_book_levels
from liq_pipeline.lib.validation.skill import bar_skill, side_moves, top_decile_share, weighted_distance


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a ModelConfig field other than its default, e.g. turnover_decay=1.0")
    a = ap.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    over = {}
    for item in a.set:
        name, _, value = item.partition("=")
        if name not in fields or not value:
            ap.error(f"--set {item}: expected FIELD=VALUE with FIELD one of ModelConfig's ({', '.join(sorted(fields))})")
        over[name] = json.loads(value)
    cfg = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in over.items()})
    sc = Scenario.default(seed=a.seed, days=a.days)
    res = simulate(sc)
    ms = lambda s: pd.to_datetime(s, unit="ms", utc=True).astype("datetime64[ms, UTC]")
    kl, oi, fu = sim_frames(res)
    br = BracketArrays.of(brackets.load(sc.symbol))
    days = [sc.start_date + dt.timedelta(days=d) for d in range(sc.days)]
    heat, pred = [], []
    for _, est in estimate_days(kl, oi, fu, days, cfg, br):
        heat.append(est.heatmap)
        pred.append(est.predicted)
    heat, pred = pd.concat(heat), pd.concat(pred)
    truth_pos = res.positions.assign(ts=ms(res.positions.ts))
    truth_liq = res.liquidations.assign(ts=ms(res.liquidations.ts))
    print(f"simulated market: seed {a.seed}, {a.days} days of 1m bars, {len(truth_liq)} true liquidations "
          f"(${truth_liq.notional_usd.sum() / 1e6:,.0f}M), leverage mix drawn: "
          + ", ".join(f"{l}x {w:.0%}" for l, w in zip(sc.leverages, res.leverage_mix)))
    print("estimator: the defaults" + "".join(f", {k} {v}" for k, v in over.items()))
    print(f"{'model':7s} {'side':6s} {'distance (% of price)':>22s} {'top-decile share':>17s} "
          f"{'bar Spearman':>13s} {'naive':>7s} {'partial':>8s}")
    # 5-minute bars for per-bar skill
    k5 = kl.set_index("open_time").resample("5min").agg({"open": "first", "high": "max", "low": "min"})
    real5 = truth_liq.pivot_table(index=truth_liq.ts.dt.floor("5min"), columns="side", values="notional_usd",
                                  aggfunc="sum").reindex(k5.index).fillna(0.0)
    moves = side_moves(k5)
    truth_at = {key: g for key, g in truth_pos.groupby(["ts", "side"])}
    empty = truth_pos.head(0)
    for model in ("flow", "static"):
        h = heat[heat.model == model]
        for side in ("long", "short"):
            dists = []
            for ts, g in h[h.side == side].groupby("ts"):
                tp = truth_at.get((ts, side), empty)
                price = float(g.price.iloc[0])
                tp = tp[(tp.liq_price / price - 1).abs() <= cfg.heatmap_range]
                dists.append(weighted_distance((g.price_low + g.price_high) / 2, g.notional_usd,
                                               tp.liq_price, tp.qty * tp.liq_price, price))
            share = top_decile_share(h[h.side == side], truth_liq[truth_liq.side == side])
            p = pred[(pred.model == model) & (pred.side == side)].set_index("ts").notional_usd
            p5 = p.groupby(p.index.floor("5min")).sum().reindex(k5.index).fillna(0.0)
            sk = bar_skill(p5.to_numpy(), real5.get(side, pd.Series(0.0, index=k5.index)).to_numpy(), moves[side])
            print(f"{model:7s} {side:6s} {np.nanmean(dists):22.3f} {share:17.3f} {sk.spearman:13.3f} "
                  f"{sk.naive_spearman:7.3f} {sk.partial_flexible:8.3f}")
    truth = true_book_levels(truth_pos, kl)
    for side in ("long", "short"):
        share = top_decile_share(truth[truth.side == side], truth_liq[truth_liq.side == side])
        print(f"{'truth':7s} {side:6s} {0.0:22.3f} {share:17.3f}   (the true positions as a map: their own top decile)")
    print("distance: lower is better; top-decile share: higher is better (a uniform guess gives ~0.10 of bins' "
          "notional), but read it against the truth's own: the true book's heaviest bins lie far from the price")
    return 0


if __name__ == "__main__":
    sys.exit(main())
