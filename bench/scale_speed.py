"""Throughput of `liq run` on this machine by executor, and on object storage against local disk: wall time of the
whole command and (date, symbol) partitions per minute, each mode from a fresh Dagster instance and data root.

    python bench/scale_speed.py                                  # 3 symbols × 30 simulated days, every mode
    python bench/scale_speed.py --days 5 --modes in_process,s3   # a quick look

Modes: in_process, multiprocess (Dagster's executors inside each symbol's run; symbols run in parallel either
way), celery (Redis started here on 127.0.0.1, one `liq worker` with a process per core), s3 (in-process, data
root on moto's S3 server started here on 127.0.0.1: every Parquet file, manifest and state over HTTP).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what: str, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not come up")
        time.sleep(0.2)


def liq(args: list[str], env: dict) -> float:
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "liq_pipeline.cli", *args], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"liq {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.monotonic() - t


def run_mode(mode: str, symbols: str, start: dt.date, end: dt.date, tmp: Path) -> float:
    env = {**os.environ, "DAGSTER_HOME": str(tmp / "home"), "LIQ_DATA_DIR": str(tmp / "data"),
           "LIQ_CACHE_DIR": str(tmp / "cache")}
    args = ["run", "--source", "simulated", "--symbols", symbols, "--start", start.isoformat(), "--end", end.isoformat()]
    if mode in ("in_process", "multiprocess"):
        return liq(args + ["--executor", mode], env)
    if mode == "s3":
        import logging

        import boto3
        from moto.server import ThreadedMotoServer
        logging.getLogger("werkzeug").setLevel(logging.ERROR)      # one log line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        env.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_DEFAULT_REGION="us-east-1")
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="bench", aws_secret_access_key="bench",
                     region_name="us-east-1").create_bucket(Bucket="bench")
        try:
            return liq(args + ["--data-dir", "s3://bench/liq"], env)
        finally:
            server.stop()
    # celery: a Redis broker and one worker (a process per core) on this machine
    port = free_port()
    redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    broker = f"redis://127.0.0.1:{port}/0"
    log = tmp / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "liq_pipeline.cli", "worker", "--broker", broker], env=env,
                              stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: log.exists() and " ready." in log.read_text(), "liq worker")
        return liq(args + ["--executor", "celery", "--broker", broker], env)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        redis.terminate()
        redis.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--start", default="2026-04-05")
    ap.add_argument("--modes", default="in_process,multiprocess,celery,s3")
    args = ap.parse_args()
    start = dt.date.fromisoformat(args.start)
    end = start + dt.timedelta(days=args.days - 1)
    n = len(args.symbols.split(",")) * args.days
    print(f"{args.symbols} × {args.days} days ({start}..{end}): {n} partitions, {os.cpu_count()} cores")
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix=f"liq-scale-{mode}-") as tmp:
            wall = run_mode(mode, args.symbols, start, end, Path(tmp))
        print(f"  {mode:13s} {wall:7.1f} s   {n / wall * 60:6.1f} partitions/min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
