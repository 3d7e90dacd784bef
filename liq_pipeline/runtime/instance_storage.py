"""The local Dagster instance's storage: Dagster's own SQLite storage (same files, same schema), with its event
log made cheap enough for range runs (dagster.yaml names it; DESIGN section 9).

A 65-day range run stores ~2,400 events (a materialisation per asset and day, a check evaluation per gate and
day). Dagster's SQLite event log opens a new SQLAlchemy engine and connection for every statement (closing the last
connection to a WAL file checkpoints it to disk) and fsyncs every commit, three commits per asset event: a fifth
of a range run's time went there (bench/event_log_speed.py). Three changes, nothing else:
- one engine per database file holding one open connection (the storage's own lock already serialises every
  use), for the few files in use (least recently used closed first), with `synchronous=NORMAL`. The files are
  already in WAL mode (Dagster sets it), where NORMAL is SQLite's recommended setting: a commit survives the
  process being killed (the crash-safety tests kill -9 mid-run); only an OS crash or power cut can lose the
  last commits, never corrupt the file.
- `store_event_batch`: Dagster hands a step's materialisations of many partitions over as one batch (when
  `DAGSTER_EVENT_BATCH_SIZE` is set; `liq run` sets it); they are written in one transaction per file instead
  of three per event, exactly the rows `store_event` writes; an asset's row in the index (its latest event) is
  written once per batch, by the events that leave it as it would be after all of them.
- whether a table exists is asked of the file once per process, not before each write (`has_table`).
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# Open database files kept per process: the index and the runs being written or read (one file per run).
OPEN_FILES = 8


def _relaxed_sync(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _last_of_each_kind(events: Sequence[EventLogEntry], ids: Sequence[int]) -> list[tuple[EventLogEntry, int]]:
    """The events whose asset row (latest materialisation, run, timestamp) survives the batch: each event rewrites
    the columns its kind sets (a materialisation all three, a planned one the run and timestamp, an observation
    the timestamp), so the last event of each (asset, kind), applied in batch order, leaves every column as the
    whole sequence would. A range step's 65 days of one asset rewrote the row 65 times (~5% of a run)."""
    last = {(e.dagster_event.asset_key, e.dagster_event_type): i for i, e in enumerate(events)}
    return [(events[i], ids[i]) for i in sorted(last.values())]


def _in_partition_order(events: Sequence[EventLogEntry]) -> list[EventLogEntry]:
    """A range step's events, each asset's in partition order (date|symbol keys sort by day). Dagster hands them
    over in the order of a set of partition keys; stored so, they share one timestamp and the UI's "latest
    materialization" (the highest storage id) was a day from the middle of the range."""
    first_seen: dict = {}
    for e in events:
        first_seen.setdefault(e.dagster_event.asset_key, len(first_seen))
    return sorted(events, key=lambda e: (first_seen[e.dagster_event.asset_key], e.dagster_event.partition or ""))


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with a reused engine per file, NORMAL synchronous commits and batched writes."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables_present: set[str] = set()
        super().__init__(base_dir, inst_data)

    def has_table(self, table_name: str) -> bool:
        """Dagster asks before many reads and writes whether a table of a later schema exists, each time through a
        new engine and connection to the index file: a table, once there, stays there."""
        if table_name not in self._tables_present:
            if not super().has_table(table_name):
                return False
            self._tables_present.add(table_name)
        return True

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=StaticPool,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
            sa_event.listen(engine, "connect", _relaxed_sync)
            self._engines[shard] = engine
            while len(self._engines) > OPEN_FILES:
                self._engines.popitem(last=False)[1].dispose()
        self._engines.move_to_end(shard)
        return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:      # emptied on wipe: a deleted file is made again
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if len({e.run_id for e in events}) != 1 or not all(
                e.is_dagster_event and e.dagster_event_type in ASSET_EVENTS for e in events):
            super().store_event_batch(events)                 # one by one, as Dagster would
            return
        events = _in_partition_order(events)
        inserts = [self.prepare_insert_event(e) for e in events]
        with self.run_connection(events[0].run_id) as conn:
            for insert in inserts:
                conn.execute(insert)
        # mirrored in the cross-run index, with the asset's tags and latest-event rows, as store_event does
        with self.index_transaction() as conn:
            ids = []
            for insert in inserts:
                with db_result(conn, insert) as result:
                    ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, ids)
            for e, event_id in _last_of_each_kind(events, ids):
                self._store_asset_event(conn, e, event_id)

    def _close_files(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()

    def wipe(self) -> None:
        with self._db_lock:
            self._close_files()           # the run files are deleted: no connection may outlive them
            self._tables_present.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            self._close_files()


class LiqSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, event log, schedules under `base_dir`) with the batching event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = BatchingSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: dict) -> LiqSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)     # Dagster's names its own class here
