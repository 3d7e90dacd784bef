"""The forceOrder recorder against a real websocket server on 127.0.0.1 that misbehaves as the exchange can."""
import asyncio
import datetime as dt
import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from websockets.asyncio.server import serve

from liq_pipeline.lib.io import parse
from liq_pipeline.lib.sources.recorder import STATUS_FILE, Recorder, RecorderConfig

MIDNIGHT_MS = int(dt.datetime(2026, 4, 6, tzinfo=dt.UTC).timestamp() * 1000)


def payloads(n: int, start_ms: int, step_ms: int = 1000) -> list[str]:
    """Numbered forceOrder payloads (the number is the quantity), one per second of event time."""
    out = []
    for i in range(n):
        t = start_ms + i * step_ms
        out.append(json.dumps({"e": "forceOrder", "E": t, "o": {
            "s": "BTCUSDT" if i % 3 else "ETHUSDT", "S": "SELL" if i % 2 else "BUY", "o": "LIMIT", "f": "IOC",
            "q": str(i), "p": "67000.1", "ap": "66990.5", "X": "FILLED", "l": str(i), "z": str(i), "T": t}},
            separators=(",", ":")))
    return out


def tape_lines(out) -> list[str]:
    return [line for f in sorted((out / "forceOrder").glob("forceOrder-*.jsonl")) for line in f.read_text().splitlines()]


class FlakyServer:
    """Streams the payloads in short bursts and cuts each connection abruptly (no close frame); every new
    connection starts OVERLAP payloads back (sent again, so the recorder must drop duplicates); pings on every
    connection and waits for the pong (the recorder must answer, and a pong after a burst says it arrived before
    the cut); once a malformed and once an oversized frame."""
    OVERLAP = 6

    def __init__(self, items: list[str], seed: int = 0):
        self.items, self.rng = items, np.random.default_rng(seed)
        self.next = 0
        self.connections = 0
        self.pongs = 0

    async def handler(self, conn):
        self.connections += 1
        n = self.connections
        i = max(0, self.next - self.OVERLAP)
        await asyncio.wait_for(await conn.ping(), timeout=5)        # the recorder answers pings
        self.pongs += 1
        if n == 5:
            await conn.send("{not json")
        if n == 9:
            await conn.send("x" * 200_000)                           # beyond the recorder's frame limit
            await asyncio.sleep(0.05)
        end = self.next + int(self.rng.integers(1, 5))        # the overlap again, then 1-4 new payloads
        while i < min(end, len(self.items)):
            await conn.send(self.items[i])
            i += 1
            self.next = max(self.next, i)
        if i >= len(self.items):
            await conn.wait_closed()          # all sent: stay connected until the recorder leaves
            return
        await asyncio.wait_for(await conn.ping(), timeout=5)    # the burst has reached the recorder
        self.pongs += 1
        conn.transport.abort()                # an abrupt cut


def test_every_payload_exactly_once_in_order_through_cuts_pings_bad_frames_and_midnight(tmp_path, caplog):
    items = payloads(330, MIDNIGHT_MS - 120_000)          # two minutes before a UTC midnight to 3.5 minutes after
    server = FlakyServer(items)
    out = tmp_path / "tapes"

    async def scenario():
        async with serve(server.handler, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            # the recorder's clock is injected: it starts a minute before the midnight the payloads cross
            start = time.monotonic()
            clock = lambda: (MIDNIGHT_MS - 60_000) / 1000 + 300 * (time.monotonic() - start)
            rec = Recorder(out, RecorderConfig(url=f"ws://127.0.0.1:{port}", backoff_initial=0.001, backoff_max=0.01,
                                               flush_seconds=0.05), clock=clock)
            task = asyncio.create_task(rec.run())
            deadline = time.monotonic() + 120
            while rec.status.written < len(items) and time.monotonic() < deadline and not task.done():
                await asyncio.sleep(0.02)
            rec.stop()
            return await task

    status = asyncio.run(scenario())
    assert server.connections > 100 and status.reconnects >= 100
    assert server.pongs >= server.connections
    assert tape_lines(out) == items                                      # each exactly once, in order
    assert status.written == len(items) and status.duplicates > 0 and status.malformed == 1
    assert "malformed frame not written" in caplog.text and "{not json" in caplog.text
    assert "1009" in caplog.text or "too big" in caplog.text             # the oversized frame closed the link
    days = sorted(f.name for f in (out / "forceOrder").glob("*.jsonl"))
    assert days == ["forceOrder-2026-04-05.jsonl", "forceOrder-2026-04-06.jsonl"]  # rotated at UTC midnight
    before = (out / "forceOrder/forceOrder-2026-04-05.jsonl").read_text().splitlines()
    assert len(before) == 120 and all(json.loads(x)["E"] < MIDNIGHT_MS for x in before)
    # the files source's parser reads the tapes unchanged
    df = parse.parse_force_orders((out / "forceOrder/forceOrder-2026-04-06.jsonl").read_bytes(), "tape", "BTCUSDT")
    assert len(df) == sum(1 for i in range(120, 330) if i % 3)
    saved = json.loads((out / "forceOrder" / STATUS_FILE).read_text())
    assert saved["written"] == len(items) and saved["stopped"] and saved["reconnects"] == status.reconnects
    assert saved["started"].startswith("2026-04-05T23:59") and saved["last_message_time"] >= "2026-04-06T00:00"


def test_it_reconnects_on_its_own_before_the_connection_limit_and_keeps_only_wanted_symbols(tmp_path):
    items = payloads(60, MIDNIGHT_MS)
    connections = []

    async def patient(conn):                  # never cuts: only the recorder's own limit ends a connection
        connections.append(conn)
        start = 0 if len(connections) == 1 else 30
        for item in items[start:start + 30]:
            await conn.send(item)
        await conn.wait_closed()

    async def scenario():
        async with serve(patient, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            rec = Recorder(tmp_path, RecorderConfig(url=f"ws://127.0.0.1:{port}", max_connection_seconds=0.5,
                                                    backoff_initial=0.001, symbols=frozenset({"BTCUSDT"})))
            task = asyncio.create_task(rec.run())
            while len(connections) < 2 or rec.status.messages < 60:
                await asyncio.sleep(0.02)
            rec.stop()
            return await task

    status = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert status.reconnects >= 1 and status.errors == 0           # left on its own, not cut
    assert tape_lines(tmp_path) == [x for i, x in enumerate(items) if i % 3]
    assert status.filtered == 20


def test_sigterm_in_a_burst_leaves_every_received_payload_on_disk(tmp_path):
    items = payloads(2000, MIDNIGHT_MS)
    sent = threading.Event()
    ready: dict = {}

    async def burst(conn):
        for item in items:
            await conn.send(item)
        sent.set()
        await conn.wait_closed()

    def serve_forever():
        async def main():
            async with serve(burst, "127.0.0.1", 0) as srv:
                ready["port"] = srv.sockets[0].getsockname()[1]
                ready["stop"] = asyncio.get_running_loop().create_future()
                await ready["stop"]
        ready["loop"] = asyncio.new_event_loop()
        ready["loop"].run_until_complete(main())

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    while "stop" not in ready:
        time.sleep(0.01)
    # a flush interval longer than the test: whatever is on disk got there through the shutdown
    proc = subprocess.Popen([sys.executable, "-m", "liq_pipeline.cli", "record-forceorders", "--out", str(tmp_path),
                             "--url", f"ws://127.0.0.1:{ready['port']}", "--flush-seconds", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sent.wait(60)
        time.sleep(0.5)                                   # delivered, sitting in the recorder's buffers
        assert tape_lines(tmp_path) != items              # not yet flushed
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        ready["loop"].call_soon_threadsafe(ready["stop"].set_result, None)
    assert proc.returncode == 0, stderr
    # every payload the recorder had received is on disk, in order (on a loaded machine the last of the burst may
    # still sit in the socket, unreceived, when SIGTERM comes: those are not the recorder's to keep)
    status = json.loads((tmp_path / "forceOrder" / STATUS_FILE).read_text())
    received = status["messages"]
    assert received > len(items) // 2 and status["stopped"]
    assert status["written"] == received and tape_lines(tmp_path) == items[:received]
    assert "2000 payload(s) written" in stdout


def test_what_arrives_is_on_disk_within_the_flush_interval_while_it_runs(tmp_path):
    items = payloads(50, MIDNIGHT_MS)

    async def once(conn):
        for item in items:
            await conn.send(item)
        await conn.wait_closed()

    async def scenario():
        async with serve(once, "127.0.0.1", 0) as srv:
            rec = Recorder(tmp_path, RecorderConfig(url=f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}",
                                                    flush_seconds=0.3))
            task = asyncio.create_task(rec.run())
            while rec.status.messages < len(items):
                await asyncio.sleep(0.01)
            await asyncio.sleep(1.2)                 # the bound, with room: no new message has arrived since
            on_disk = tape_lines(tmp_path)           # read while the recorder still runs
            rec.stop()
            await task
            return on_disk

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) == items
