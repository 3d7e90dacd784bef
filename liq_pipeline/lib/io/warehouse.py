"""The analyst warehouse: a DuckDB file of views over the Parquet of every registered table.

The file is built beside the old one and renamed over it, so an analyst never opens a half-built
warehouse (one who holds the old file open keeps reading the old, complete file); analysts connect
read-only. Builds are serialised by a lock file, so the last build to finish saw every run's data.

On an object-store root the DuckDB file is local (in the root's cache folder: a database file needs a local
disk for its locks and rename) and its views read the Parquet where it is, through the root's fsspec
filesystem registered on every connection (its listings cached: _listed). DuckDB's own httpfs extension would
do too, but it is downloaded on first use (this project runs offline) and reads its credentials its own way;
the fsspec one is the same filesystem, settings and credentials the pipeline writes with.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

# DuckDB's engine itself: the duckdb package re-exports this module's connect, connection class and errors (they
# are the same objects), and importing the package adds its Python relational API and a version lookup through
# importlib.metadata that nothing here uses, in `liq heatmap`, whose whole time is a target (< 300 ms).
try:
    import _duckdb as duckdb
except ImportError:          # a duckdb that no longer ships its engine as a top-level module
    import duckdb

from . import schemas
from ..params import day_spans
from .storage import cache_dir, is_remote, warehouse_path


def parquet_glob(root: Path, layer: str, table: str) -> str:
    return str(root / layer / table / "symbol=*" / "date=*" / "data.parquet")


# How long a connection's filesystem trusts a listing of the Parquet (see _listed).
LISTING_SECONDS = 30


def _listed(fs):
    """The root's filesystem, with its listings cached for LISTING_SECONDS: DuckDB asks a file's size and kind several
    times before reading it (a dozen HEADs a file through the pipeline's uncached filesystem); from the listing
    its glob made, those cost nothing (a build makes about a fifth of the requests). What that trusts: a file replaced after the listing was
    made (a rerun of its partition) fails the read until the listing expires; a new file is not seen till then."""
    options = {**fs.storage_options, "use_listings_cache": True, "listings_expiry_time": LISTING_SECONDS}
    return type(fs)(**options, skip_instance_cache=True)


def _connect(path: Path, root, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    return _connect_listed(path, root, read_only)[0]


def _connect_listed(path: Path, root, read_only: bool = False):
    """The connection, and the filesystem with cached listings it reads a remote root through (None if local)."""
    con = duckdb.connect(str(path), read_only=read_only)
    listed = _listed(root.fs) if is_remote(root) else None
    if listed is not None:
        con.register_filesystem(listed)
    return con, listed


def _has_partitions(root: Path, layer: str, table: str, listed) -> bool:
    """Whether the table has a partition file (what its view's glob matches). On object storage the table's prefix
    is listed flat first, once, into the listing the filesystem keeps: that glob, and DuckDB's after it, then walk
    it without a request (each would list every day's folder apart)."""
    if listed is None:
        return any((root / layer / table).glob("symbol=*/date=*/data.parquet"))
    prefix = (root / layer / table).path
    return bool(listed.find(prefix)) and bool(listed.glob(f"{prefix}/symbol=*/date=*/data.parquet"))


def build(root: Path, tables: dict[str, str], changed: dict[str, list[dt.date]] | None = None,
          derived: dict[str, Derived] | None = None) -> dict[str, int | None]:
    """(Re)create warehouse.duckdb with one view per table (name -> layer), or a table sorted as the registry
    says (what `liq heatmap` queries with a latency target), and the `derived` tables (in the DERIVED schema,
    beside the registry's tables) made from the sorted ones. Returns row counts.

    With `changed` (symbol -> the days a run wrote) and a warehouse built from the same registry, the build is
    incremental: in a copy of the file only those days' rows of the sorted tables are replaced and the views are
    redefined (they read the Parquet at query time), so a day's run costs the same at a year of history as at a
    week. Views' counts would read every file's footer: they are counted on a full build only (None)."""
    folder = cache_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".warehouse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)     # concurrent runs (several symbols) build one after another
        return _build(root, tables, changed, derived or {})


@dataclasses.dataclass(frozen=True)
class Derived:
    """A table the warehouse keeps beside a sorted one, made from its rows in SQL: `select` reads `source`'s rows
    where `{where}` holds (the whole table, or a run's days of a symbol), and the result is kept sorted by `sort`.
    What it is for is the caller's (lib/model/levels_query: the coarse timeframes pre-grouped)."""
    source: str
    select: str
    sort: str


DERIVED = "derived"          # the schema the derived tables live in: the registry's tables are `main`'s alone


def registry_fingerprint(tables: dict[str, str], derived: dict[str, Derived] | None = None) -> str:
    """What the file's tables were built from: table names, layers, columns and sort orders, and the derived
    tables' definitions."""
    from .tables import get

    blob = json.dumps({**{t: [layer, schemas.columns(t), get(t).sort] for t, layer in sorted(tables.items())},
                       **{f"{DERIVED}.{n}": dataclasses.astuple(d) for n, d in sorted((derived or {}).items())}},
                      sort_keys=True, default=str)
    return f"liq registry {hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _fingerprint_of(path: Path) -> str | None:
    """The fingerprint a warehouse file was built with (the comment on its sorted tables), None if unreadable."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        rows = con.execute("SELECT DISTINCT comment FROM duckdb_tables() WHERE comment LIKE 'liq registry %'").fetchall()
        return rows[0][0] if len(rows) == 1 else None
    finally:
        con.close()


def _build(root: Path, tables: dict[str, str], changed: dict[str, list[dt.date]] | None,
           derived: dict[str, Derived]) -> dict[str, int | None]:
    from .tables import get

    target = warehouse_path(root)
    for stale in target.parent.glob(".warehouse.*.duckdb.tmp*"):   # left by a killed build (we hold the build lock)
        stale.unlink(missing_ok=True)
    # A unique temp name: concurrent partition runs may rebuild at once; the last rename wins, all equal.
    tmp = target.parent / f".warehouse.{os.getpid()}.{uuid.uuid4().hex[:8]}.duckdb.tmp"
    fingerprint = registry_fingerprint(tables, derived)
    incremental = changed is not None and target.exists() and _fingerprint_of(target) == fingerprint
    if incremental:
        shutil.copyfile(target, tmp)
    counts = {}
    con, listed = _connect_listed(tmp, root)
    try:
        # views that already read Parquet stay as they are (listing a table's files grows with its history)
        reading = {v for v, sql in con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
                   if "read_parquet" in sql} if incremental else set()
        for table, layer in tables.items():
            sort = get(table).sort
            if incremental and sort:
                _replace_days(con, root, layer, table, changed, sort)
            elif not (incremental and table in reading):
                files = _has_partitions(root, layer, table, listed)
                sql = (f"SELECT * FROM read_parquet('{_quote(parquet_glob(root, layer, table))}', union_by_name = true, "
                       f"hive_partitioning = false)") if files else schemas.duckdb_empty_select(table)
                if sort:
                    con.execute(f'CREATE TABLE "{table}" AS {sql} ORDER BY {sort}')
                    con.execute(f"COMMENT ON TABLE \"{table}\" IS '{fingerprint}'")
                else:
                    con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {sql}')
            # a view's count reads every file's footer: counted on a full build only
            counts[table] = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0] \
                if sort or not incremental else None
        _build_derived(con, {n: d for n, d in derived.items() if d.source in tables}, changed if incremental else None)
    finally:
        con.close()
    os.replace(tmp, target)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return counts


def _replace_days(con, root: Path, layer: str, table: str, changed: dict[str, list[dt.date]], sort: str) -> None:
    """The changed (symbol, day) partitions' rows of a sorted table: deleted, and inserted anew from their files."""
    from .storage import partition_file
    from .tables import get

    time_col = get(table).time_col
    for symbol, days in changed.items():
        for lo, hi in _utc_spans(days):
            con.execute(f'DELETE FROM "{table}" WHERE symbol = ? AND {time_col} >= ? AND {time_col} < ?',
                        [symbol, lo, hi])
        files = [str(p) for d in sorted(set(days))
                 if (p := partition_file(root, layer, table, symbol, d)).exists()]
        if files:
            listed = ", ".join(f"'{_quote(f)}'" for f in files)
            con.execute(f'INSERT INTO "{table}" SELECT * FROM read_parquet([{listed}], union_by_name = true, '
                        f'hive_partitioning = false) ORDER BY {sort}')


def _build_derived(con, derived: dict[str, Derived], changed: dict[str, list[dt.date]] | None) -> None:
    """The derived tables: made anew from their sources, or (`changed`) their rows of those (symbol, day) spans
    replaced as the sources' were."""
    from .tables import get

    if not derived:             # a file without them is what a build before them made: its readers fall back
        return
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DERIVED}")
    for name, d in derived.items():
        if changed is None:
            con.execute(f'CREATE OR REPLACE TABLE {DERIVED}."{name}" AS {d.select.format(where="TRUE")} '
                        f'ORDER BY {d.sort}')
            continue
        time_col = get(d.source).time_col
        span = f"symbol = $symbol AND {time_col} >= $lo AND {time_col} < $hi"
        for symbol, days in changed.items():
            for lo, hi in _utc_spans(days):
                args = {"symbol": symbol, "lo": lo, "hi": hi}
                con.execute(f'DELETE FROM {DERIVED}."{name}" WHERE {span}', args)
                con.execute(f'INSERT INTO {DERIVED}."{name}" {d.select.format(where=span)} ORDER BY {d.sort}', args)


def _utc_spans(days: list[dt.date]):
    """The runs of consecutive days as UTC [start, end) times: what a run's rows are deleted and replaced over."""
    utc = lambda d: dt.datetime.combine(d, dt.time(), dt.UTC)  # noqa: E731
    for first, last in day_spans(days):
        yield utc(first), utc(last + dt.timedelta(days=1))


def _quote(s: str) -> str:
    return s.replace("'", "''")


class QueryRefused(ValueError):
    """An analyst's statement that is not a query: refused before it runs, in one line."""


# What `liq sql` runs: queries (SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE parse as SELECT) and EXPLAIN.
QUERY_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
# DuckDB's own controls, in the order they must be set: the directories a view may read are named before external
# access is switched off (after which they cannot change), and the configuration is locked last.
_SANDBOX = ("SET enable_external_access = false", "SET autoinstall_known_extensions = false",
            "SET autoload_known_extensions = false", "SET allow_community_extensions = false",
            "SET lock_configuration = true")


def view_directories(root) -> list[str]:
    """The folders the warehouse's views read: each registered table's own (root/layer/table/), nothing above."""
    from .tables import TABLES
    return sorted(f"{root / t.layer / t.name}/" for t in TABLES.values())


def _sandbox(con: duckdb.DuckDBPyConnection, root) -> None:
    """Lock a read-only connection to the warehouse: no file, URL or database outside the views' own folders,
    no extension installed or loaded, no setting changed. On an object-store root the views read through the
    root's fsspec filesystem, registered before the lock; DuckDB's allowed_directories names its prefixes the
    same way, so the query reaches those prefixes and nothing else in the bucket or on the machine."""
    dirs = ", ".join(f"'{_quote(d)}'" for d in view_directories(root))
    con.execute(f"SET allowed_directories = [{dirs}]")
    for statement in _SANDBOX:
        con.execute(statement)


def parse_query(con: duckdb.DuckDBPyConnection, sql: str) -> list:
    """The statements of an analyst's SQL, each a query, as DuckDB's own parser reads them; anything else
    (COPY, EXPORT, ATTACH, INSTALL, LOAD, SET, CREATE, ...) is refused naming its kind."""
    statements = con.extract_statements(sql)
    if not statements:
        raise QueryRefused("sql: no statement given")
    for i, st in enumerate(statements, 1):
        if st.type not in QUERY_STATEMENTS:
            words = st.query.split()
            verb = " ".join(words[:2] if words[0].upper() == "FORCE" else words[:1]).upper()
            where = f"statement {i}, " if len(statements) > 1 else ""
            raise QueryRefused(f"sql: {where}{verb} is refused: the warehouse answers queries only "
                               f"(SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)")
    return statements


def refusal(exc: Exception) -> str:
    """One line for a query DuckDB's sandbox stopped (a file, URL or setting out of its reach)."""
    first = str(exc).splitlines()[0].removeprefix("Permission Error: ").removeprefix("Invalid Input Error: ")
    return f"sql: refused: {first} (a query reads the warehouse's tables and views only)"


def query(root: Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Run an analyst's SQL on the warehouse: a read-only connection in DuckDB's sandbox (see _sandbox), queries
    only. Each statement runs in order; the last one's rows are returned."""
    con = connect_read_only(root)
    try:
        statements = parse_query(con, sql)
        for st in statements:
            cur = con.execute(st)
            cols = [d[0] for d in cur.description] if cur.description else []
            rows = cur.fetchall()
        return cols, rows
    finally:
        con.close()


def connect_read_only(root: Path) -> duckdb.DuckDBPyConnection:
    """A read-only, sandboxed connection to the warehouse (close it: `with contextlib.closing(...)`).

    A database instance of its own (in memory) with the file attached read-only and in use. DuckDB keeps one
    instance per path in a process and shares its settings among that path's connections: a long-lived reader (the
    server) that connected by path kept reading the file a rebuild had replaced for as long as any of its
    connections was open, and one connection's sandbox locked the configuration of the next. ATTACH opens the file
    as it is at that moment; a connection made during a rebuild reads the old, complete file to its end."""
    path = warehouse_path(root)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `liq run` first")
    con = duckdb.connect(":memory:")
    try:
        if is_remote(root):
            con.register_filesystem(_listed(root.fs))
        con.execute(f"ATTACH '{_quote(str(path))}' AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
        _sandbox(con, root)
    except BaseException:
        con.close()
        raise
    return con
