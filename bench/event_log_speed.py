"""What Dagster's event log costs a range run: one step over N day partitions that stores a materialisation and
a check evaluation per day (as every gated asset of the pipeline does), through Dagster's own SQLite storage
and through the instance's (runtime/instance_storage.py, what dagster.yaml names).

    python bench/event_log_speed.py [--days 365]
"""

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import dagster as dg

from liq_pipeline.defs import preview_apis
from liq_pipeline.runtime import EVENT_BATCH_SIZE, EVENT_BATCH_SIZE_VAR, instance_settings

DEFAULT_DAGSTER_YAML = instance_settings()


def _job(days: int):
    parts = dg.DailyPartitionsDefinition("2025-01-01", end_date=(dt.date(2025, 1, 1) + dt.timedelta(days=days)).isoformat())
    with preview_apis():
        spec = dg.AssetCheckSpec("gate", asset="table", partitions_def=parts)

    @dg.asset(partitions_def=parts, backfill_policy=dg.BackfillPolicy.single_run(), check_specs=[spec])
    def table(context: dg.AssetExecutionContext):
        yield dg.MaterializeResult(metadata={"rows": 1})
        for key in context.partition_keys:
            yield dg.AssetCheckEvaluation(asset_key=dg.AssetKey("table"), check_name="gate", partition=key, passed=True)
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(spec.key))

    return table, parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    days = ap.parse_args().days
    table, parts = _job(days)
    keys = parts.get_partition_keys()
    for label, yaml, batch in (("Dagster's SQLite storage", "telemetry:\n  enabled: false\n", None),
                               ("the instance's storage", DEFAULT_DAGSTER_YAML, EVENT_BATCH_SIZE)):
        home = Path(tempfile.mkdtemp(prefix="liq-events-"))
        (home / "dagster.yaml").write_text(yaml.replace("env: DAGSTER_HOME", str(home)))
        os.environ.pop(EVENT_BATCH_SIZE_VAR, None)
        if batch:
            os.environ[EVENT_BATCH_SIZE_VAR] = batch
        with dg.DagsterInstance.from_config(str(home)) as instance:
            t = time.perf_counter()
            result = dg.materialize([table], instance=instance, tags={
                "dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]})
            wall = time.perf_counter() - t
            events = len(instance.all_logs(result.run_id))
        print(f"{label:26s} {days} days: {wall:6.2f} s for {events} events ({1000 * wall / events:.1f} ms each)")


if __name__ == "__main__":
    main()
