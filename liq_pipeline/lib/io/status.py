"""Health of a data root: how fresh each dataset is per symbol, the gaps of the last 30 days, the recorder's
state (what `liq status` prints and judges; the Dagster jobs' last runs come from runtime/runs.py)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import tables
from ..params import ParameterError
from ..sources.recorder import STATUS_FILE
from .storage import parquet_footer, readable_parquet, stored_days

# What a daily operation must keep fresh: the estimator's inputs and its output. Other tables are shown only.
JUDGED = ("klines", "open_interest", "funding", "heatmap")
GAP_DAYS = 30
# When a day is overdue: the daily run (03:00 UTC) has until DEADLINE_HOUR UTC the day after a day ends to make it.
# Its last snapshot is stamped 23:00, so a dataset is stale once its newest time is older than MAX_AGE: 36 hours
# at 11:00 is exactly "yesterday's partition is missing". The Dagster freshness checks (defs/freshness.py),
# /api/health and `liq status` all judge by this one rule.
DEADLINE_HOUR = 11
MAX_AGE = dt.timedelta(hours=24 + 1 + DEADLINE_HOUR)


def parse_age(value: str, param: str = "max-age") -> dt.timedelta:
    """'90m', '36h', '2d' (or a bare number of hours)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhd]?)\s*", str(value))
    if not m:
        raise ParameterError(f"{param}: {value!r} is not a duration like 90m, 36h or 2d")
    n, unit = float(m.group(1)), m.group(2) or "h"
    return dt.timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: n})


@dataclasses.dataclass
class Freshness:
    table: str
    symbol: str
    latest: dt.datetime | None         # the newest timestamp stored
    age: dt.timedelta | None
    missing_days: list[dt.date]        # days (a monthly table: months) absent in the last GAP_DAYS days
    judged: bool
    stale: bool


def _latest_time(path: Path, column: str) -> dt.datetime | None:
    value = _column_max(path, column)
    if value is None:
        return None
    if isinstance(value, str):        # a period written as text: a day (the volume profile's) or a month (a roll-up's)
        value = period_start(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def period_start(value: str) -> dt.datetime:
    """The start (UTC) of a period column's value: 'YYYY-MM-DD' a day, 'YYYY-MM' a month."""
    try:
        return dt.datetime.strptime(value, "%Y-%m" if len(value) == 7 else "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValueError(f"{value!r} is neither a day (YYYY-MM-DD) nor a month (YYYY-MM)") from None


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _missing(period: str, stored: list[dt.date], yesterday: dt.date) -> list[dt.date]:
    """The periods absent in the last GAP_DAYS days up to yesterday, from the first one held. A monthly table's
    period is a month (stored under its first day): one is missing once it has ended without its partition."""
    if period == "month":
        last_ended = _month(yesterday + dt.timedelta(days=1)) - dt.timedelta(days=1)
        periods, m = [], _month(max(stored[0], yesterday - dt.timedelta(days=GAP_DAYS - 1)))
        while m <= _month(last_ended):
            periods.append(m)
            m = _month(m + dt.timedelta(days=32))
    else:
        periods = [yesterday - dt.timedelta(days=i) for i in range(GAP_DAYS)]
    have = set(stored)
    return sorted(p for p in periods if p >= stored[0] and p not in have)


def _column_max(path: Path, column: str):
    """The column's largest value from the row groups' statistics in the footer (on object storage, a small ranged
    GET instead of the object); the column itself is read only where a row group was written without them."""
    footer = parquet_footer(path)
    index = footer.schema.to_arrow_schema().get_field_index(column)
    groups = [footer.row_group(i) for i in range(footer.num_row_groups)]
    stats = [g.column(index).statistics for g in groups if g.num_rows]
    if all(s is not None and s.has_min_max for s in stats):
        return max((s.max for s in stats), default=None)
    return pc.max(pq.read_table(readable_parquet(path), columns=[column]).column(0)).as_py()


def freshness(root: Path, now: dt.datetime, max_age: dt.timedelta) -> list[Freshness]:
    out = []
    yesterday = now.date() - dt.timedelta(days=1)
    for t in tables.TABLES.values():
        if t.time_col is None:
            continue
        for sym_dir in sorted((root / t.layer / t.name).glob("symbol=*")):
            days = stored_days(sym_dir)
            if not days:
                continue
            latest = None
            for day in reversed(days):        # the newest partition with a row (a quiet day may be empty)
                latest = _latest_time(sym_dir / f"date={day}" / "data.parquet", t.time_col)
                if latest is not None:
                    break
            missing = _missing(t.period, days, yesterday)
            age = now - latest if latest is not None else None
            judged = t.name in JUDGED
            out.append(Freshness(t.name, sym_dir.name[7:], latest, age, missing, judged,
                                 judged and (age is None or age > max_age)))
    return out


def recorder_state(tapes: Path, now: dt.datetime, max_age: dt.timedelta) -> dict:
    path = Path(tapes) / "forceOrder" / STATUS_FILE
    if not path.exists():
        return {"status_file": str(path), "stale": True, "problem": "no status file (is the recorder running here?)"}
    state = json.loads(path.read_text())
    last = state.get("last_message_time")
    age = now - dt.datetime.fromisoformat(last) if last else None
    state.update(status_file=str(path), age=str(age) if age is not None else None,
                 stale=age is None or age > max_age or bool(state.get("stopped")))
    if state["stale"]:
        state["problem"] = "stopped" if state.get("stopped") else "no message for longer than --max-age"
    return state


def health(root: Path, now: dt.datetime, max_age: dt.timedelta) -> dict:
    """The data root's health as the live map reports it: `status` ok (every judged dataset fresh), degraded (one is
    stale or was never made) or down (no heatmap at all); per symbol the snapshot's age and each dataset's latest
    time and lag; and the reasons."""
    rows = freshness(root, now, max_age)
    symbols: dict[str, dict] = {}
    for r in rows:
        entry = symbols.setdefault(r.symbol, {"snapshot_age_s": None, "datasets": {}})
        # a replayed clock runs over data that goes on after it: what is later than the clock is not a negative lag
        entry["datasets"][r.table] = {"latest": r.latest.isoformat() if r.latest else None,
                                      "lag_s": max(0, round(r.age.total_seconds())) if r.age is not None else None,
                                      "after_clock": r.age is not None and r.age.total_seconds() < 0,
                                      "judged": r.judged, "stale": r.stale,
                                      "missing_days": [str(d) for d in r.missing_days]}
        if r.table == "heatmap" and r.age is not None:
            entry["snapshot_age_s"] = max(0, round(r.age.total_seconds()))
    reasons = [f"{r.table} {r.symbol}: " + ("no rows" if r.latest is None else
                                            f"latest {r.latest:%Y-%m-%d %H:%M} UTC is older than {max_age}")
               for r in rows if r.stale]
    reasons += [f"{t}: never made" for t in JUDGED if not any(r.table == t for r in rows)]
    status = "down" if not any(r.table == "heatmap" and r.latest for r in rows) else "degraded" if reasons else "ok"
    return {"status": status, "now": now.isoformat(), "max_age_s": round(max_age.total_seconds()),
            "symbols": symbols, "reasons": reasons}
