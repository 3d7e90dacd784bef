"""How soon a newly closed bar reaches the served map: `liq serve --source binance` over the test suite's fake REST
server (tests/fake_binance.py, 127.0.0.1), on a replayed clock, while a client polls /api/heatmap. For each bar
close on the clock, the time from that close (in wall-clock seconds) until the map's `asof` is that close.

    python bench/nowcast_latency.py [--bars 10] [--speed 10] [--interval 1m]

Target (issue 33): < 1 s. The server pulls the day so far over REST (klines, 5-minute OI, funding), runs the
day's estimator from the day's start and rolls the levels up at every close: the figure holds all of it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.serve_load import free_port  # noqa: E402
from tests.fake_binance import FakeBinance  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=10)
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--interval", default="1m", choices=["1m", "5m"])
    ap.add_argument("--start", default="10:04:30", help="The replay's start on today's date (UTC), HH:MM:SS")
    args = ap.parse_args()
    step = {"1m": 60, "5m": 300}[args.interval]
    today = dt.datetime.now(dt.UTC).date()
    t0 = dt.datetime.combine(today, dt.time.fromisoformat(args.start), dt.UTC)
    with tempfile.TemporaryDirectory() as tmp, FakeBinance(page_cap=1500) as fake:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "liq_pipeline.cli", "serve", "--port", str(port),
                                 "--data-dir", str(Path(tmp) / "data"), "--source", "binance", "--url", fake.url,
                                 "--intervals", args.interval, "--replay", t0.isoformat(), "--speed", str(args.speed)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "DAGSTER_HOME": str(Path(tmp) / "home")})
        url = f"http://127.0.0.1:{port}"
        session = requests.Session()
        try:
            while True:
                try:
                    sent = time.monotonic()
                    health = session.get(f"{url}/api/health", timeout=5).json()
                    back = time.monotonic()
                    break
                except requests.ConnectionError:
                    if proc.poll() is not None:
                        raise SystemExit(proc.stderr.read())
                    time.sleep(0.05)
            # where the replayed clock stands on this process's monotonic clock: clock(t) = t0 + (t - r0) * speed
            clock_then = dt.datetime.fromisoformat(health["now"])
            r0 = (sent + back) / 2 - (clock_then - t0).total_seconds() / args.speed
            real_at = lambda when: r0 + (when - t0).total_seconds() / args.speed  # noqa: E731
            clock_now = t0 + dt.timedelta(seconds=(time.monotonic() - r0) * args.speed)
            first = dt.datetime.fromtimestamp((clock_now.timestamp() // step + 1) * step, dt.UTC)
            closes = [first + dt.timedelta(seconds=step * i) for i in range(args.bars)]
            delays, computes = [], []
            for close in closes:
                target = close.isoformat().replace("+00:00", "Z")
                while True:
                    m = session.get(f"{url}/api/heatmap", params={"timeframe": "1d"}, timeout=5)
                    if m.status_code == 200 and m.json()["asof"] >= target:
                        seen = time.monotonic()
                        break
                    if time.monotonic() > real_at(close) + 30:
                        raise SystemExit(f"the bar closing {target} never reached the map")
                    time.sleep(0.005)
                if m.json()["asof"] == target:
                    delays.append(seen - real_at(close))
                    nc = session.get(f"{url}/api/health").json()["symbols"]["BTCUSDT"]["nowcast"]
                    computes.append(nc["seconds"])
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"nowcast over REST (fake server), {args.interval} bars, replay at {args.speed:g}x, {len(delays)} closes")
    print(f"  close -> served map: p50 {statistics.median(delays) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms (target < 1000 ms)")
    print(f"  the nowcast itself (pull + estimate + roll-up): p50 {statistics.median(computes) * 1000:.0f} ms, "
          f"max {max(computes) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
