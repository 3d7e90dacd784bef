"""Raw partition -> clean frame: parse every file the manifest names, keep the day, dedupe, sort, report gaps."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd

from . import parse, schemas, tables
from ..errors import InputError
from ..params import KLINE_INTERVALS
from .rawfiles import read_zip_csv, sha256_of
from .storage import Written, parquet_source, read_bytes

PROVENANCE = list(tables.PROVENANCE)


@dataclasses.dataclass
class CleanReport:
    rows_parsed: int = 0
    exact_duplicates_dropped: int = 0
    gaps: dict = dataclasses.field(default_factory=dict)   # what is missing, by interval
    files: list = dataclasses.field(default_factory=list)


def _parse_file(table: tables.Table, data: bytes, f: dict, symbol: str, where: str) -> pd.DataFrame:
    """One raw file -> rows, by the file's format; archive CSVs go through the parser the registry names."""
    fmt = f["format"]
    if fmt == "archive-zip":
        parser = getattr(parse, table.raw.parser)
        csv = read_zip_csv(data, where)
        return parser(csv, symbol, f["interval"], where) if table.raw.per_interval else parser(csv, symbol, where)
    if fmt == "rest-json":
        return parse.parse_rest_page(table, data, symbol, f.get("interval"), where)
    if fmt == "force-order-jsonl":
        return parse.parse_force_orders(data, where, symbol=symbol)
    if fmt == "liquidation-bars-csv":
        return parse.parse_liquidation_bars(data, symbol, f["interval"], f["venue"], where)
    if fmt == "truth-parquet":
        df = pd.read_parquet(parquet_source(data))
        # the truth's liquidations carry the event table's `source` column: where they came from
        return df.assign(source="simulated_truth") if "source" in table.columns else df
    raise InputError(f"{where}: unknown raw format {fmt!r}")


# A file that spans many days (a month of funding, a vendor's whole history of liquidation bars) is named by each
# of those days' manifests: a process parses it once (keyed by its checksum, still verified every day), not once a
# day (a vendor's history would be parsed again for each of its days). Only files of up to MULTI_DAY_ROWS_KEPT rows are kept
# (a month of 1m klines is 43k): a month of aggregate trades, tens of millions of rows, is parsed again instead.
_MULTI_DAY: dict[tuple, pd.DataFrame] = {}
MULTI_DAY_FILES_KEPT = 8
MULTI_DAY_ROWS_KEPT = 500_000


def _parsed(table: tables.Table, data: bytes, f: dict, symbol: str, where: str) -> pd.DataFrame:
    key = (table.name, f["sha256"], f["format"], symbol, f.get("interval"), f.get("venue"))
    df = _MULTI_DAY.get(key)
    if df is None:
        df = _parse_file(table, data, f, symbol, where)
        t = df[table.time_col] if len(df) else None
        if t is not None and len(df) <= MULTI_DAY_ROWS_KEPT and t.max() - t.min() >= pd.Timedelta(days=1):
            if len(_MULTI_DAY) >= MULTI_DAY_FILES_KEPT:
                _MULTI_DAY.pop(next(iter(_MULTI_DAY)))
            _MULTI_DAY[key] = df
    return df


def clean_day(day: dt.date, layout, dataset: str, symbol: str) -> tuple[pd.DataFrame, CleanReport, dict]:
    """A day of `dataset` from its raw partition, in the table's schema: (frame, report, raw manifest). A day
    needs nothing of its neighbours, so a range's days are cleaned in parallel (lib/parallel)."""
    mpath = layout.manifest(dataset, symbol, day)
    try:
        manifest = json.loads(read_bytes(mpath))
    except FileNotFoundError:
        raise InputError(f"raw manifest {mpath} missing; materialise raw/{dataset} first") from None
    df, report = clean_partition(dataset, symbol, day, manifest, layout.raw)
    return schemas.conform(df, dataset), report, manifest


def clean_and_write_day(day: dt.date, layout, dataset: str, symbol: str) -> tuple[Written, CleanReport, dict]:
    """clean_day, written to its partition where it was cleaned (a worker: lib/parallel); the frame stays there."""
    df, report, manifest = clean_day(day, layout, dataset, symbol)
    return layout.write(df, "clean", dataset, symbol, day), report, manifest


def clean_partition(dataset: str, symbol: str, day: dt.date, manifest: dict, raw_root: Path) -> tuple[pd.DataFrame, CleanReport]:
    table = tables.get(dataset)
    time_col, key = table.time_col, list(table.key)
    report = CleanReport()
    lo = pd.Timestamp(day, tz="UTC")
    hi = lo + pd.Timedelta(days=1)
    frames = []
    for f in manifest["files"]:
        path = raw_root / f["path"]
        try:
            data = read_bytes(path)
        except FileNotFoundError:
            raise InputError(f"partition {day}|{symbol}: raw file {path} named in the manifest is gone") from None
        if sha256_of(data) != f["sha256"]:
            raise InputError(f"{path}: changed since it was pulled (sha256 differs from the manifest); rerun the raw partition")
        df = _parsed(table, data, f, symbol, str(path))
        df = df[(df[time_col] >= lo) & (df[time_col] < hi)]
        if manifest["source"] == "simulated" and f["format"] == "force-order-jsonl":
            df = df.assign(source="simulated_forceOrder")   # the simulated market's stream, never Binance's
        report.rows_parsed += len(df)
        report.files.append(f["path"])
        frames.append(df.assign(ingest_source=manifest["source"], ingest_file=f["origin"], ingest_sha256=f["sha256"]))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(), report
    out = pd.concat(frames, ignore_index=True)
    value_cols = [c for c in out.columns if c not in PROVENANCE]
    # The same row from two files (a daily and a monthly zip, overlapping REST pages) is one row.
    # Rows that share a key but differ in value are left for the quality gate to reject.
    # An exact duplicate repeats the key too: where no key repeats (nearly every day) there is none to drop, and
    # comparing the key's columns costs a fraction of comparing every column.
    before = len(out)
    if out.duplicated(subset=key).any():
        out = out.drop_duplicates(subset=value_cols, keep="first")
    report.exact_duplicates_dropped = before - len(out)
    out = out.sort_values(key, kind="stable").reset_index(drop=True)
    report.gaps = find_gaps(dataset, out, day)
    return out, report


def _missing(stamps: pd.Series, expected: pd.DatetimeIndex) -> list[str]:
    have = set(stamps.astype("int64"))
    return [t.isoformat() for t in expected if t.value // 10**6 not in have]


def find_gaps(dataset: str, df: pd.DataFrame, day: dt.date) -> dict:
    """Missing bars / OI stamps / funding times within the day (the table's RawSpec.cadence): reported, never
    filled in."""
    lo = pd.Timestamp(day, tz="UTC")
    gaps = {}
    cadence = tables.get(dataset).raw.cadence
    if cadence == "interval":
        for iv, g in df.groupby("interval"):
            exp = pd.date_range(lo, periods=86_400 // KLINE_INTERVALS[iv], freq=f"{KLINE_INTERVALS[iv]}s")
            gaps[iv] = _missing(g["open_time"].astype("datetime64[ms, UTC]"), exp.as_unit("ms"))
    elif cadence == "5m":
        exp = pd.date_range(lo, periods=288, freq="5min")
        gaps["5m"] = _missing(df["ts"].astype("datetime64[ms, UTC]"), exp.as_unit("ms"))
    elif cadence == "interval_hours" and len(df):
        hours = int(df["interval_hours"].mode().iloc[0])
        exp = pd.date_range(lo, periods=24 // hours, freq=f"{hours}h")
        gaps[f"{hours}h"] = _missing(df["ts"].astype("datetime64[ms, UTC]"), exp.as_unit("ms"))
    return {k: v for k, v in gaps.items() if v}
