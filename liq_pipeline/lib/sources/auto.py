"""`auto`: the archive for days it has published, REST for the recent days it has not (it lags 1–2 days)."""
from __future__ import annotations

import datetime as dt

from .archive import ArchiveSource
from .base import Pull
from .binance_rest import BinanceRestSource


class AutoSource:
    name = "auto"

    def __init__(self, archive: ArchiveSource, rest: BinanceRestSource):
        self.archive, self.rest = archive, rest

    def check_symbol(self, symbol: str, day: dt.date) -> None:
        self.rest.check_symbol(symbol, day)      # the exchange lists it (the archive lags, REST does not)

    def has_day(self, symbol: str, day: dt.date) -> bool:
        return self.archive.has_day(symbol, day) or self.rest.has_day(symbol, day)

    def where_days(self, symbol: str) -> str:
        return f"the archive ({self.archive.where_days(symbol)}), else {self.rest.where_days(symbol)}"

    def pull(self, dataset: str, symbol: str, day: dt.date) -> Pull:
        try:
            pulled = self.archive.pull(dataset, symbol, day)
            if pulled.available:
                return pulled
        except FileNotFoundError:
            pass
        pulled = self.rest.pull(dataset, symbol, day)
        pulled.note = (pulled.note + " " if pulled.note else "") + "(archive had not published it: REST used)"
        return pulled
