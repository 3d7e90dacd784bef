"""The analyst warehouse: a DuckDB file of views over the Parquet of every registered table.

The file is built beside the old one and renamed over it, so an analyst never opens a half-built
warehouse (one who holds the old file open keeps reading the old, complete file); analysts connect
read-only. Builds are serialised by a lock file, so the last build to finish saw every run's data.

On an object-store root the DuckDB file is local (in the root's cache folder: a database file needs a local
disk for its locks and rename) and its views read the Parquet where it is, through the root's fsspec
filesystem registered on every connection. DuckDB's own httpfs extension would do too, but it is downloaded on
first use (this project runs offline) and reads its credentials its own way; the fsspec one is the same
filesystem, settings and credentials the pipeline writes with.
"""
from __future__ import annotations

import fcntl
import os
import uuid
from pathlib import Path

import duckdb

from . import schemas
from .storage import cache_dir, is_remote, warehouse_path


def parquet_glob(root: Path, layer: str, table: str) -> str:
    return str(root / layer / table / "symbol=*" / "date=*" / "data.parquet")


def _connect(path: Path, root, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=read_only)
    if is_remote(root):
        con.register_filesystem(root.fs)
    return con



def build(root: Path, tables: dict[str, str]) -> dict[str, int]:
    """(Re)create warehouse.duckdb with one view per table (name -> layer), or a table sorted as the registry
    says (what `liq heatmap` queries with a latency target). Returns row counts."""
    folder = cache_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".warehouse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)     # concurrent runs (several symbols) build one after another
        return _build(root, tables)


def _build(root: Path, tables: dict[str, str]) -> dict[str, int]:
    from .tables import get

    target = warehouse_path(root)
    for stale in target.parent.glob(".warehouse.*.duckdb.tmp*"):   # left by a killed build (we hold the build lock)
        stale.unlink(missing_ok=True)
    # A unique temp name: concurrent partition runs may rebuild at once; the last rename wins, all equal.
    tmp = target.parent / f".warehouse.{os.getpid()}.{uuid.uuid4().hex[:8]}.duckdb.tmp"
    counts = {}
    con = _connect(tmp, root)
    try:
        for table, layer in tables.items():
            if any((root / layer / table).glob("symbol=*/date=*/data.parquet")):
                glob = parquet_glob(root, layer, table).replace("'", "''")
                sql = f"SELECT * FROM read_parquet('{glob}', union_by_name = true, hive_partitioning = false)"
            else:
                sql = schemas.duckdb_empty_select(table)
            if get(table).sort:
                con.execute(f'CREATE TABLE "{table}" AS {sql} ORDER BY {get(table).sort}')
            else:
                con.execute(f'CREATE VIEW "{table}" AS {sql}')
            counts[table] = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]
    finally:
        con.close()
    os.replace(tmp, target)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return counts


def query(root: Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Run SQL on the warehouse read-only: writes fail inside DuckDB, not by our inspection."""
    con = connect_read_only(root)
    try:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()
    finally:
        con.close()


def connect_read_only(root: Path) -> duckdb.DuckDBPyConnection:
    path = warehouse_path(root)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `liq run` first")
    return _connect(path, root, read_only=True)

