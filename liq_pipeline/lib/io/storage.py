"""Where outputs live and how they are written: atomically, one file per (table, symbol, day).

    <root>/raw/<source>/...                         files as pulled, in the source's own layout
    <root>/raw/_manifests/<dataset>/SYM/DATE.json   what a raw partition ingested
    <root>/clean/<table>/symbol=SYM/date=DATE/data.parquet     (and model/<table>/…)
    <root>/model/_state/profile/SYM/DATE.npz          the volume profile's per-day parts of a day's window
    <root>/reports/SYM/…                            pictures and reports
    <root>/warehouse.duckdb                         (a remote root's is in its local cache: see warehouse_path)
`DataLayout` is the one place these paths are made; the storage resource hands it to every asset.

The root may be object storage (`s3://BUCKET/PREFIX`, through fsspec/s3fs and the standard AWS variables,
AWS_ENDPOINT_URL included): paths are then universal-pathlib paths with the same API. An object store has no
rename, but a PUT is atomic (an object appears whole, or not at all), so a file is written there in one PUT of its
finished bytes: a reader never sees half an object. What must be local (locks, the DuckDB file) goes to a cache
folder per root (cache_dir).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..params import ParameterError

if TYPE_CHECKING:
    import pandas as pd

# pandas and pyarrow are imported where a frame is read or written, not here: `liq heatmap` and `liq sql` import
# this module for the data root alone, and their whole time is a target (importing pandas would be most of it).


CACHE_DIR_VAR = "LIQ_CACHE_DIR"
_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://")
REMOTE_PROTOCOLS = ("s3",)


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $LIQ_DATA_DIR, else ./data; a local one always absolute, a URL as object storage."""
    value = str(explicit or os.environ.get("LIQ_DATA_DIR") or "data")
    m = _URL.match(value)
    if m is None:
        return Path(value).expanduser().resolve()
    if m.group(1) not in REMOTE_PROTOCOLS:
        raise ParameterError(f"data dir: {value!r}: only a local folder or "
                             f"{', '.join(p + '://' for p in REMOTE_PROTOCOLS)} is supported")
    from upath import UPath
    # no listings cache: other processes (other symbols' runs) write under the same prefixes
    options = {"use_listings_cache": False}
    if m.group(1) == "s3":
        # s3fs asks an object's size (a HEAD) before each whole read, to split one larger than 50 MB into parallel
        # ranges; a partition is a few MB, so one GET is all a read needs
        options["max_concurrency"] = 1
    return UPath(value.rstrip("/"), **options)


def is_remote(path) -> bool:
    return not isinstance(path, Path)


def cache_dir(root) -> Path:
    """Local room for what a root needs on this machine: its run lock and, for a remote root, the warehouse file.
    A local root keeps them in itself; a remote one in $LIQ_CACHE_DIR (else ~/.cache/liq_pipeline), one folder per
    root URL."""
    if not is_remote(root):
        return root
    base = Path(os.environ.get(CACHE_DIR_VAR) or Path.home() / ".cache" / "liq_pipeline").expanduser()
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(root))[:80] + "-" + hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return base / name


@dataclasses.dataclass(frozen=True)
class DataLayout:
    """Every path under one data root."""
    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def warehouse(self) -> Path:
        return warehouse_path(self.root)

    def partition(self, layer: str, table: str, symbol: str, day: dt.date) -> Path:
        return partition_file(self.root, layer, table, symbol, day)

    def manifest(self, dataset: str, symbol: str, day: dt.date) -> Path:
        return manifest_path(self.root, dataset, symbol, day)

    def profile_state(self, symbol: str, day: dt.date) -> Path:
        """The volume profile's per-day parts for `day`'s window (what the next day's profile carries on)."""
        return self.root / "model" / "_state" / "profile" / symbol / f"{day.isoformat()}.npz"

    def reports(self, symbol: str) -> Path:
        return self.root / "reports" / symbol

    def read(self, layer: str, table: str, symbol: str, day: dt.date) -> pd.DataFrame:
        return read_partition(self.root, layer, table, symbol, day)

    def read_days(self, layer: str, table: str, symbol: str, days: list[dt.date],
                  columns: list[str] | None = None) -> pd.DataFrame:
        return read_partitions(self.root, layer, table, symbol, days, columns)

    def write(self, df: pd.DataFrame, layer: str, table: str, symbol: str, day: dt.date) -> Written:
        return Written.of(df, write_partition(df, self.root, layer, table, symbol, day))

    def rows(self, layer: str, table: str, symbol: str, day: dt.date) -> int:
        """A stored partition's row count, from its Parquet footer."""
        path = partition_file(self.root, layer, table, symbol, day)
        try:
            return parquet_rows(path)
        except FileNotFoundError:
            raise not_materialised(table, symbol, day, path) from None


@dataclasses.dataclass(frozen=True)
class Written:
    """A partition as written (DataLayout.write): its path, row count and first rows, what a step records of it.
    A step whose partitions are written in a worker (lib/parallel) gets this back instead of the frame: sending a
    day's frame between processes cost more than writing it (100k simulated positions with their provenance
    strings: 30 MB pickled), and the gate reads what is stored (lib/io/quality.run_suite_on_stored)."""
    path: Path
    rows: int
    head: pd.DataFrame

    HEAD_ROWS = 5

    @classmethod
    def of(cls, df: pd.DataFrame, path: Path) -> "Written":
        return cls(path, len(df), df.iloc[:cls.HEAD_ROWS])


def warehouse_path(root) -> Path:
    return cache_dir(root) / "warehouse.duckdb"


def _file_mode() -> int:
    """The mode a file created here would get under this process's umask. The atomic writers' temp files are made
    0600 (mkstemp); renamed into place as they are, every output was private to its writer whatever the umask."""
    try:        # Linux reports the umask without setting it (os.umask would change it for every thread a moment)
        status = Path("/proc/self/status").read_text()
        mask = int(re.search(r"^Umask:\s*([0-7]+)", status, re.M).group(1), 8)
    except (OSError, AttributeError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and rename: readers never see half a file. On object storage, one
    PUT of the whole bytes does the same."""
    if is_remote(path):
        path.write_bytes(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj) -> None:
    write_bytes_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def partition_dir(root: Path, layer: str, table: str, symbol: str, day: dt.date) -> Path:
    return root / layer / table / f"symbol={symbol}" / f"date={day.isoformat()}"


PARTITION_FILE = re.compile(r"date=(\d{4}-\d{2}-\d{2})/data\.parquet")


def stored_days(folder: Path) -> list[dt.date]:
    """The days that have a partition file under a table's `symbol=…` folder, from one listing: on object storage a
    paginated LIST of the prefix, not a request per day."""
    if is_remote(folder):
        names = [k[len(folder.path):].lstrip("/") for k in folder.fs.find(folder.path)]
    else:
        names = [p.relative_to(folder).as_posix() for p in folder.glob("date=*/data.parquet")]
    return sorted(dt.date.fromisoformat(m.group(1)) for m in map(PARTITION_FILE.fullmatch, names) if m)


def partition_file(root: Path, layer: str, table: str, symbol: str, day: dt.date) -> Path:
    """The one Parquet file of a partition."""
    return partition_dir(root, layer, table, symbol, day) / "data.parquet"


def write_partition(df: pd.DataFrame, root: Path, layer: str, table: str, symbol: str, day: dt.date) -> Path:
    """Replace exactly this partition's file, atomically. Empty frames are written too (with schema)."""
    path = partition_file(root, layer, table, symbol, day)
    import pyarrow as pa
    import pyarrow.parquet as pq
    table_ = pa.Table.from_pandas(df, preserve_index=False)
    if is_remote(path):
        sink = pa.BufferOutputStream()
        pq.write_table(table_, sink, compression="zstd")
        write_bytes_atomic(path, sink.getvalue().to_pybytes())
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(".data.*.parquet.tmp"):     # left by a killed run (one writer per root)
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".data.", suffix=".parquet.tmp")
    os.fchmod(fd, _file_mode())
    os.close(fd)
    try:
        pq.write_table(table_, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def stored_partition(root: Path, layer: str, table: str, symbol: str, day: dt.date):
    """What the Parquet readers take of a partition's file, which must exist: its local path, or its object's bytes.
    On object storage that is one GET, which also says whether it exists (an exists() first would be a HEAD more,
    and opening the object another)."""
    path = partition_file(root, layer, table, symbol, day)
    try:
        return readable_parquet(path)
    except FileNotFoundError:
        raise not_materialised(table, symbol, day, path) from None


def not_materialised(table: str, symbol: str, day: dt.date, path) -> FileNotFoundError:
    return FileNotFoundError(f"partition {table} {symbol}/{day} has not been materialised ({path} missing)")


def read_partition(root: Path, layer: str, table: str, symbol: str, day: dt.date) -> pd.DataFrame:
    import pandas as pd
    return pd.read_parquet(stored_partition(root, layer, table, symbol, day))


def read_bytes(path: Path) -> bytes:
    """A file's bytes; FileNotFoundError if it is missing. An object is one GET (a Path's read_bytes would HEAD it
    first), so no exists() before it either."""
    return path.fs.cat_file(path.path) if is_remote(path) else path.read_bytes()


def parquet_source(data: bytes):
    """Parquet bytes as a reader over a copy in Arrow's own memory. Never over memory Python owns (an open file, a
    BytesIO, the bytes themselves): Arrow's pool threads then call back into Python (to read, or to release the
    bytes), and one still doing so as the interpreter exits aborts the process ("terminate called without an active
    exception", exit -6; apache/arrow#50482). `liq status` failed CI so; bench/exit_abort.py counts it per way."""
    import pyarrow as pa
    sink = pa.BufferOutputStream()
    sink.write(data)
    return pa.BufferReader(sink.getvalue())


def readable_parquet(path: Path):
    """What the Parquet readers take of a file: a local path as it is (FileNotFoundError if it is missing), or an
    object's bytes (one GET) in Arrow's reader."""
    if is_remote(path):
        return parquet_source(read_bytes(path))
    if not path.exists():
        raise FileNotFoundError(path)
    return path


PARQUET_TAIL = 64 * 1024      # the first guess at a footer's size: a partition's is a few KiB


def parquet_footer(path: Path):
    """A Parquet file's footer (row count, schema, each row group's column statistics), read alone. An object is
    not fetched whole (a day's simulated positions are megabytes): one ranged GET of its tail, a second only if the
    footer is longer than that; either says whether the object exists (FileNotFoundError)."""
    import pyarrow.parquet as pq
    if not is_remote(path):
        return pq.read_metadata(readable_parquet(path))
    tail = path.fs.cat_file(path.path, start=-PARQUET_TAIL)      # a suffix range: the whole of a smaller object
    if len(tail) < 12 or tail[-4:] != b"PAR1":
        raise InputError(f"{path}: not a Parquet file (it does not end in PAR1)")
    need = int.from_bytes(tail[-8:-4], "little") + 8          # the footer, its length and the magic
    if len(tail) < need:
        tail = path.fs.cat_file(path.path, start=-need)
    # a Parquet file is PAR1 <data> <footer> <length> PAR1: its tail behind the leading magic reads as one whose
    # footer is all there is, which is all pyarrow reads of it here
    return pq.read_metadata(parquet_source(b"PAR1" + tail[-need:]))


def parquet_rows(path: Path) -> int:
    """A Parquet file's row count, from its footer alone (`parquet_footer`)."""
    return parquet_footer(path).num_rows


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    import pandas as pd
    return pd.read_parquet(readable_parquet(path), columns=columns)


def read_partitions(root: Path, layer: str, table: str, symbol: str, days: list[dt.date],
                    columns: list[str] | None = None) -> pd.DataFrame:
    """Concatenate the partitions that exist among `days` (missing days are simply absent); `columns`: only those."""
    frames = []
    for d in days:
        try:
            frames.append(read_parquet(partition_file(root, layer, table, symbol, d), columns))
        except FileNotFoundError:
            continue
    return concat_days(frames)


def concat_days(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Days' partitions as one frame, as read_partitions returns them (empty ones left out)."""
    import pandas as pd
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def manifest_path(root: Path, dataset: str, symbol: str, day: dt.date) -> Path:
    return root / "raw" / "_manifests" / dataset / symbol / f"{day.isoformat()}.json"


class DataRootBusy(RuntimeError):
    pass


@contextlib.contextmanager
def run_lock(root: Path):
    """Held by one `liq run` per data root for its whole length: a second one stops at once, saying who holds
    it (two launchers on one root would race on the same partitions and book states). The lock is the kernel's
    (flock), so a killed run leaves none behind; a remote root's is in its local cache (one machine launches)."""
    folder = cache_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".liq-run.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise DataRootBusy(f"data root {root} is in use by {holder}; wait for it to finish, "
                               f"or give this run another --data-dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"liq run pid {os.getpid()} since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
