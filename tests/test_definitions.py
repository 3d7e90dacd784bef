"""The Definitions load; the asset graph is the one the README documents; the table registry drives the assets,
their gates, the suites and the warehouse views; the schedule's ticks request exactly yesterday's partitions."""
import datetime as dt
import os
import json
import re
import zipfile

import dagster as dg
import pytest

from liq_pipeline.definitions import defs
from liq_pipeline.lib.io import tables, warehouse

from .conftest import REPO


def documented_graph() -> dict[str, set[str]]:
    text = (REPO / "docs" / "pipeline.md").read_text()
    block = text.split("<!-- asset-graph -->")[1].split("<!-- /asset-graph -->")[0]
    graph = {}
    for line in block.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|\s*(.*?)\s*\|", line)
        if m:
            graph[m.group(1)] = set(re.findall(r"`([^`]+)`", m.group(2)))
    return graph


def test_definitions_load_and_graph_is_documented():
    graph = defs.resolve_asset_graph()
    actual = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert actual == documented_graph()


def test_loading_the_definitions_imports_no_heavy_library_the_steps_import_themselves():
    """Every `liq` process, run process and code server loads the definitions: the statistics, gates, plots and
    warehouse libraries are imported where they are used (seconds of each start otherwise)."""
    import subprocess
    import sys
    heavy = ("scipy.stats", "great_expectations", "matplotlib", "duckdb")
    code = f"import sys, liq_pipeline.definitions, liq_pipeline.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _checks() -> dict[str, dg.AssetCheckSpec]:
    return {spec.asset_key.to_user_string(): spec for ad in defs.assets for spec in ad.check_specs}


def test_the_registry_drives_assets_gates_suites_and_views(tmp_path):
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    checks = _checks()
    for t in tables.TABLES.values():
        key = f"{t.layer}/{t.name}"
        assert key in keys, key                                         # its asset
        assert checks[key].blocking and checks[key].name == f"gx_{t.suite}"   # its gate, beside it, blocking
        suite = json.loads((REPO / "expectations" / f"{t.suite}.json").read_text())
        assert suite["name"] == t.suite                                 # its suite
        if t.raw is not None:
            assert f"raw/{t.name}" in keys
    # nothing unregistered: every non-raw asset but the warehouse is a table, every suite belongs to one
    assert {k for k in keys if not k.startswith("raw/")} - {"warehouse"} == {f"{t.layer}/{t.name}" for t in tables.TABLES.values()}
    assert {k[len("raw/"):] for k in keys if k.startswith("raw/")} == set(tables.SOURCED)
    assert {p.stem for p in (REPO / "expectations").glob("*.json")} == {t.suite for t in tables.TABLES.values()}
    assert set(checks) == {f"{t.layer}/{t.name}" for t in tables.TABLES.values()}
    # its view: the warehouse has one per table, typed even when no partition exists yet
    counts = warehouse.build(tmp_path, {t.name: t.layer for t in tables.TABLES.values()})
    assert set(counts) == set(tables.TABLES) and not any(counts.values())


def test_readme_lists_every_registered_table():
    text = (REPO / "docs" / "pipeline.md").read_text()
    block = text.split("<!-- tables -->")[1].split("<!-- /tables -->")[0].strip()
    assert block == tables.markdown()


def test_every_asset_runs_ranges_in_one_step():
    for ad in defs.assets:
        assert ad.backfill_policy == dg.BackfillPolicy.single_run(), ad.keys


def test_packaged_wheel_ships_the_suites_and_every_package(tmp_path):
    import shutil
    import subprocess
    import sys

    uv = [shutil.which("uv")] if shutil.which("uv") else ["python3", "-m", "uv"]     # as the Makefile finds it
    subprocess.run([*uv, "build", "--wheel", "-o", str(tmp_path), str(REPO)], check=True, capture_output=True)
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    for t in tables.TABLES.values():
        assert f"liq_pipeline/expectations/{t.suite}.json" in names
    packages = {p.parent.relative_to(REPO).as_posix() for p in (REPO / "liq_pipeline").rglob("*.py")}
    assert {f"{p}/__init__.py" for p in packages} <= set(names)
    # installed from the wheel alone, the gates find their suites
    target = tmp_path / "site"
    subprocess.run([*uv, "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(next(tmp_path.glob("*.whl")))], check=True)
    code = ("import liq_pipeline.lib.io.quality as q, pandas as pd; d = q.default_expectations_dir(); "
            "print(d); print(q.run_suite('clean_funding', pd.DataFrame(), {'funding_cap': 0.003, "
            "'neg_funding_cap': -0.003}).evaluated)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": "", "HOME": str(tmp_path)}, check=True).stdout.split()
    assert out[0].startswith(str(target)) and int(out[1]) > 5


def _tick(instance, when, schedule="daily_schedule"):
    ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                    repository_def=defs.get_repository_def())
    return defs.resolve_schedule_def(schedule).evaluate_tick(ctx)


def _skip_then_requests(instance, when, schedule):
    """A tick with no symbol known skips with its reason; with two, it requests one run per symbol."""
    empty = _tick(instance, when, schedule)
    assert not empty.run_requests and "no symbols yet" in empty.skip_message
    instance.add_dynamic_partitions("symbol", ["ETHUSDT", "BTCUSDT"])
    return _tick(instance, when, schedule)


def test_daily_schedule_requests_yesterday_for_every_symbol():
    with dg.instance_for_test() as instance:
        got = _skip_then_requests(instance, dt.datetime(2026, 11, 20, 3, tzinfo=dt.UTC), "daily_schedule")
        assert [(r.run_key, r.partition_key) for r in got.run_requests] == [
            ("2026-11-19|BTCUSDT", "2026-11-19|BTCUSDT"), ("2026-11-19|ETHUSDT", "2026-11-19|ETHUSDT")]
        assert all(r.run_config == {"resources": {"source": {"config": {"feed": {"auto": {}}}}}}
                   for r in got.run_requests)
        # the first of a month asks for the last day of the month before
        first = _tick(instance, dt.datetime(2026, 3, 1, 3, tzinfo=dt.UTC))
        assert [r.partition_key for r in first.run_requests] == ["2026-02-28|BTCUSDT", "2026-02-28|ETHUSDT"]
    assert defs.resolve_schedule_def("daily_schedule").cron_schedule == "0 3 * * *"


def test_monthly_schedule_requests_the_finished_month_for_every_symbol():
    def tick(instance, when):
        return _tick(instance, when, "monthly_schedule")

    with dg.instance_for_test() as instance:
        got = _skip_then_requests(instance, dt.datetime(2026, 5, 1, 5, tzinfo=dt.UTC), "monthly_schedule")
        assert [(r.run_key, r.partition_key) for r in got.run_requests] == [
            ("2026-04|BTCUSDT", "2026-04-01|BTCUSDT"), ("2026-04|ETHUSDT", "2026-04-01|ETHUSDT")]
        january = tick(instance, dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC))      # across the year
        assert [r.partition_key for r in january.run_requests] == ["2025-12-01|BTCUSDT", "2025-12-01|ETHUSDT"]
        # the requested keys are partitions of the monthly job's assets
        keys = defs.resolve_job_def("monthly_job").partitions_def.get_partition_keys(dynamic_partitions_store=instance)
        assert {r.partition_key for r in got.run_requests} <= set(keys)
    sched = defs.resolve_schedule_def("monthly_schedule")
    assert sched.cron_schedule == "0 5 1 * *" and sched.job_name == "monthly_job"


def test_a_source_is_one_feed_of_a_kind_with_its_own_settings_and_estimator_config_validated():
    from liq_pipeline.defs.model.config import EstimatorConfig
    from liq_pipeline.defs.resources import FEEDS, FilesFeed, SimulatedFeed, SourceResource
    from liq_pipeline.lib.model.config import ModelConfig
    from liq_pipeline.lib.sources import SOURCE_KINDS

    assert tuple(FEEDS) == tuple(SOURCE_KINDS)
    # no feed carries a field another kind ignores: each kind's settings are its own
    shared = set.intersection(*(set(f.model_fields) for f in FEEDS.values()))
    assert shared == {"kind"}, shared
    job = defs.resolve_job_def("daily_job")
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"resources": {"source": {"config": {"feed": {"ftp": {}}}}}})
    with pytest.raises(dg.DagsterInvalidConfigError):            # a files feed needs its folder
        dg.validate_run_config(job, {"resources": {"source": {"config": {"feed": {"files": {}}}}}})
    with pytest.raises(dg.DagsterInvalidConfigError):            # a setting of another kind
        dg.validate_run_config(job, {"resources": {"source": {"config": {"feed": {"files": {"path": "/x", "seed": 1}}}}}})
    with pytest.raises(Exception, match="intervals: '7m' is not a kline interval"):
        FilesFeed(path="/x", intervals=["7m"])
    with pytest.raises(dg.DagsterInvalidConfigError):     # no per-source defaults: one configuration for every feed
        dg.validate_run_config(job, {"resources": {"source": {"config": {"feed": {"auto": {}}, "market": "real"}}}})
    with pytest.raises(Exception, match="leverage_mix .* must be non-negative and sum to 1"):
        EstimatorConfig(leverages=[10, 20], leverage_mix=[0.7, 0.7])
    cfg = EstimatorConfig(leverages=[10, 20], leverage_mix=[0.7, 0.3], decay_half_life_hours=0, turnover_decay=0).build()
    assert cfg.leverages == (10, 20) and cfg.decay_half_life_hours is None and cfg.turnover_decay is None
    assert cfg.key() != ModelConfig().key()
    assert EstimatorConfig(turnover_decay=0.5).build().turnover_decay == 0.5
    assert EstimatorConfig().build() == ModelConfig()
    # one configuration for every market (what the walk-forward chose on real data), and a setting beats it
    assert isinstance(SourceResource().feed, SimulatedFeed)
    assert (ModelConfig().turnover_decay, ModelConfig().flow_weight, ModelConfig().decay_half_life_hours,
            ModelConfig().leverage_turnover_exponent) == (0.5, 0.5, 72.0, 1.2)
    assert EstimatorConfig(leverage_turnover_exponent=0).build().leverage_turnover_exponent == 0.0
    assert EstimatorConfig(turnover_decay=0, flow_weight=1.0).build() == ModelConfig(turnover_decay=None, flow_weight=1.0)


def test_every_executor_mode_is_one_config_away_on_the_same_definitions():
    from liq_pipeline.defs import EXECUTORS
    from liq_pipeline.runtime.launch import run_config

    job = defs.resolve_job_def("daily_job")
    assert job.executor_def.name == "liq_executor"
    storage, source = {"data_dir": "/tmp/x"}, {"feed": {"simulated": {}}}
    for mode in EXECUTORS:                  # what `liq run --executor MODE` sends
        dg.validate_run_config(job, run_config(storage, source, mode, broker="redis://127.0.0.1:6379/0"))
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {**run_config(storage, source), "execution": {"config": {"threads": {}}}})


@pytest.mark.slow
def test_steps_run_in_processes_forked_by_the_multiprocess_executor(dagster_env, real):
    """`liq run --executor multiprocess`'s config: each step in its own process, forked from Dagster's forkserver
    with the definitions preloaded. A real day's history assets (raw and clean klines, OI, funding, and their
    gates) run that way, each step in a process of its own."""
    from liq_pipeline.runtime.launch import HISTORY_ASSETS, daily_job_definition, run_config
    from liq_pipeline.defs.partitions import range_tags

    day = dt.date(2026, 4, 5)
    config = run_config({"data_dir": str(dagster_env / "data")}, {"feed": {"files": {"path": str(real)}}},
                        "multiprocess")
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("symbol", ["BTCUSDT"])
        result = dg.execute_job(dg.reconstructable(daily_job_definition), instance=instance, run_config=config,
                                tags=range_tags(day, day, "BTCUSDT"), asset_selection=HISTORY_ASSETS)
        assert result.success
        starts = [rec.dagster_event for rec in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_START)]
        pids = {ev.pid for ev in starts}
        # the gates; a selection's run also judges its assets' freshness against the wall clock (old data: overdue)
        checks = [c for c in result.get_asset_check_evaluations() if c.check_name != "fresh"]
    assert len(starts) >= len(HISTORY_ASSETS) and len(pids) == len(starts) and os.getpid() not in pids  # a process a step
    assert checks and all(c.passed for c in checks)
    assert (dagster_env / "data" / "clean" / "klines" / "symbol=BTCUSDT" / "date=2026-04-05" / "data.parquet").exists()


def test_a_cluster_turns_on_dagster_k8s_step_executor_with_the_same_definitions(tmp_path):
    import subprocess
    import sys

    # what a Kubernetes deployment's run config selects (README), checked where LIQ_K8S_EXECUTOR=1 as there
    script = """
import dagster as dg
from liq_pipeline.definitions import defs
from liq_pipeline.runtime.launch import run_config
job = defs.resolve_job_def("daily_job")
config = run_config({"data_dir": "s3://bucket/prefix"}, {"feed": {"auto": {}}})
config["execution"] = {"config": {"k8s": {"job_namespace": "liq", "image_pull_policy": "IfNotPresent",
                                          "env_vars": ["LIQ_DATA_DIR", "AWS_ENDPOINT_URL"]}}}
dg.validate_run_config(job, config)
print("valid")
"""
    env = {**os.environ, "LIQ_K8S_EXECUTOR": "1", "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "valid", proc.stderr[-2000:]
    from liq_pipeline.defs.executors import executors
    assert "k8s" not in executors()              # off by default: its import costs every process ~0.7 s
