"""End-to-end speed of `liq run` through a fresh Dagster instance: wall time of the whole command and of each
step of its run (from the instance's event log), and the number of events Dagster stored.

    python bench/pipeline_speed.py                 # the 65 real days of ../shared/data/real (target ≤ 30 s)
    python bench/pipeline_speed.py --simulated 30  # `make run`'s 30 simulated days of 1m (target ≤ 60 s)
    python bench/pipeline_speed.py --simulated 365 --start 2025-11-01 --interval 5m   # a simulated year at 5m (≤ 3 min)
    python bench/pipeline_speed.py --simulated 365 --start 2025-11-01 --interval 5m --as-files
        # the same year as archive files made from the simulated market first (not timed), run with --source files
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--simulated", type=int, default=0, help="days of the simulated market instead of the real files")
    ap.add_argument("--start", default="2026-04-05", help="first simulated day")
    ap.add_argument("--interval", default="1m", help="the simulated market's bar: 1m or 5m")
    ap.add_argument("--as-files", action="store_true",
                    help="write the simulated market's files first (untimed), then run the files source over them")
    ap.add_argument("--real", default=os.environ.get("LIQ_REAL_DATA", str(HERE.parent / "shared/data/real")))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="liq-bench-") as tmp:      # ~300 MB a run: not left behind
        return measure(args, Path(tmp))


def measure(args, tmp: Path) -> int:
    env = {**os.environ, "DAGSTER_HOME": str(tmp / "home"), "LIQ_DATA_DIR": str(tmp / "data")}
    if args.simulated:
        import datetime as dt
        end = dt.date.fromisoformat(args.start) + dt.timedelta(days=args.simulated - 1)
        cmd = ["run", "--source", "simulated", "--start", args.start, "--end", end.isoformat(),
               "--intervals", args.interval]
        if args.as_files:
            files = tmp / "files"
            t = time.monotonic()
            make_files(args, files)
            print(f"made the simulated market's archive files in {time.monotonic() - t:.1f} s (not in the run's time)")
            cmd = ["run", "--source", "files", "--path", str(files), "--start", args.start, "--end", end.isoformat()]
    else:
        cmd = ["run", "--source", "files", "--path", args.real, "--start", "2026-04-05", "--end", "2026-06-08"]
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "liq_pipeline.cli", *cmd], env=env, capture_output=True, text=True)
    wall = time.monotonic() - t
    if proc.returncode:
        print(proc.stderr[-3000:])
        return 1
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    import dagster as dg
    with dg.DagsterInstance.get() as inst:
        # the range run, then (when the range completes months) the monthly roll-up and the warehouse again
        runs = sorted(inst.get_runs(), key=lambda r: inst.get_run_stats(r.run_id).start_time or 0)
        total = sum(len(inst.all_logs(r.run_id)) for r in runs)
        print(f"liq {' '.join(cmd)}: {wall:.1f} s wall, {len(runs)} run(s), {total} events stored")
        for run in runs:
            logs = inst.all_logs(run.run_id)
            starts, ends = {}, {}
            for r in logs:
                ev = r.dagster_event
                if ev is not None and ev.event_type_value == "STEP_START":
                    starts[ev.step_key] = r.timestamp
                elif ev is not None and ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                    ends[ev.step_key] = r.timestamp
            print(f"  run {run.run_id[:8]} ({run.job_name}, {len(logs)} events, {logs[-1].timestamp - logs[0].timestamp:.1f} s; "
                  f"{min(starts.values()) - logs[0].timestamp:.1f} s before its first step)")
            for k in sorted(starts, key=starts.get):
                print(f"    {k:28s} {ends[k] - starts[k]:6.2f} s")
    return 0


def make_files(args, root: Path) -> None:
    """The simulated market's files in the archive's layout (klines, metrics, funding, forceOrder tapes,
    liquidation bars; its truth is there too, which the files source does not read)."""
    from liq_pipeline.lib.params import KLINE_INTERVALS
    from liq_pipeline.lib.sim.emit import write_mirror
    from liq_pipeline.lib.sim.market import simulate
    from liq_pipeline.lib.sim.scenario import Scenario
    write_mirror(simulate(Scenario.default(start=args.start, days=args.simulated,
                                           interval_s=KLINE_INTERVALS[args.interval])), root)


if __name__ == "__main__":
    sys.exit(main())
