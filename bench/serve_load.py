"""`liq serve` under load: N concurrent clients on loopback ask for the heatmap for S seconds while the warehouse is
rebuilt beside them every few seconds (what a `liq run` does once, at its end); prints p50/p99 latency, requests/s and errors
per timeframe, and the server's memory before and after.

    python bench/serve_load.py [--data-dir data] [--clients 50] [--seconds 30] [--timeframes 1d,90d] [--rebuild-every 5]
                               [--serve "--source simulated --replay 2026-05-04T08:00 --speed 60"]

`--serve` passes flags to `liq serve`: with a nowcast on a fast replayed clock, the map is remade every second or
so while the clients ask.

The data root must hold a warehouse (`make run` makes one). Targets (issue 33): 1d p50 < 5 ms and p99 < 50 ms with
50 clients, 90d p99 < 100 ms, zero errors.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liq_pipeline.lib.io import storage, tables, warehouse  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _client(host: str, port: int, target: str, deadline: float, latencies: list, errors: list,
                  pause: float) -> None:
    """One keep-alive HTTP/1.1 connection asking again and again: a raw asyncio client, so that the client's own
    cost (httpx's is milliseconds a request on these 2 cores) does not stand in for the server's latency."""
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    try:
        while time.monotonic() < deadline:
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            if status != 200:
                errors.append(status)
            if pause:
                await asyncio.sleep(pause)
    finally:
        writer.close()


async def load(url: str, params: dict, clients: int, seconds: float, pause: float) -> tuple[list[float], int]:
    host, port = url.removeprefix("http://").split(":")
    target = "/api/heatmap?" + "&".join(f"{k}={v}" for k, v in params.items())
    latencies, errors = [], []
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_client(host, int(port), target, deadline, latencies, errors, pause)
                           for _ in range(clients)))
    return latencies, len(errors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--timeframes", default="1d,90d")
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds each client waits between its requests (0: as fast as the server answers)")
    ap.add_argument("--rebuild-every", type=float, default=5.0,
                    help="seconds between warehouse rebuilds during the load (0: never); a liq run rebuilds once")
    ap.add_argument("--serve", default="", help="more flags for liq serve, e.g. a nowcast on a replayed clock")
    args = ap.parse_args()
    root = storage.data_root(args.data_dir)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "liq_pipeline.cli", "serve", "--port", str(port), "--data-dir",
                             str(root), *shlex.split(args.serve)], stderr=subprocess.DEVNULL, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                httpx.get(f"{url}/api/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        first = httpx.get(f"{url}/api/heatmap", params={"symbol": "BTCUSDT"}, timeout=30)
        if first.status_code != 200:          # every answer would be an error, timed as one
            raise SystemExit(f"GET /api/heatmap on {root}: HTTP {first.status_code} {first.text[:300]} "
                             "(`make run` makes a warehouse; or pass --data-dir)")
        before = rss_mb(proc.pid)
        stop, builds = threading.Event(), [0]

        def rebuild():
            while not stop.wait(args.rebuild_every):
                warehouse.build(root, {t.name: t.layer for t in tables.TABLES.values()})
                builds[0] += 1

        builder = threading.Thread(target=rebuild, daemon=True)
        if args.rebuild_every > 0:
            builder.start()
        print(f"{args.clients} clients ({f'each pausing {args.pause:g} s' if args.pause else 'closed loop'}), "
              f"{args.seconds:.0f} s per timeframe, warehouse rebuilt "
              f"{f'every {args.rebuild_every:g} s' if args.rebuild_every > 0 else 'never'}; server RSS {before:.0f} MB"
              + (f"; liq serve {args.serve}" if args.serve else ""))
        for tf in args.timeframes.split(","):
            lat, errors = asyncio.run(load(url, {"symbol": "BTCUSDT", "timeframe": tf}, args.clients, args.seconds,
                                           args.pause))
            ms = sorted(x * 1000 for x in lat)
            p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
            print(f"  {tf:>4}: {len(ms)} requests ({len(ms) / args.seconds:.0f}/s), p50 {statistics.median(ms):.1f} ms, "
                  f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms, errors {errors}; server RSS now {rss_mb(proc.pid):.0f} MB")
        stop.set()
        if builder.is_alive():
            builder.join()
        print(f"  warehouse rebuilds during the load: {builds[0]}; server RSS after {rss_mb(proc.pid):.0f} MB")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
