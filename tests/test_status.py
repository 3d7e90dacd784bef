"""`liq status`: freshness per dataset and symbol, gaps, the recorder, the jobs, and its exit code."""
import datetime as dt
import json
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from liq_pipeline.lib.io import status as st
from liq_pipeline.lib.io.storage import DataLayout, write_json_atomic

NOW = dt.datetime(2026, 5, 11, 6, 0, tzinfo=dt.UTC)


def _hours(day: dt.date, col: str) -> pd.DataFrame:
    return pd.DataFrame({col: pd.date_range(pd.Timestamp(day, tz="UTC"), periods=24, freq="1h").as_unit("ms")})


@pytest.fixture
def root(tmp_path):
    layout = DataLayout(tmp_path / "data")
    for i in range(1, 6):                          # 05-06..05-10, with 05-08 missing for OI
        day = NOW.date() - dt.timedelta(days=i)
        layout.write(_hours(day, "open_time"), "clean", "klines", "BTCUSDT", day)
        layout.write(_hours(day, "ts"), "clean", "funding", "BTCUSDT", day)
        layout.write(_hours(day, "ts"), "model", "heatmap", "BTCUSDT", day)
        if day != dt.date(2026, 5, 8):
            layout.write(_hours(day, "ts"), "clean", "open_interest", "BTCUSDT", day)
    old = dt.date(2026, 5, 1)                      # ETHUSDT stopped ten days ago
    layout.write(_hours(old, "open_time"), "clean", "klines", "ETHUSDT", old)
    layout.write(_hours(old, "ts").head(0), "clean", "liquidation_events", "BTCUSDT", old)   # a quiet day
    return tmp_path / "data"


def test_freshness_ages_gaps_and_what_is_judged(root):
    rows = {(r.table, r.symbol): r for r in st.freshness(root, NOW, dt.timedelta(hours=36))}
    kl = rows[("klines", "BTCUSDT")]
    assert kl.latest == dt.datetime(2026, 5, 10, 23, tzinfo=dt.UTC) and kl.age == dt.timedelta(hours=7)
    assert not kl.stale and kl.missing_days == []
    assert rows[("open_interest", "BTCUSDT")].missing_days == [dt.date(2026, 5, 8)]
    eth = rows[("klines", "ETHUSDT")]
    assert eth.stale and len(eth.missing_days) == 9                  # 05-02..05-10
    quiet = rows[("liquidation_events", "BTCUSDT")]
    assert quiet.latest is None and not quiet.judged and not quiet.stale
    assert not any(r.stale for r in st.freshness(root, NOW, dt.timedelta(days=11)))


def test_the_newest_time_is_the_footers_and_the_columns_where_a_writer_kept_no_statistics(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    day = dt.date(2026, 5, 10)
    table = pa.Table.from_pandas(_hours(day, "ts").sample(frac=1, random_state=1), preserve_index=False)
    newest = dt.datetime(2026, 5, 10, 23, tzinfo=dt.UTC)
    with_stats, without = tmp_path / "with.parquet", tmp_path / "without.parquet"
    pq.write_table(table, with_stats, row_group_size=5)              # the newest hour in one of five row groups
    pq.write_table(table, without, write_statistics=False)
    assert pq.read_metadata(with_stats).num_row_groups == 5
    assert pq.read_metadata(without).row_group(0).column(0).statistics is None
    assert st._latest_time(with_stats, "ts") == st._latest_time(without, "ts") == newest
    pq.write_table(table.slice(0, 0), without)
    assert st._latest_time(without, "ts") is None


def test_recorder_state_is_judged_by_its_last_message(tmp_path):
    path = tmp_path / "forceOrder" / "_recorder_status.json"
    assert st.recorder_state(tmp_path, NOW, dt.timedelta(hours=1))["stale"]          # no status file
    write_json_atomic(path, {"last_message_time": "2026-05-11T05:59:30+00:00", "written": 5, "stopped": None})
    assert not st.recorder_state(tmp_path, NOW, dt.timedelta(hours=1))["stale"]
    write_json_atomic(path, {"last_message_time": "2026-05-11T05:59:30+00:00", "stopped": "2026-05-11T05:59:31+00:00"})
    assert st.recorder_state(tmp_path, NOW, dt.timedelta(hours=1))["problem"] == "stopped"


def test_job_runs_name_the_last_success_and_failure():
    @dg.op(config_schema={"fail": bool})
    def maybe(context):
        if context.op_config["fail"]:
            raise RuntimeError("no")

    @dg.job
    def daily():
        maybe()

    with dg.DagsterInstance.ephemeral() as instance:
        ok = daily.execute_in_process(instance=instance, run_config={"ops": {"maybe": {"config": {"fail": False}}}})
        bad = daily.execute_in_process(instance=instance, raise_on_error=False,
                                       run_config={"ops": {"maybe": {"config": {"fail": True}}}})
        from liq_pipeline.runtime.runs import job_runs
        jobs = job_runs(instance)
    assert jobs["daily"]["last_success"]["run_id"] == ok.run_id and jobs["daily"]["last_failure"]["run_id"] == bad.run_id


@pytest.mark.parametrize("value, hours", [("90m", 1.5), ("36h", 36), ("2d", 48), ("12", 12)])
def test_max_age(value, hours):
    assert st.parse_age(value) == dt.timedelta(hours=hours)


def test_a_bad_max_age_is_named():
    with pytest.raises(ValueError, match="max-age: 'soon'"):
        st.parse_age("soon")


def test_the_command_exits_1_on_anything_stale_and_0_when_healthy(root, tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "liq_pipeline.cli", "status", "--data-dir", str(root),
                                     "--as-of", NOW.isoformat(), *a], capture_output=True, text=True,
                                    env={"DAGSTER_HOME": str(tmp_path / "no_instance"), "PATH": ""})
    stale = run()
    assert stale.returncode == 1 and "klines                   ETHUSDT" in stale.stdout and "STALE" in stale.stdout
    healthy = run("--max-age", "11d", "--format", "json")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    report = json.loads(healthy.stdout)
    assert report["healthy"] and {d["table"] for d in report["datasets"]} >= {"klines", "heatmap", "open_interest"}
    assert run("--max-age", "soon").stderr.startswith("error: max-age: 'soon'")


def test_a_data_root_has_one_launcher_at_a_time(tmp_path):
    from liq_pipeline.lib.io.storage import DataRootBusy, run_lock
    with run_lock(tmp_path):
        with pytest.raises(DataRootBusy, match=f"data root {tmp_path} is in use by liq run pid"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):              # released when the first ended
        pass


def test_an_empty_data_root_is_unhealthy_and_says_what_was_never_made(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "liq_pipeline.cli", "status", "--data-dir", str(tmp_path / "empty"),
                           "--format", "json"], capture_output=True, text=True,
                          env={"DAGSTER_HOME": str(tmp_path / "no_instance"), "PATH": ""})
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and not report["healthy"] and report["datasets"] == []
    assert report["never_made"] == list(st.JUDGED)


def test_a_tables_days_are_its_partition_files_and_nothing_else(tmp_path):
    from liq_pipeline.lib.io import storage
    folder = tmp_path / "clean/klines/symbol=BTCUSDT"
    for name in ("date=2026-05-02/data.parquet", "date=2026-05-01/data.parquet",
                 "date=2026-05-03/.data.abc.parquet.tmp",          # left by a killed write: no partition yet
                 "date=2026-05-04/notes.txt", "date=bad/data.parquet", "README"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    assert storage.stored_days(folder) == [dt.date(2026, 5, 1), dt.date(2026, 5, 2)]
    assert storage.stored_days(tmp_path / "nothing") == []


def _time_value(table, day: dt.date):
    """A value of the table's time column for a partition stored under `day`: a timestamp at 12:00, or the period
    as text (a day, or a month for a monthly table)."""
    kind = table.columns[table.time_col]
    if kind == "str":
        return day.strftime("%Y-%m" if table.period == "month" else "%Y-%m-%d")
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=12)


def test_status_reads_every_registered_table_daily_monthly_empty_and_missing(tmp_path):
    """Every table of the registry, as a run leaves it: daily tables with a timestamp or a day as text, the monthly
    roll-up with a month as text (a real run's validation_monthly crashed `liq status`), an empty partition, and a
    judged table never made."""
    from liq_pipeline.lib.io import tables
    layout = DataLayout(tmp_path / "data")
    day, month = dt.date(2026, 5, 10), dt.date(2026, 4, 1)
    never, empty = "funding", "liquidation_events"
    for t in tables.TABLES.values():
        if t.name == never:
            continue
        when = month if t.period == "month" else day
        frame = pd.DataFrame({"symbol": ["BTCUSDT"], t.time_col: [_time_value(t, when)]})
        layout.write(frame.head(0) if t.name == empty else frame, t.layer, t.name, "BTCUSDT", when)
    rows = {r.table: r for r in st.freshness(layout.root, NOW, dt.timedelta(hours=36))}
    assert set(rows) == set(tables.TABLES) - {never}
    assert rows["validation_monthly"].latest == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert rows["validation_monthly"].missing_days == []                # April ended and is there; May has not ended
    assert rows["volume_profile"].latest == dt.datetime(2026, 5, 10, tzinfo=dt.UTC)
    assert rows["klines"].latest == dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC) and not rows["klines"].stale
    assert rows[empty].latest is None and rows[empty].age is None
    june = st.freshness(layout.root, dt.datetime(2026, 6, 2, tzinfo=dt.UTC), dt.timedelta(hours=36))
    assert [r.missing_days for r in june if r.table == "validation_monthly"] == [[dt.date(2026, 5, 1)]]

    for fmt in ("table", "json"):
        proc = subprocess.run([sys.executable, "-m", "liq_pipeline.cli", "status", "--data-dir", str(layout.root),
                               "--as-of", NOW.isoformat(), "--format", fmt], capture_output=True, text=True,
                              env={"DAGSTER_HOME": str(tmp_path / "no_instance"), "PATH": ""})
        assert proc.returncode == 1 and proc.stderr == "", proc.stderr            # funding was never made
        if fmt == "json":
            report = json.loads(proc.stdout)
            assert report["never_made"] == [never]
            assert {d["table"] for d in report["datasets"]} == set(tables.TABLES) - {never}
        else:
            assert "validation_monthly       BTCUSDT    2026-04-01 00:00" in proc.stdout
            assert f"{never:24s} -          never made  STALE" in proc.stdout


def test_the_dagster_freshness_checks_judge_as_the_health_does(tmp_path):
    """The `fresh` checks (defs/freshness.py) and /api/health's status read the same rule: a dataset a symbol has
    kept current passes, one left behind fails with the symbol named, exactly where the health calls it stale."""
    import datetime as dt

    import pandas as pd

    from liq_pipeline.definitions import defs
    from liq_pipeline.defs.resources import StorageResource
    from liq_pipeline.lib.io import status
    from liq_pipeline.lib.io.storage import DataLayout

    root = tmp_path / "data"
    layout = DataLayout(root)
    now = dt.datetime.now(dt.UTC)
    fresh_day, old_day = now.date() - dt.timedelta(days=1), now.date() - dt.timedelta(days=5)
    for table, col, day in (("klines", "open_time", fresh_day), ("open_interest", "ts", fresh_day),
                            ("funding", "ts", old_day)):
        ts = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=24, freq="1h").as_unit("ms")
        layout.write(pd.DataFrame({"symbol": "BTCUSDT", col: ts}), "clean", table, "BTCUSDT", day)
    result = defs.resolve_job_def("freshness_job").execute_in_process(
        resources={"storage": StorageResource(data_dir=str(root))}, raise_on_error=False)
    checks = {c.asset_key.path[-1]: c for c in result.get_asset_check_evaluations()}
    assert {k: c.passed for k, c in checks.items()} == {"klines": True, "open_interest": True, "funding": False,
                                                        "heatmap": False}
    assert checks["funding"].description == "overdue: BTCUSDT" and checks["heatmap"].description == "no partition yet"
    health = status.health(root, now, status.MAX_AGE)
    stale = {t for t, d in health["symbols"]["BTCUSDT"]["datasets"].items() if d["stale"]}
    assert stale == {"funding"} and "heatmap: never made" in health["reasons"]
