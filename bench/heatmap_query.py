"""`liq heatmap` latency on one year of data: its query per timeframe (target p50 < 10 ms) and the whole command
(target < 300 ms).

Builds a year of heatmap_levels partitions (the simulated market at 1h bars, the estimator day by day,
hourly snapshots, both models) in a temporary data root and the warehouse over them (as the pipeline's warehouse
step makes it: heatmap_levels a sorted table, the coarse timeframes pre-grouped beside it), then times the query
`liq heatmap` runs with a warm read-only connection, and the whole command once.

    python bench/heatmap_query.py [--days 365] [--repeat 25] [--keep DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.io import schemas, storage, warehouse
from liq_pipeline.lib.market.liqprice import BracketArrays
from liq_pipeline.lib.model import levels as lv, levels_query
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_days, sim_frames
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.scenario import Scenario


def build(root: Path, days: int) -> int:
    sc = Scenario.default(days=days, interval_s=3600, snapshot_minutes=24 * 60)
    res = simulate(sc)
    kl, oi, fu = sim_frames(res)
    br, cfg, rows = BracketArrays.of(brackets.load("BTCUSDT")), ModelConfig(), 0
    days = [sc.start_date + dt.timedelta(days=d) for d in range(days)]
    for day, est in estimate_days(kl, oi, fu, days, cfg, br):
        levels = schemas.conform(lv.rollup(est.heatmap).assign(symbol="BTCUSDT", config_key=cfg.key()), "heatmap_levels")
        storage.write_partition(levels, root, "model", "heatmap_levels", "BTCUSDT", day)
        rows += len(levels)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=25)
    ap.add_argument("--keep", default=None, help="build into (or reuse) this data root")
    a = ap.parse_args(argv)
    root = Path(a.keep or tempfile.mkdtemp(prefix="liq-heatmap-bench-"))
    if not (root / "model" / "heatmap_levels").exists():
        t = time.perf_counter()
        rows = build(root, a.days)
        print(f"built {a.days} days of heatmap_levels ({rows:,} rows) in {time.perf_counter() - t:.1f} s at {root}")
    t = time.perf_counter()
    counts = warehouse.build(root, {"heatmap_levels": "model"}, derived=levels_query.coarse_tables())
    print(f"warehouse build (heatmap_levels materialised, {counts['heatmap_levels']:,} rows): {time.perf_counter() - t:.1f} s")
    con = warehouse.connect_read_only(root)
    print(f"{'timeframe':>9s} {'snapshots':>10s} {'rows out':>9s} {'p50 ms':>8s} {'p90 ms':>8s}   target p50 < 10 ms")
    for tf in levels_query.TIMEFRAMES:
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            view = levels_query.query(con, "BTCUSDT", "flow", None, tf)        # what the text formats run
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        shown = levels_query.query(con, "BTCUSDT", "flow", None, tf, window=True).window     # a picture's rows
        print(f"{tf:>9s} {len({r[0] for r in shown}):10d} {len(view.levels):9d} {statistics.median(times):8.1f} "
              f"{times[int(0.9 * len(times)) - 1]:8.1f}")
    env = {**os.environ, "LIQ_DATA_DIR": str(root)}
    print(f"{'whole command (process start, imports, query, output)':>56s} {'p50 ms':>8s} {'max ms':>8s}   target < 300 ms")
    for tf in ("1d", "90d"):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "liq_pipeline.cli", "heatmap", "--timeframe", tf], env=env, check=True,
                           capture_output=True)
            times.append((time.perf_counter() - t) * 1000)
        print(f"{'liq heatmap --timeframe ' + tf:>56s} {statistics.median(times):8.0f} {max(times):8.0f}")
    con.close()
    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
