"""HTTP for Binance: one requests Session with urllib3's Retry doing what Binance asks of a client.

- 429 (rate limit) and 5xx are retried with exponential backoff and jitter, honouring Retry-After;
- 418 (IP ban) is never retried: it stops the run with a clear message;
- the `X-MBX-USED-WEIGHT-1M` header is read after every call and the client pauses before the
  per-minute budget runs out, so it does not provoke 429s in the first place;
- every retry loop is bounded (`total` retries, connect/read timeouts).
"""
from __future__ import annotations

import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..errors import SourceError

WEIGHT_LIMIT_1M = 2400


class BinanceHttp:
    def __init__(self, retries: int = 5, backoff: float = 0.5, timeout: tuple[float, float] = (5.0, 30.0),
                 weight_limit: int = WEIGHT_LIMIT_1M, max_retry_after: float = 120.0, sleep=time.sleep):
        retry = Retry(
            total=retries, connect=retries, read=retries, status=retries,
            status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff, backoff_jitter=backoff, backoff_max=max_retry_after,
            respect_retry_after_header=True, raise_on_status=False,
        )
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.headers["User-Agent"] = "liq_pipeline/0.1"
        self.timeout = timeout
        self.weight_limit = weight_limit
        self.sleep = sleep
        self.used_weight = 0
        self.calls = 0

    def get(self, url: str, params: dict | None = None, allow_404: bool = False,
            headers: dict | None = None) -> requests.Response | None:
        self.calls += 1
        try:
            resp = self.session.get(url, params=params, timeout=self.timeout, headers=headers)
        except requests.RequestException as exc:
            raise SourceError(f"GET {url}: gave up after retries ({exc})") from None
        self._track_weight(resp)
        if resp.status_code == 418:
            raise SourceError(f"GET {resp.url}: HTTP 418 — Binance has banned this IP for ignoring rate limits "
                              f"(Retry-After {resp.headers.get('Retry-After', '?')} s). Stop all clients and wait.")
        if resp.status_code == 404 and allow_404:
            return None
        if resp.status_code >= 400:
            raise SourceError(f"GET {resp.url}: HTTP {resp.status_code} after retries: {resp.text[:200]}")
        return resp

    def _track_weight(self, resp: requests.Response) -> None:
        used = resp.headers.get("X-MBX-USED-WEIGHT-1M")
        if used is None or not used.isdigit():
            return
        self.used_weight = int(used)
        if self.used_weight >= 0.9 * self.weight_limit:
            # The budget resets at the top of each minute: wait for it rather than earn a 429.
            self.sleep(60 - time.time() % 60 + 0.5)
