"""Validation of user-supplied parameters: symbols, dates, intervals.

Everything here is untrusted input that later becomes part of a file path or a URL, so it is
checked against a strict pattern before use and rejected with a message naming the parameter.
"""
from __future__ import annotations

import datetime as dt
import re

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
# Binance kline intervals (the archive publishes all of these).
KLINE_INTERVALS = {
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400,
}
# The earliest day a USD-M perpetual traded (BTCUSDT listing); nothing before it can exist.
EARLIEST_DATE = dt.date(2019, 9, 8)


class ParameterError(ValueError):
    """A user-supplied parameter is invalid; the message names it."""


def parse_symbol(value: str, param: str = "symbol") -> str:
    sym = (value or "").strip().upper()
    if not SYMBOL_RE.match(sym):
        raise ParameterError(f"{param}: {value!r} is not a valid USD-M symbol (2-20 letters/digits, e.g. BTCUSDT)")
    return sym


def parse_symbols(value: str | list[str], param: str = "symbols") -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    syms = [parse_symbol(s, param) for s in items if s.strip()]
    if not syms:
        raise ParameterError(f"{param}: no symbol given")
    return list(dict.fromkeys(syms))


def parse_date(value: str | dt.date, param: str = "date") -> dt.date:
    if isinstance(value, dt.date):
        d = value
    else:
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ParameterError(f"{param}: {value!r} is not a date in YYYY-MM-DD form")
        try:
            d = dt.date.fromisoformat(text)
        except ValueError as exc:        # the form is right, the day is not in the calendar
            raise ParameterError(f"{param}: {value!r} is no such day ({exc})") from None
    if d < EARLIEST_DATE:
        raise ParameterError(f"{param}: {d} is before {EARLIEST_DATE}, when USD-M perpetuals began")
    return d


def parse_month(value: str, param: str = "month") -> str:
    """'YYYY-MM', as given."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(value)):
        raise ParameterError(f"{param}: {value!r} is not YYYY-MM")
    return value


def parse_time(value: str, param: str) -> dt.datetime:
    """An ISO-8601 time, UTC: one without a zone is taken as UTC, one with another zone converted."""
    try:
        t = dt.datetime.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ParameterError(f"{param}: {value!r} is not an ISO-8601 time ({exc})") from None
    return t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)


def parse_date_range(start: str | dt.date, end: str | dt.date, today: dt.date | None = None) -> list[dt.date]:
    s, e = parse_date(start, "start"), parse_date(end, "end")
    if e < s:
        raise ParameterError(f"date range: end {e} is before start {s}")
    today = today or dt.datetime.now(dt.UTC).date()
    if e >= today:
        raise ParameterError(f"end: {e} is not a finished UTC day (today is {today})")
    return [s + dt.timedelta(days=i) for i in range((e - s).days + 1)]


def parse_interval(value: str, param: str = "interval") -> str:
    if value not in KLINE_INTERVALS:
        raise ParameterError(f"{param}: {value!r} is not a kline interval ({', '.join(KLINE_INTERVALS)})")
    return value


def day_spans(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days as (first, last) runs, in order."""
    out = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + dt.timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def describe_days(days: list[dt.date]) -> str:
    """Days as their runs, for a message: '2026-06-15..2026-06-19, 2026-06-23'."""
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in day_spans(days))
