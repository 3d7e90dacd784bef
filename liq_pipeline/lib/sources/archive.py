"""The public bulk archive (data.binance.vision), mirrored file by file into data/raw/archive/."""
from __future__ import annotations

from pathlib import Path

from .base import Pull
from .http import BinanceHttp
from .mirror import MirrorSource

ARCHIVE_URL = "https://data.binance.vision/data"


class ArchiveSource(MirrorSource):
    name = "archive"
    intervals = ["1m"]  # the archive cannot be listed cheaply: intervals come from config

    def __init__(self, raw_root: Path, base_url: str = ARCHIVE_URL, intervals: list[str] | None = None,
                 http: BinanceHttp | None = None):
        super().__init__(raw_root, intervals)
        self.base_url = base_url.rstrip("/")
        self.http = http or BinanceHttp()

    def origin(self, rel: str) -> str:
        return f"{self.base_url}/{rel}"

    def fetch(self, rel: str) -> bytes | None:
        resp = self.http.get(self.origin(rel), allow_404=True)
        return None if resp is None else resp.content

    def _pull_tape(self, spec, symbol, day):
        return Pull([], available=False, note="the archive publishes no liquidation data for USD-M since 2024")

    _pull_bars = _pull_tape
