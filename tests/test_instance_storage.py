"""The instance's batching SQLite event log (runtime/instance_storage.py) records what Dagster's own does."""
import dagster as dg
import pytest

from liq_pipeline.defs import preview_apis
from liq_pipeline.runtime import EVENT_BATCH_SIZE, EVENT_BATCH_SIZE_VAR, instance_settings
from liq_pipeline.runtime.instance_storage import BatchingSqliteEventLogStorage

DEFAULT_DAGSTER_YAML = instance_settings()

DAYS = dg.DailyPartitionsDefinition("2026-01-01", end_date="2026-01-06")


with preview_apis():
    ROWS_OK = dg.AssetCheckSpec("rows_ok", asset="days", partitions_def=DAYS)


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), check_specs=[ROWS_OK])
def days(context: dg.AssetExecutionContext):
    """A range step as the pipeline's: one output for every day, then a check evaluation per day (one fails)."""
    yield dg.MaterializeResult(metadata={"rows": len(context.partition_keys)})
    for key in context.partition_keys:
        yield dg.AssetCheckEvaluation(asset_key=dg.AssetKey("days"), check_name="rows_ok", partition=key,
                                      passed=key != "2026-01-03", metadata={"day": key})
    yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(ROWS_OK.key))


def _range_run(home, yaml: str):
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml)
    instance = dg.DagsterInstance.from_config(str(home))
    result = dg.materialize([days], instance=instance, raise_on_error=False,
                            tags={"dagster/asset_partition_range_start": "2026-01-01",
                                  "dagster/asset_partition_range_end": "2026-01-05"})
    return instance, result


def _recorded(instance: dg.DagsterInstance):
    key = dg.AssetKey("days")
    mats = instance.fetch_materializations(key, limit=100).records
    checks = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, "rows_ok"), limit=100)
    entry = instance.get_asset_records([key])[0].asset_entry       # the asset's row in the cross-run index
    return {"partitions": sorted(instance.get_materialized_partitions(key)),
            "index_latest": (entry.last_materialization.dagster_event.partition,
                             entry.last_materialization_storage_id == mats[0].storage_id),
            "materialisations": sorted((m.partition_key, m.asset_materialization.metadata["rows"].value) for m in mats),
            "latest": instance.get_latest_materialization_event(key).dagster_event.partition,
            "tag_names": sorted(str(sorted(t)) for t in instance.get_event_tags_for_asset(key)),  # values name the run
            "status": instance.get_status_by_partition(key, DAYS.get_partition_keys(), DAYS),
            "checks": sorted((c.partition, c.status.value) for c in checks)}


def test_a_range_runs_events_are_stored_in_one_batch_with_the_same_records(tmp_path, monkeypatch):
    batches = []
    real = BatchingSqliteEventLogStorage.store_event_batch
    monkeypatch.setattr(BatchingSqliteEventLogStorage, "store_event_batch",
                        lambda self, events: (batches.append(len(events)), real(self, events))[1])
    monkeypatch.setenv(EVENT_BATCH_SIZE_VAR, EVENT_BATCH_SIZE)
    ours, result = _range_run(tmp_path / "ours", DEFAULT_DAGSTER_YAML.replace("env: DAGSTER_HOME", f"{tmp_path / 'ours'}"))
    assert isinstance(ours.event_log_storage, BatchingSqliteEventLogStorage)
    assert 5 in batches                                 # the five days' materialisations, handed over at once
    monkeypatch.delenv(EVENT_BATCH_SIZE_VAR)
    theirs, _ = _range_run(tmp_path / "theirs", "telemetry:\n  enabled: false\n")
    assert type(theirs.event_log_storage).__name__ == "SqliteEventLogStorage"
    got, want = _recorded(ours), _recorded(theirs)
    assert got == want
    assert got["partitions"] == DAYS.get_partition_keys() and got["latest"] == "2026-01-05"
    assert ("2026-01-03", "FAILED") in got["checks"] and len(got["checks"]) == 5
    assert result.success                               # the failed check is not blocking


@pytest.mark.parametrize("then", ["reopen", "delete the run", "wipe the instance"])
def test_the_event_log_survives_a_reopened_instance_a_deleted_run_and_a_wipe(tmp_path, then):
    home = tmp_path / "home"
    ours, result = _range_run(home, DEFAULT_DAGSTER_YAML.replace("env: DAGSTER_HOME", str(home)))
    if then == "delete the run":
        ours.delete_run(result.run_id)
    elif then == "wipe the instance":
        ours.wipe()              # deletes the run files under open connections: they must be closed first
        again = dg.materialize([days], instance=ours, partition_key="2026-01-02")
        assert ours.get_materialized_partitions(dg.AssetKey("days")) == {"2026-01-02"}
        assert len(ours.all_logs(again.run_id)) > 5
    gone = then != "reopen"
    reopened = dg.DagsterInstance.from_config(str(home))
    stored = reopened.get_materialized_partitions(dg.AssetKey("days"))
    assert stored == ({"2026-01-02"} if then == "wipe the instance" else set() if gone else set(DAYS.get_partition_keys()))
    assert len(reopened.all_logs(result.run_id)) == (0 if gone else len(ours.all_logs(result.run_id)))


def _materialise_in_a_process(home: str, first: str, last: str) -> bool:
    import os
    os.environ[EVENT_BATCH_SIZE_VAR] = EVENT_BATCH_SIZE
    with dg.DagsterInstance.from_config(home) as instance:
        return dg.materialize([days], instance=instance, tags={"dagster/asset_partition_range_start": first,
                                                               "dagster/asset_partition_range_end": last}).success


def test_two_processes_write_one_instance_at_once(tmp_path):
    """As several symbols' runs do (one process each): both runs' events all land, none is lost to a lock."""
    import concurrent.futures as cf
    import multiprocessing

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DEFAULT_DAGSTER_YAML.replace("env: DAGSTER_HOME", str(home)))
    dg.DagsterInstance.from_config(str(home)).dispose()          # the index made once, before both start
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = [pool.submit(_materialise_in_a_process, str(home), a, b)
                for a, b in (("2026-01-01", "2026-01-03"), ("2026-01-04", "2026-01-05"))]
        assert [r.result() for r in runs] == [True, True]
    instance = dg.DagsterInstance.from_config(str(home))
    assert sorted(instance.get_materialized_partitions(dg.AssetKey("days"))) == DAYS.get_partition_keys()
    checks = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("days"), "rows_ok"), limit=100)
    assert sorted(c.partition for c in checks) == DAYS.get_partition_keys()


def test_a_new_dagster_home_gets_the_shipped_settings_and_an_old_one_is_carried_over(tmp_path, monkeypatch):
    """`liq` writes the shipped dagster.yaml into a $DAGSTER_HOME that has none (telemetry off, the run queue, our
    storage); an instance made before runtime/ existed names the storage's old module, and is pointed at the new."""
    import yaml

    from liq_pipeline import runtime
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "new"))
    settings = yaml.safe_load((runtime.instance_home() / "dagster.yaml").read_text())
    assert settings["telemetry"] == {"enabled": False}
    assert settings["storage"]["custom"]["module"] == "liq_pipeline.runtime.instance_storage"
    old = tmp_path / "old"
    old.mkdir()
    (old / "dagster.yaml").write_text(DEFAULT_DAGSTER_YAML.replace("runtime.instance_storage", "defs.instance_storage"))
    monkeypatch.setenv("DAGSTER_HOME", str(old))
    runtime.instance_home()
    assert (old / "dagster.yaml").read_text() == DEFAULT_DAGSTER_YAML
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)


def test_an_assets_index_row_is_written_by_the_events_that_leave_it_as_the_whole_batch_would():
    """Each kind of asset event rewrites its own columns of the asset's row: the last of each (asset, kind),
    in batch order, is what the whole sequence would leave."""
    from types import SimpleNamespace

    from liq_pipeline.runtime.instance_storage import _last_of_each_kind

    def event(asset, kind):
        return SimpleNamespace(dagster_event=SimpleNamespace(asset_key=asset), dagster_event_type=kind, name=f"{asset}:{kind}")

    batch = [event("a", "MAT"), event("a", "OBS"), event("b", "MAT"), event("a", "MAT"), event("b", "MAT"),
             event("a", "PLANNED")]
    kept = _last_of_each_kind(batch, [10, 11, 12, 13, 14, 15])
    assert [(e.name, i) for e, i in kept] == [("a:OBS", 11), ("a:MAT", 13), ("b:MAT", 14), ("a:PLANNED", 15)]


DATE_SYMBOL = dg.MultiPartitionsDefinition({"date": dg.DailyPartitionsDefinition("2026-01-01", end_date="2026-02-01"),
                                            "symbol": dg.StaticPartitionsDefinition(["BTCUSDT"])})


@dg.asset(partitions_def=DATE_SYMBOL, backfill_policy=dg.BackfillPolicy.single_run())
def book(context: dg.AssetExecutionContext):
    return dg.MaterializeResult()


def test_a_range_of_date_symbol_partitions_is_stored_in_day_order(tmp_path, monkeypatch):
    """Dagster hands a multi-partitioned range's materialisations over in a set's order: the UI's latest
    materialisation of the asset was a day from the middle of the range. Stored in day order, it is the last day."""
    monkeypatch.setenv(EVENT_BATCH_SIZE_VAR, EVENT_BATCH_SIZE)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DEFAULT_DAGSTER_YAML.replace("env: DAGSTER_HOME", str(home)))
    instance = dg.DagsterInstance.from_config(str(home))
    result = dg.materialize([book], instance=instance,
                            tags={"dagster/asset_partition_range_start": "2026-01-01|BTCUSDT",
                                  "dagster/asset_partition_range_end": "2026-01-31|BTCUSDT"})
    assert result.success
    key = dg.AssetKey("book")
    assert instance.get_latest_materialization_event(key).dagster_event.partition == "2026-01-31|BTCUSDT"
    stored = [m.partition_key for m in instance.fetch_materializations(key, limit=100).records]   # newest first
    assert stored == sorted(stored, reverse=True) and len(stored) == 31
