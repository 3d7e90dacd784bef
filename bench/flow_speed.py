"""The flow model over 90 days of 5-minute bars (target: under 2 s).

Bars, OI and funding come from the simulated market at a 5-minute interval; the timer covers the flow
model alone (run_flow over all bars in one pass), then the whole per-day estimate (both models, snapshots,
heatmap rows) as the pipeline runs it.

    python bench/flow_speed.py [--days 90] [--repeat 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time


from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.market.liqprice import BracketArrays
from liq_pipeline.lib.model.book import run_flow
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_days, sim_frames
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.scenario import Scenario


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    sc = Scenario.default(days=a.days, interval_s=300)
    res = simulate(sc)
    bars = res.klines
    oi = res.open_interest[["ts", "oi_contracts"]]
    fu = res.funding.rename(columns={"calc_time": "ts"})[["ts", "funding_rate"]]
    br, cfg = BracketArrays.of(brackets.load("BTCUSDT")), ModelConfig()
    # the defaults (one configuration for every market), and without the turnover decay (it reads each bar's OI)
    for name, variant in (("defaults", cfg), ("no turnover decay", ModelConfig(turnover_decay=None))):
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            run = run_flow(bars, oi, fu, variant, br, None, 300_000)
            times.append(time.perf_counter() - t)
        print(f"flow model ({name}), {a.days} days × 5m = {len(bars)} bars: median "
              f"{statistics.median(times):.2f} s (min {min(times):.2f}, n={a.repeat})   target < 2 s   "
              f"[book total {run.state.total():,.0f} = OI {oi.oi_contracts.iloc[-1]:,.0f}]")
    kl, oi_t, fu_t = sim_frames(res)
    t = time.perf_counter()
    for _ in estimate_days(kl, oi_t, fu_t, [sc.start_date + dt.timedelta(days=d) for d in range(a.days)], cfg, br):
        pass
    print(f"whole estimate (flow + static + volume profiles + hourly heatmap rows), day by day: {time.perf_counter() - t:.2f} s for {a.days} days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
