"""Wall time and peak memory to simulate the default scenario (30 days of 1-minute bars).

Each repeat runs in a fresh process so peak RSS is that of one simulation.

    python bench/sim_speed.py [--days 30] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, time
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.scenario import Scenario
import liq_pipeline.lib.market.brackets, numpy, pandas  # imports are not the simulation's time
t = time.perf_counter()
res = simulate(Scenario.default(days={days}))
wall = time.perf_counter() - t
print(json.dumps({{"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bars": len(res.klines), "positions_opened": int(res.positions.position_id.max()) + 1,
                  "liquidations": len(res.liquidations), "snapshot_rows": len(res.positions)}}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    runs = []
    for _ in range(a.repeat):
        out = subprocess.run([sys.executable, "-c", CHILD.format(days=a.days)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    walls = sorted(r["wall_s"] for r in runs)
    r = runs[0]
    print(f"simulate default scenario, {a.days} days × 1m = {r['bars']} bars "
          f"({r['positions_opened']} positions, {r['liquidations']} liquidations, {r['snapshot_rows']} snapshot rows)")
    print(f"wall: median {walls[len(walls) // 2]:.2f} s  (min {walls[0]:.2f}, max {walls[-1]:.2f}, n={len(walls)})"
          f"   target < 10 s")
    print(f"peak RSS: {max(r['peak_rss_mb'] for r in runs):.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
