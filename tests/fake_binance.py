"""A Binance-shaped HTTP server on 127.0.0.1 for tests: REST endpoints, the archive's files, and faults."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


class FakeBinance:
    def __init__(self, archive_root: Path | None = None, page_cap: int = 500, symbols=("BTCUSDT",)):
        self.archive_root = archive_root
        self.page_cap = page_cap
        self.symbols = set(symbols)
        self.faults: dict[str, list[tuple]] = {}   # path -> [(status, headers, body, delay), ...] served first
        self.requests: list[str] = []
        self.weight = 0
        # the signed leverageBracket endpoint: the key pair it accepts and what it answers, per symbol
        self.api_key, self.api_secret = "test-key", "test-secret"
        self.brackets: dict[str, list[dict]] = {}
        self.coefs: dict[str, object] = {}             # notionalCoef per symbol, where the account's is adjusted
        self.exchange_info: dict | None = None       # the public exchangeInfo answer, when a test sets one
        self.open_interest: dict[str, tuple[float, float]] = {}   # symbol -> (contracts, mark price)
        self.missing: dict[str, set[int]] = {}      # path -> row times (epoch ms) the exchange has no row for
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fault(self, path: str, status: int, body: bytes = b"", headers: dict | None = None, delay: float = 0.0, times: int = 1):
        self.faults.setdefault(path, []).extend([(status, headers or {}, body, delay)] * times)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if urlparse(r).path == path)

    # -- responses ------------------------------------------------------------------------------
    def _rest(self, path: str, q: dict) -> tuple[int, object]:
        sym = q.get("symbol", "")
        if sym not in self.symbols:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        start, end = int(q.get("startTime", 0)), int(q.get("endTime", 2**62))
        limit = min(int(q.get("limit", 500)), self.page_cap)
        if path == "/fapi/v1/premiumIndex":
            return 200, {"symbol": sym, "markPrice": "67000", "lastFundingRate": "0.0001"}
        if path == "/fapi/v1/klines":
            step = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000}[q["interval"]]
            t0 = -(-start // step) * step
            rows = []
            for t in range(t0, end + 1, step):
                p = 67000 + (t // step) % 50
                if t in self.missing.get(path, ()):
                    continue
                rows.append([t, str(p), str(p + 5), str(p - 5), str(p + 1), "10.5", t + step - 1, str(10.5 * p),
                             100, "5.25", str(5.25 * p), "0"])
                if len(rows) == limit:
                    break
            return 200, rows
        if path == "/futures/data/openInterestHist":
            rows = [{"symbol": sym, "sumOpenInterest": "90000.5", "sumOpenInterestValue": "6030000000.0",
                     "timestamp": t} for t in range(-(-start // 300_000) * 300_000, end + 1, 300_000)
                    if t not in self.missing.get(path, ())][:limit]
            return 200, rows
        if path == "/fapi/v1/fundingRate":
            rows = [{"symbol": sym, "fundingTime": t + 7, "fundingRate": "0.0001", "markPrice": "67000"}
                    for t in range(-(-start // 28_800_000) * 28_800_000, end + 1, 28_800_000)][:limit]
            return 200, rows
        return 404, {"code": -1, "msg": "no such endpoint"}

    def _signed_brackets(self, query: str, key: str | None) -> tuple[int, object]:
        """As Binance checks a USER_DATA call: the key, then the HMAC-SHA256 of the query before `&signature=`."""
        if key != self.api_key:
            return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
        unsigned, _, signature = query.rpartition("&signature=")
        expected = hmac.new(self.api_secret.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return 400, {"code": -1022, "msg": "Signature for this request is not valid."}
        q = {k: v[0] for k, v in parse_qs(unsigned).items()}
        if "timestamp" not in q:
            return 400, {"code": -1102, "msg": "Mandatory parameter 'timestamp' was not sent."}
        if "symbol" in q:
            if q["symbol"] not in self.brackets:
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            return 200, self._bracket_entry(q["symbol"])
        return 200, [self._bracket_entry(s) for s in self.brackets]

    def _bracket_entry(self, symbol: str) -> dict:
        coef = {"notionalCoef": self.coefs[symbol]} if symbol in self.coefs else {}
        return {"symbol": symbol, **coef, "brackets": self.brackets[symbol]}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.requests.append(self.path)
                url = urlparse(self.path)
                queue = fake.faults.get(url.path)
                if queue:
                    status, headers, body, delay = queue.pop(0)
                    time.sleep(delay)
                    return self._send(status, body, headers)
                if url.path.startswith("/data/"):
                    f = (fake.archive_root / url.path[len("/data/"):]) if fake.archive_root else None
                    if f is None or not f.is_file():
                        return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
                    return self._send(200, f.read_bytes())
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/fapi/v1/exchangeInfo" and fake.exchange_info is not None:
                    return self._send(200, json.dumps(fake.exchange_info).encode())
                if url.path == "/fapi/v1/premiumIndex" and "symbol" not in q and fake.open_interest:
                    marks = [{"symbol": k, "markPrice": str(m)} for k, (_, m) in fake.open_interest.items()]
                    return self._send(200, json.dumps(marks).encode())
                if url.path == "/fapi/v1/openInterest" and q.get("symbol") in fake.open_interest:
                    oi = {"symbol": q["symbol"], "openInterest": str(fake.open_interest[q["symbol"]][0]), "time": 0}
                    return self._send(200, json.dumps(oi).encode())
                if url.path == "/fapi/v1/leverageBracket":
                    status, obj = fake._signed_brackets(url.query, self.headers.get("X-MBX-APIKEY"))
                else:
                    status, obj = fake._rest(url.path, q)
                fake.weight += 5
                return self._send(status, json.dumps(obj).encode(), {"X-MBX-USED-WEIGHT-1M": str(fake.weight)})

            def _send(self, status, body, headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
