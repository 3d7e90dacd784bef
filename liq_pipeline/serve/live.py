"""The server's clock and its nowcasts: the current day's map, remade once per newly closed bar.

`Clock` is now, a fixed time (`--now`), or a replay (`--replay ISO --speed N`: it starts at ISO and runs N times
faster, so the page shows the map as it stood and the liquidations as they happened). `LiveMaps` keeps, per
symbol, the nowcast of the clock's day (lib/model/nowcast): a background task sleeps until the next bar closes on
the clock, then remakes each symbol's in a worker thread, and tries again shortly while the data for a closed bar
is not yet published. Requests read the latest nowcast; they never wait for one.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from starlette.concurrency import run_in_threadpool

from ..lib.io.storage import DataLayout
from ..lib.model.nowcast import DayFeed, Live, nowcast
from ..lib.params import KLINE_INTERVALS

log = logging.getLogger("liq.serve")
RETRY_SECONDS = 5.0            # real seconds between tries while a closed bar's data is not yet published
LAG_BARS = 3                   # a nowcast this many bars (and a minute) behind its clock makes the health degraded


class Clock:
    """Now; a fixed time; or a replay from `start`, `speed` times faster than the wall clock."""

    def __init__(self, fixed: dt.datetime | None = None, replay: dt.datetime | None = None, speed: float = 1.0,
                 monotonic=time.monotonic):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.fixed, self.replay, self.speed, self._monotonic = fixed, replay, speed, monotonic
        self._began = monotonic()

    @property
    def live(self) -> bool:
        """The wall clock (neither fixed nor replayed): the data has nothing after it."""
        return self.fixed is None and self.replay is None

    def now(self) -> dt.datetime:
        if self.fixed is not None:
            return self.fixed
        if self.replay is not None:
            return self.replay + dt.timedelta(seconds=(self._monotonic() - self._began) * self.speed)
        return dt.datetime.now(dt.UTC)

    def real_seconds_until(self, when: dt.datetime) -> float | None:
        """Wall-clock seconds until the clock shows `when` (None: a fixed clock never gets there)."""
        if self.fixed is not None:
            return None
        return max(0.0, (when - self.now()).total_seconds() / self.speed)

    def describe(self) -> str:
        if self.fixed is not None:
            return f"fixed at {self.fixed.isoformat()}"
        if self.replay is not None:
            return f"replay from {self.replay.isoformat()} at {self.speed:g}x"
        return "now"


class LiveMaps:
    """Each symbol's latest nowcast (None before the first), and what went wrong with the last try, if anything."""

    def __init__(self, root, feed: DayFeed, symbols: list[str], cfg, fallback: bool, clock: Clock):
        self.layout, self.feed, self.symbols = DataLayout(root), feed, list(symbols)
        self.cfg, self.fallback, self.clock = cfg, fallback, clock
        self.maps: dict[str, Live] = {}
        self.errors: dict[str, str] = {}
        self.refreshes = 0
        self.days: dict = {symbol: {} for symbol in self.symbols}      # each symbol's DayMap, between refreshes

    def current(self, symbol: str) -> Live | None:
        """The symbol's nowcast, if it is of the clock's day (a replay's or the wall clock's day moves on)."""
        live = self.maps.get(symbol)
        return live if live is not None and live.day == self.clock.now().date() else None

    def version(self, symbol: str) -> int:
        """Which nowcast of the symbol is current: its last bar's end in epoch ms (0: none), which names its day too."""
        live = self.current(symbol)
        return 0 if live is None or live.horizon is None else int(live.horizon.timestamp() * 1000)

    def refresh_all(self) -> None:
        """Remake every symbol's nowcast at the clock's time (in a worker thread: it pulls and computes)."""
        now = self.clock.now()
        for symbol in self.symbols:
            try:
                self.maps[symbol] = nowcast(self.layout, self.feed, symbol, now, self.cfg, self.fallback,
                                            self.days[symbol])
                self.errors.pop(symbol, None)
            except Exception as exc:          # one symbol's failure is reported in health, never the server's end
                self.errors[symbol] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.warning("nowcast %s at %s failed: %s", symbol, now.isoformat(), self.errors[symbol])
        self.refreshes += 1

    def _behind(self, now: dt.datetime) -> bool:
        """A symbol's nowcast does not yet hold the last bar closed by `now` (its data may still be on the way)."""
        for symbol in self.symbols:
            live = self.current(symbol)
            if live is None or live.horizon is None or live.interval is None:
                return True
            if now - live.horizon >= dt.timedelta(seconds=KLINE_INTERVALS[live.interval]):
                return True
        return False

    async def run(self) -> None:
        """Forever: refresh, then sleep until the clock's next bar close (or retry soon while data is missing)."""
        while True:
            await run_in_threadpool(self.refresh_all)
            now = self.clock.now()
            step = min((KLINE_INTERVALS[m.interval] for m in self.maps.values() if m.interval), default=60)
            due = dt.datetime.fromtimestamp((now.timestamp() // step + 1) * step, dt.UTC)
            wait = self.clock.real_seconds_until(due)
            if wait is None:                  # a fixed clock: one nowcast is all it has
                if not self._behind(now) or self.refreshes > 1:
                    return
                wait = RETRY_SECONDS
            elif self._behind(now):
                wait = min(wait, RETRY_SECONDS)
            await asyncio.sleep(wait + 0.01)

    def health(self, now: dt.datetime) -> tuple[dict, list[str]]:
        """Per symbol the nowcast's facts (its day, the data's end, its lag, where the book came from, the gaps),
        and the reasons it gives for a degraded status."""
        out, reasons = {}, []
        for symbol in self.symbols:
            live, error = self.current(symbol), self.errors.get(symbol)
            entry = {"error": error}
            if error:
                reasons.append(f"nowcast {symbol}: {error}")
            if live is not None:
                lag = now - live.horizon if live.horizon else None
                entry.update({"day": live.day.isoformat(), "made_for": live.clock.isoformat(),
                              "data_until": live.horizon.isoformat() if live.horizon else None,
                              "lag_s": round(lag.total_seconds()) if lag is not None else None,
                              "interval": live.interval, "book_from": live.start, "gaps": live.gaps,
                              "seconds": round(live.seconds, 3)})
                reasons += [f"nowcast {symbol}: {g}" for g in live.gaps]
                if live.interval and lag is not None and \
                        lag > LAG_BARS * dt.timedelta(seconds=KLINE_INTERVALS[live.interval]) + dt.timedelta(minutes=1):
                    reasons.append(f"nowcast {symbol}: the data ends at {live.horizon:%H:%M} UTC, "
                                   f"{round(lag.total_seconds() / 60)} min behind the clock")
            elif not error:
                reasons.append(f"nowcast {symbol}: none yet for {now.date()}")
            out[symbol] = entry
        return out, reasons
