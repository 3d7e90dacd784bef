"""The forceOrder recorder's throughput with fsync on, and its memory after an hour of peak traffic replayed.

A websocket server on 127.0.0.1 (its own thread) sends distinct forceOrder payloads at a paced rate (unpaced, it
outruns the reader until the recorder's keepalive pong waits behind queued frames and the link drops); the
recorder (default settings: flush and fsync every second, duplicates remembered) writes them to a temporary
tape folder. An hour at the real stream's peak (~500 messages a second during a cascade) is 1.8 million.

    python bench/recorder_speed.py [--messages 1800000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import threading
import time
from pathlib import Path

from websockets.asyncio.server import serve

from liq_pipeline.lib.sources.recorder import Recorder, RecorderConfig


def payload(i: int) -> str:
    t = 1_775_433_600_000 + i
    return json.dumps({"e": "forceOrder", "E": t, "o": {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC",
                       "q": "0.010", "p": "67000.1", "ap": "66990.5", "X": "FILLED", "l": "0.010", "z": "0.010",
                       "T": t}}, separators=(",", ":"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1_800_000)
    ap.add_argument("--rate", type=float, default=3000.0, help="messages a second the server sends (paced)")
    a = ap.parse_args(argv)
    ready = {}

    sent = {"next": 0}

    async def blast(conn):
        # paced at --rate (a real stream never outruns its reader for long); a new connection continues
        t0, start = time.monotonic(), sent["next"]
        for i in range(start, a.messages):
            await conn.send(payload(i))
            sent["next"] = i + 1
            if (i - start) % 500 == 499:
                await asyncio.sleep(max(0.0, t0 + (i - start + 1) / a.rate - time.monotonic()))
        await conn.wait_closed()

    def server():
        async def run():
            async with serve(blast, "127.0.0.1", 0, max_queue=None) as srv:
                ready["port"] = srv.sockets[0].getsockname()[1]
                await asyncio.Future()
        asyncio.run(run())

    threading.Thread(target=server, daemon=True).start()
    while "port" not in ready:
        time.sleep(0.01)

    async def record():
        rec = Recorder(Path(tempfile.mkdtemp(prefix="liq-rec-")), RecorderConfig(url=f"ws://127.0.0.1:{ready['port']}"))
        task = asyncio.create_task(rec.run())
        t0, marks = time.monotonic(), []
        while rec.status.written < a.messages and not task.done():
            await asyncio.sleep(0.5)
            marks.append((time.monotonic() - t0, rec.status.written))
        rec.stop()
        await task
        return rec.status, time.monotonic() - t0, marks

    status, wall, marks = asyncio.run(record())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"recorder: {status.written:,} payloads written in {wall:.1f} s = {status.written / wall:,.0f} messages/s "
          f"with flush+fsync every second (server paced at {a.rate:,.0f}/s, in the same process; 2 cores); "
          f"{status.reconnects} reconnects, {status.duplicates} duplicates dropped")
    print(f"  peak RSS of the process after {status.written / 500 / 3600:.2f} h of traffic at 500 messages/s: "
          f"{rss_mb:,.0f} MB (duplicate memory bounded at {RecorderConfig().remember:,} payloads)")
    return 0 if status.written == a.messages else 1


if __name__ == "__main__":
    raise SystemExit(main())
