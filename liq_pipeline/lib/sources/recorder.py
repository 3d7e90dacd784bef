"""The forceOrder recorder: Binance's all-market liquidation stream, written to daily tapes exactly as received.

Each payload is one line of OUT/forceOrder/forceOrder-YYYY-MM-DD.jsonl, by the UTC day of its event time "E" (so
the `files` source reads the tapes unchanged). The websocket library (websockets) answers pings and enforces the
frame size; this module adds what a recorder that must lose nothing needs:
- reconnects after any close or error, with exponential backoff and full jitter (reset once a message arrives),
  and on its own before the exchange's 24-hour connection limit;
- drops duplicates across a reconnect (a bounded memory of the payloads recently written);
- flushes and fsyncs at a bounded interval, and on shutdown (SIGTERM/SIGINT stop it cleanly: nothing received
  is lost);
- refuses a malformed or oversized frame (logged, counted, never written);
- keeps a small status file (`_recorder_status.json` beside the tapes) that `liq status` reads.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import random
import signal
import time
from pathlib import Path

from ..io import layout
from ..io.storage import write_json_atomic

log = logging.getLogger("liq.recorder")

DEFAULT_URL = "wss://fstream.binance.com/ws/!forceOrder@arr"
STATUS_FILE = "_recorder_status.json"


@dataclasses.dataclass
class RecorderConfig:
    url: str = DEFAULT_URL
    symbols: frozenset[str] | None = None       # None: every symbol
    flush_seconds: float = 1.0                  # the most a received payload waits before it is on disk
    max_connection_seconds: float = 23.5 * 3600  # the exchange closes connections at 24 h: leave before
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_frame_bytes: int = 64 * 1024            # a forceOrder payload is ~250 bytes
    remember: int = 50_000                      # payloads remembered for dropping duplicates
    ping_interval: float = 20.0
    ping_timeout: float = 60.0                  # a pong queues behind every frame already sent: allow a burst


@dataclasses.dataclass
class RecorderStatus:
    started: str
    pid: int
    url: str
    messages: int = 0             # payloads received
    written: int = 0
    duplicates: int = 0
    filtered: int = 0             # other symbols, when --symbols is given
    malformed: int = 0
    reconnects: int = 0
    errors: int = 0
    last_message_time: str | None = None      # receive time (the clock's)
    last_event_time: str | None = None        # the payload's "E"
    last_error: str | None = None
    connected_since: str | None = None
    stopped: str | None = None


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds")


class Tape:
    """The day files, appended to; flushed and fsynced on demand."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.files: dict[str, object] = {}
        self.dirty: set[str] = set()

    def append(self, day: dt.date, line: str) -> None:
        rel = str(layout.force_order_tape(day))
        f = self.files.get(rel)
        if f is None:
            path = self.out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            f = self.files[rel] = open(path, "a", encoding="utf-8")
            # yesterday's file is complete once today's opens: close it (rotation at midnight)
            for old in [r for r in self.files if r < rel]:
                self._close(old)
        f.write(line + "\n")
        self.dirty.add(rel)

    def sync(self) -> None:
        for rel in list(self.dirty):
            f = self.files.get(rel)
            if f is not None:
                f.flush()
                os.fsync(f.fileno())
        self.dirty.clear()

    def _close(self, rel: str) -> None:
        f = self.files.pop(rel)
        f.flush()
        os.fsync(f.fileno())
        f.close()
        self.dirty.discard(rel)

    def close(self) -> None:
        for rel in list(self.files):
            self._close(rel)


def event_time(payload: dict) -> dt.datetime:
    """The payload's event time "E" (the order's trade time "T" if it has none), UTC."""
    return dt.datetime.fromtimestamp(int(payload.get("E") or payload["o"].get("T")) / 1000, dt.UTC)


class Recorder:
    def __init__(self, out: Path, config: RecorderConfig | None = None, clock=time.time):
        self.out = Path(out)
        self.cfg = config or RecorderConfig()
        self.clock = clock
        self.tape = Tape(self.out)
        self.status = RecorderStatus(started=_iso(clock()), pid=os.getpid(), url=self.cfg.url)
        self.seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.stop_event = asyncio.Event()
        self.status_path = self.out / "forceOrder" / STATUS_FILE
        self._last_sync = clock()

    # -- one payload ---------------------------------------------------------------------------
    def handle(self, text: str | bytes) -> None:
        """Write one frame, if it is a new, well-formed payload of a wanted symbol."""
        self.status.messages += 1
        self.status.last_message_time = _iso(self.clock())
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        try:
            payload = json.loads(text)
            if not isinstance(payload, dict) or not isinstance(payload.get("o"), dict):
                raise ValueError("not a forceOrder payload (no 'o' object)")
            when = event_time(payload)
        except (ValueError, TypeError, OverflowError) as exc:
            self.status.malformed += 1
            log.warning("malformed frame not written (%s): %.200r", exc, text)
            return
        if self.cfg.symbols is not None and str(payload["o"].get("s", "")).upper() not in self.cfg.symbols:
            self.status.filtered += 1
            return
        line = text.strip()
        key = hashlib.blake2b(line.encode(), digest_size=16).hexdigest()
        if key in self.seen:        # sent again after a reconnect
            self.status.duplicates += 1
            return
        self.seen[key] = None
        if len(self.seen) > self.cfg.remember:
            self.seen.popitem(last=False)
        self.tape.append(when.date(), line)
        self.status.written += 1
        self.status.last_event_time = when.isoformat(timespec="milliseconds")
        self.maybe_sync()

    def maybe_sync(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self._last_sync >= self.cfg.flush_seconds:
            self.tape.sync()
            write_json_atomic(self.status_path, dataclasses.asdict(self.status))
            self._last_sync = now

    # -- the connection loop ---------------------------------------------------------------------
    async def run(self) -> RecorderStatus:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

        attempt = 0
        ticker = asyncio.create_task(self._tick())
        try:
            while not self.stop_event.is_set():
                try:
                    async with connect(self.cfg.url, max_size=self.cfg.max_frame_bytes, open_timeout=10,
                                       ping_interval=self.cfg.ping_interval, ping_timeout=self.cfg.ping_timeout,
                                       close_timeout=2) as ws:
                        self.status.connected_since = _iso(self.clock())
                        opened = self.clock()
                        log.info("connected to %s", self.cfg.url)
                        while not self.stop_event.is_set():
                            left = self.cfg.max_connection_seconds - (self.clock() - opened)
                            if left <= 0:
                                log.info("connection %.0f h old: reconnecting before the exchange's 24 h limit",
                                         self.cfg.max_connection_seconds / 3600)
                                break
                            recv = asyncio.ensure_future(ws.recv())
                            stop = asyncio.ensure_future(self.stop_event.wait())
                            done, _ = await asyncio.wait({recv, stop}, timeout=min(left, 5.0),
                                                         return_when=asyncio.FIRST_COMPLETED)
                            stop.cancel()
                            if recv not in done:
                                recv.cancel()
                                continue
                            self.handle(recv.result())
                            attempt = 0
                except InvalidURI:
                    raise
                except (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError) as exc:
                    self.status.errors += 1
                    self.status.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    log.warning("connection lost: %s", self.status.last_error)
                if self.stop_event.is_set():
                    break
                self.status.reconnects += 1
                self.maybe_sync(force=True)
                # exponential backoff with full jitter: many recorders never reconnect in step
                delay = random.uniform(0, min(self.cfg.backoff_max, self.cfg.backoff_initial * 2 ** attempt))
                attempt += 1
                try:
                    await asyncio.wait_for(self.stop_event.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass
        finally:
            ticker.cancel()
            self.status.stopped = _iso(self.clock())
            self.maybe_sync(force=True)
            self.tape.close()
        return self.status

    async def _tick(self) -> None:
        """Flush on time even when no message arrives (the bound holds in quiet markets too)."""
        while True:
            await asyncio.sleep(min(self.cfg.flush_seconds, 1.0))
            self.maybe_sync()

    def stop(self) -> None:
        self.stop_event.set()


def record(out: Path, config: RecorderConfig) -> RecorderStatus:
    """Run until SIGTERM or SIGINT; everything received is on disk when it returns."""
    async def main() -> RecorderStatus:
        rec = Recorder(out, config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, rec.stop)
        return await rec.run()
    return asyncio.run(main())
