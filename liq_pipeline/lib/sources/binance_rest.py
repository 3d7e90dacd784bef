"""Binance USD-M REST: the live source for days the archive has not published yet.

Each page is stored as received (rest/<dataset>/SYM/DATE/page-NNN.json) and parsed later by the clean
layer. Pagination is bounded: a loop stops when a page is empty, when its cursor passes the day or stops
advancing, or after the most pages the day can need.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ..io import tables
from ..errors import InputError, SourceError
from ..params import KLINE_INTERVALS
from ..io.storage import write_bytes_atomic
from ..io.rawfiles import sha256_of
from .base import Pull, RawFile
from .http import BinanceHttp

FAPI_URL = "https://fapi.binance.com"
OI_HISTORY_DAYS = 30  # openInterestHist serves only the last 30 days
OI_HISTORY, AGG_TRADES = "/futures/data/openInterestHist", "/fapi/v1/aggTrades"
# Endpoints paged by time: fixed parameters, the row field that is the cursor, the most pages a day can need.
PAGING = {
    OI_HISTORY: ({"period": "5m", "limit": 500}, "timestamp", 290),
    "/fapi/v1/fundingRate": ({"limit": 1000}, "fundingTime", 26),
}


def day_bounds_ms(day: dt.date) -> tuple[int, int]:
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    return start, start + 86_400_000 - 1


class BinanceRestSource:
    name = "binance"

    def __init__(self, raw_root: Path, base_url: str = FAPI_URL, intervals: list[str] | None = None,
                 http: BinanceHttp | None = None, today: dt.date | None = None, agg_trades: bool = False):
        self.mirror = raw_root / self.name
        self.base_url = base_url.rstrip("/")
        self.intervals = list(intervals or ["1m"])
        self.http = http or BinanceHttp()
        self.today = today
        self.agg_trades = agg_trades
        self._known: set[str] = set()

    def check_symbol(self, symbol: str, day: dt.date | None = None) -> None:
        """premiumIndex answers -1121 'Invalid symbol' (HTTP 400) for a symbol USD-M does not list."""
        if symbol in self._known:
            return
        try:
            self.http.get(f"{self.base_url}/fapi/v1/premiumIndex", {"symbol": symbol})
        except SourceError as exc:
            if "HTTP 400" in str(exc):
                raise InputError(f"symbol {symbol}: Binance USD-M does not list it ({exc})") from None
            raise
        self._known.add(symbol)

    def has_day(self, symbol: str, day: dt.date) -> bool:
        """REST serves any past day's klines and funding, but open interest only for its last days."""
        today = self.today or dt.datetime.now(dt.UTC).date()
        return 0 < (today - day).days <= OI_HISTORY_DAYS

    def where_days(self, symbol: str) -> str:
        return (f"Binance REST keeps open interest for its last {OI_HISTORY_DAYS} days only, and serves a day once it "
                f"has ended: --source archive has older days")

    def pull(self, dataset: str, symbol: str, day: dt.date, until: dt.datetime | None = None) -> Pull:
        """The day's rows of `dataset`, as pages; `until` (the nowcast's clock) stops them there, not at the day's end."""
        spec = tables.get(dataset).raw
        if spec.rest_path is None:
            return Pull([], available=False, note=f"Binance REST has no {dataset} history")
        self.check_symbol(symbol)
        start, end = day_bounds_ms(day)
        if until is not None:
            end = max(start, min(end, int(until.timestamp() * 1000)))
        if spec.per_interval:
            files = []
            for iv in self.intervals:
                step = KLINE_INTERVALS[iv] * 1000
                files += self._paged(dataset, symbol, day, spec.rest_path,
                                     {"symbol": symbol, "interval": iv, "limit": 1500}, start, end,
                                     cursor=lambda row: row[0] + step, max_pages=86_400 // KLINE_INTERVALS[iv] + 2,
                                     interval=iv)
            return Pull(files)
        if spec.rest_path == AGG_TRADES:
            if not self.agg_trades:
                return Pull([], available=False, note="aggTrades over REST are off (weight 20 per call); enable agg_trades")
            return Pull(self._agg_trades(symbol, day, start, end))
        if spec.rest_path == OI_HISTORY:
            today = self.today or dt.datetime.now(dt.UTC).date()
            if (today - day).days > OI_HISTORY_DAYS:
                raise InputError(f"partition {day}|{symbol}: openInterestHist keeps only {OI_HISTORY_DAYS} days; "
                                 f"use --source archive for older days")
        params, time_key, max_pages = PAGING[spec.rest_path]
        return Pull(self._paged(dataset, symbol, day, spec.rest_path, {"symbol": symbol, **params}, start, end,
                                cursor=lambda row: int(row[time_key]) + 1, max_pages=max_pages))

    def _store(self, dataset, symbol, day, n, url, params, body: bytes, interval=None) -> RawFile:
        tag = f"-{interval}" if interval else ""
        rel = f"rest/{dataset}/{symbol}/{day.isoformat()}/page{tag}-{n:03d}.json"
        write_bytes_atomic(self.mirror / rel, body)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return RawFile(f"{self.name}/{rel}", f"{url}?{query}", sha256_of(body), len(body), "rest-json", interval)

    def _paged(self, dataset, symbol, day, path, params, start, end, cursor, max_pages, interval=None):
        """Page forward until the cursor passes the day; `max_pages` (one row a page, worst case) bounds it."""
        url, files, since = self.base_url + path, [], start
        for n in range(max_pages):
            q = {**params, "startTime": since, "endTime": end}
            body = self.http.get(url, q).content
            rows = json.loads(body)
            if not isinstance(rows, list):
                raise SourceError(f"GET {url}: expected a JSON list, got {body[:200]!r}")
            files.append(self._store(dataset, symbol, day, n, url, q, body, interval))
            if not rows:
                return files
            nxt = cursor(rows[-1])
            if nxt <= since or nxt > end:
                return files
            since = nxt
        raise SourceError(f"GET {url}: more than {max_pages} pages for {symbol} {day}; refusing to loop on")

    def _agg_trades(self, symbol, day, start, end):
        """aggTrades allows a window under 1 h; within it, page forward by trade id."""
        url, files, n = self.base_url + AGG_TRADES, [], 0
        for hour in range(24):
            h0 = start + hour * 3_600_000
            q = {"symbol": symbol, "startTime": h0, "endTime": min(h0 + 3_599_999, end), "limit": 1000}
            for _ in range(10_000):  # bounded: 10M trades an hour is beyond any symbol
                body = self.http.get(url, q).content
                rows = json.loads(body)
                files.append(self._store("agg_trades", symbol, day, n, url, q, body))
                n += 1
                if len(rows) < 1000 or int(rows[-1]["T"]) >= q.get("endTime", h0 + 3_599_999):
                    break
                q = {"symbol": symbol, "fromId": int(rows[-1]["a"]) + 1, "limit": 1000}
        return files
