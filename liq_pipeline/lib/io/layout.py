"""The public Binance archive's file layout, shared by the archive, files and simulated sources.

    futures/um/daily/klines/SYM/1m/SYM-1m-2026-04-05.zip      (+ .zip.CHECKSUM)
    futures/um/monthly/klines/SYM/1h/SYM-1h-2026-04.zip
    futures/um/daily/metrics/SYM/SYM-metrics-2026-04-05.zip    (open interest, 5-minute)
    futures/um/monthly/fundingRate/SYM/SYM-fundingRate-2026-04.zip  (monthly only)
    futures/um/{daily,monthly}/aggTrades/SYM/SYM-aggTrades-….zip
plus two folders the archive does not have: forceOrder/ tapes and liquidationBars/ CSVs.
"""
from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath

ARCHIVE_DATASETS = ("klines", "metrics", "fundingRate", "aggTrades")
MONTHLY_ONLY = {"fundingRate"}
DAILY_ONLY = {"metrics"}


def archive_file(dataset: str, symbol: str, period: str, day: dt.date, interval: str | None = None) -> PurePosixPath:
    """Relative path of one archive zip. `period` is 'daily' or 'monthly'."""
    stamp = day.isoformat() if period == "daily" else day.strftime("%Y-%m")
    parts = ["futures", "um", period, dataset, symbol]
    if dataset == "klines":
        parts.append(interval)
        name = f"{symbol}-{interval}-{stamp}.zip"
    else:
        name = f"{symbol}-{dataset}-{stamp}.zip"
    return PurePosixPath(*parts, name)


def candidates(dataset: str, symbol: str, day: dt.date, interval: str | None = None) -> list[PurePosixPath]:
    """Files that may hold `day`, best first: the daily file, else the month's file."""
    periods = [p for p in ("daily", "monthly")
               if not (p == "daily" and dataset in MONTHLY_ONLY) and not (p == "monthly" and dataset in DAILY_ONLY)]
    return [archive_file(dataset, symbol, p, day, interval) for p in periods]


def kline_dirs(symbol: str) -> list[PurePosixPath]:
    return [PurePosixPath("futures", "um", p, "klines", symbol) for p in ("daily", "monthly")]


def force_order_tape(day: dt.date) -> PurePosixPath:
    return PurePosixPath("forceOrder", f"forceOrder-{day.isoformat()}.jsonl")


def liquidation_bars_dir(symbol: str) -> PurePosixPath:
    return PurePosixPath("liquidationBars", symbol)
