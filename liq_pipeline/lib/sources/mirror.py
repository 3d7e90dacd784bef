"""Sources that serve files in the archive's layout: `files` (a local folder), `archive` (HTTP), `simulated`.

They differ only in how a relative path is fetched. Every zip is verified against its CHECKSUM before it
is stored; a file already in the raw mirror with a verified checksum is reused, never fetched again.
Files the archive has no CHECKSUM for (forceOrder tapes, liquidation-bar CSVs) are stored under their
sha256, so a re-export of the same name never overwrites what an earlier run ingested.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path, PurePosixPath

from ..io import layout
from ..errors import InputError
from ..params import KLINE_INTERVALS
from ..io.rawfiles import parse_checksum_file, sha256_of, verify_checksum
from ..io.storage import read_bytes, write_bytes_atomic
from ..io import tables
from .base import Pull, RawFile


class MirrorSource:
    """Base: subclasses implement `fetch(rel) -> bytes | None`, `origin(rel)` and optionally `listdir(rel)`."""

    name = "mirror"
    intervals: list[str] | None = None

    def __init__(self, raw_root: Path, intervals: list[str] | None = None):
        self.raw_root = raw_root           # a local Path, or an object-store path (lib/io/storage)
        self.mirror = self.raw_root / self.name
        self._existing: dict[str, bool] = {}          # has_day's answers, per file of the source
        if intervals:
            self.intervals = list(intervals)

    # -- transport, per subclass --------------------------------------------------------------
    def fetch(self, rel: str) -> bytes | None:
        raise NotImplementedError

    def origin(self, rel: str) -> str:
        raise NotImplementedError

    def listdir(self, rel: str) -> list[str] | None:
        """Names in a folder of the source, or None where the transport cannot list."""
        return None

    # -- the Source interface -----------------------------------------------------------------
    def pull(self, dataset: str, symbol: str, day: dt.date) -> Pull:
        """The day's raw files, by the fetch strategy the table registry names for the dataset."""
        spec = tables.get(dataset).raw
        return getattr(self, f"_pull_{spec.kind}")(spec, symbol, day)

    def _pull_archive(self, spec: tables.RawSpec, symbol: str, day: dt.date) -> Pull:
        if spec.per_interval:
            return Pull([self._first_zip(spec.archive, symbol, day, iv) for iv in self._kline_intervals(symbol)])
        if spec.required:
            return Pull([self._first_zip(spec.archive, symbol, day)])
        return self._optional(lambda: [self._first_zip(spec.archive, symbol, day)], f"no {spec.archive} file for the day")

    def _pull_tape(self, spec: tables.RawSpec, symbol: str, day: dt.date) -> Pull:
        rel = str(layout.force_order_tape(day))
        data = self.fetch(rel)
        if data is None:
            return Pull([], available=False, note=f"no forceOrder tape {self.origin(rel)}")
        return Pull([self._store_content_addressed(rel, data, "force-order-jsonl")])

    def _pull_bars(self, spec: tables.RawSpec, symbol: str, day: dt.date) -> Pull:
        return self._liquidation_bars(symbol)

    def _pull_truth(self, spec: tables.RawSpec, symbol: str, day: dt.date) -> Pull:
        return Pull([], available=False, note="ground truth exists only for the simulated source")

    def check_symbol(self, symbol: str, day: dt.date) -> None:
        """Refuse a symbol the source does not have (before it becomes a partition): InputError naming it."""
        if self.intervals and self.listdir(str(layout.kline_dirs(symbol)[0])) is None:
            # a transport that cannot list (HTTP): the day's kline file must exist, daily or monthly
            iv = self.intervals[0]
            # the answer has_day reuses for the day (one request for both, not two)
            if not any(self._exists(str(rel)) for rel in layout.candidates("klines", symbol, day, iv)):
                raise InputError(f"symbol {symbol}: the source has no {iv} klines for it on {day} "
                                 f"(looked in {self.origin(str(layout.kline_dirs(symbol)[0]))}); is it a USD-M symbol?")
            return
        self._listed_intervals(symbol, self.intervals)     # asked-for intervals too: the folder must list one

    def has_day(self, symbol: str, day: dt.date) -> bool:
        """Every required archive file of the day (each kline interval, daily or monthly) is in the mirror or
        the source: its .CHECKSUM is there (a few bytes, remembered, so a month's file is asked for once)."""
        for name in sorted(tables.REQUIRED):
            spec = tables.get(name).raw
            for iv in (self._kline_intervals(symbol) if spec.per_interval else [None]):
                if not any(self._exists(str(rel)) for rel in layout.candidates(spec.archive, symbol, day, iv)):
                    return False
        return True

    def where_days(self, symbol: str) -> str:
        return f"looked in {self.origin('futures/um')}"

    def _exists(self, rel: str) -> bool:
        if rel not in self._existing:
            self._existing[rel] = (self.mirror / rel).exists() or self.fetch(rel + ".CHECKSUM") is not None
        return self._existing[rel]

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _optional(fn, note: str) -> Pull:
        try:
            return Pull(fn())
        except FileNotFoundError:
            return Pull([], available=False, note=note)

    def _kline_intervals(self, symbol: str) -> list[str]:
        return self.intervals or self._listed_intervals(symbol)

    def _listed_intervals(self, symbol: str, wanted: list[str] | None = None) -> list[str]:
        """The kline intervals the symbol's folders list (those of `wanted`, if given); none: InputError naming it."""
        among = wanted or KLINE_INTERVALS
        found = {n for d in layout.kline_dirs(symbol) for n in (self.listdir(str(d)) or []) if n in among}
        if not found:
            raise InputError(f"symbol {symbol}: no {','.join(wanted) + ' ' if wanted else ''}klines in "
                             f"{self.origin(str(layout.kline_dirs(symbol)[0].parent))} (unknown symbol, or a folder "
                             f"not in the archive layout)")
        return sorted(found, key=KLINE_INTERVALS.get)

    def _first_zip(self, dataset: str, symbol: str, day: dt.date, interval: str | None = None) -> RawFile:
        rels = [str(r) for r in layout.candidates(dataset, symbol, day, interval)]
        for rel in rels:  # a verified copy already in the mirror is used before anything is fetched
            if (got := self._local_zip(rel, interval)) is not None:
                return got
        tried = []
        for rel in rels:
            got = self._zip(rel, interval)
            if got is not None:
                return got
            tried.append(self.origin(str(rel)))
        label = f"{dataset} {interval}" if interval else dataset
        raise FileNotFoundError(f"partition {day}|{symbol}: no {label} file for the day; looked for {' and '.join(tried)}")

    def raw_path(self, rel: str) -> str:
        """Where a file of the mirror is, relative to the raw root (what a manifest records)."""
        return (self.mirror / rel).relative_to(self.raw_root).as_posix()

    def _local_zip(self, rel: str, interval: str | None) -> RawFile | None:
        local = self.mirror / rel
        local_sum = local.with_name(local.name + ".CHECKSUM")
        try:      # tried, not asked first: on object storage an exists() is a request of its own
            expected = parse_checksum_file(read_bytes(local_sum).decode(errors="replace"), str(local_sum))
            if sha256_of(local) == expected:
                return RawFile(self.raw_path(rel), self.origin(rel), expected, local.stat().st_size, "archive-zip", interval)
        except FileNotFoundError:
            pass
        return None

    def _zip(self, rel: str, interval: str | None) -> RawFile | None:
        local = self.mirror / rel
        local_sum = local.with_name(local.name + ".CHECKSUM")
        data = self.fetch(rel)
        if data is None:
            return None
        checksum = self.fetch(rel + ".CHECKSUM")
        if checksum is None:
            raise InputError(f"{self.origin(rel)}: no .CHECKSUM beside the zip, so it cannot be verified")
        sha = verify_checksum(data, checksum.decode(errors="replace"), self.origin(rel))
        try:
            bad = zipfile.ZipFile(io.BytesIO(data)).testzip()
        except (zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f"{self.origin(rel)}: not a readable zip (truncated or corrupt: {exc})") from None
        if bad is not None:
            raise InputError(f"{self.origin(rel)}: member {bad} is corrupt")
        write_bytes_atomic(local, data)
        write_bytes_atomic(local_sum, checksum)
        return RawFile(self.raw_path(rel), self.origin(rel), sha, len(data), "archive-zip", interval)

    def _store_content_addressed(self, rel: str, data: bytes, fmt: str, **extra) -> RawFile:
        sha = sha256_of(data)
        p = PurePosixPath(rel)
        stored = str(p.parent / sha[:16] / p.name)
        local = self.mirror / stored
        if not local.exists():
            write_bytes_atomic(local, data)
        return RawFile(self.raw_path(stored), self.origin(rel), sha, len(data), fmt, **extra)

    def _liquidation_bars(self, symbol: str) -> Pull:
        base = layout.liquidation_bars_dir(symbol)
        files = []
        for interval in sorted(self.listdir(str(base)) or [], key=lambda s: KLINE_INTERVALS.get(s, 10**9)):
            for name in sorted(self.listdir(f"{base}/{interval}") or []):
                if not name.endswith(".csv"):
                    continue
                rel = f"{base}/{interval}/{name}"
                # SYM-liquidations-<venue>-<interval>.csv; the venue is what the vendor summed over.
                stem = name[: -len(".csv")]
                venue = stem.split("-liquidations-", 1)[-1].rsplit("-", 1)[0] if "-liquidations-" in stem else "unknown"
                files.append(self._store_content_addressed(rel, self.fetch(rel), "liquidation-bars-csv",
                                                           interval=interval, venue=venue))
        if not files:
            return Pull([], available=False, note=f"no liquidation bars under {self.origin(str(base))}")
        return Pull(files)


class FilesSource(MirrorSource):
    """A local folder in the archive layout (what `archive` writes, or what a user downloaded)."""

    name = "files"

    def __init__(self, raw_root: Path, path: str | Path, intervals: list[str] | None = None):
        super().__init__(raw_root, intervals)
        self.root = Path(path).expanduser().resolve()
        if not self.root.is_dir():
            raise InputError(f"path: {self.root} is not a folder")

    def _local(self, rel: str) -> Path:
        p = (self.root / rel).resolve()
        if self.root not in p.parents and p != self.root:
            raise InputError(f"{rel}: escapes the source folder {self.root}")
        return p

    def fetch(self, rel: str) -> bytes | None:
        p = self._local(rel)
        return p.read_bytes() if p.is_file() else None

    def origin(self, rel: str) -> str:
        return str(self.root / rel)

    def listdir(self, rel: str) -> list[str] | None:
        p = self._local(rel)
        return sorted(x.name for x in p.iterdir()) if p.is_dir() else []
