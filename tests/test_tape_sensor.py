"""The tape sensor: finished days of the recorder's tapes become liquidation_events runs, once per new content."""
import datetime as dt
import json
import shutil

import dagster as dg
import pandas as pd

from liq_pipeline.definitions import defs

DAY = "2025-01-27"


def test_new_and_grown_tapes_are_requested_once_and_their_events_reach_the_clean_table(real, dagster_env, monkeypatch):
    tapes = dagster_env / "tapes"
    (tapes / "forceOrder").mkdir(parents=True)
    shutil.copy(real / f"forceOrder/forceOrder-{DAY}.jsonl", tapes / "forceOrder")
    today = dt.datetime.now(dt.UTC).date()
    (tapes / "forceOrder" / f"forceOrder-{today}.jsonl").write_text("")     # being recorded: not yet
    repo = defs.get_repository_def()
    with dg.DagsterInstance.get() as instance:
        def tick(cursor=None):
            # the daemon evaluates sensors with the instance as the partitions' store; a test says so itself
            with dg.partition_loading_context(dynamic_partitions_store=instance):
                return defs.resolve_sensor_def("tape_sensor").evaluate_tick(
                    dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repo))
        assert "LIQ_TAPES_DIR" in tick().skip_message
        monkeypatch.setenv("LIQ_TAPES_DIR", str(tapes))
        assert "no symbols yet" in tick().skip_message
        instance.add_dynamic_partitions("symbol", ["BTCUSDT", "ETHUSDT"])
        first = tick()
        assert [(r.partition_key, r.tags["liq/tape"]) for r in first.run_requests] == \
            [(f"{DAY}|BTCUSDT", f"forceOrder-{DAY}.jsonl"), (f"{DAY}|ETHUSDT", f"forceOrder-{DAY}.jsonl")]
        assert "no new or grown tape" in tick(first.cursor).skip_message              # nothing new: nothing asked
        with open(tapes / "forceOrder" / f"forceOrder-{DAY}.jsonl", "a") as f:      # a late append
            f.write(json.dumps({"e": "forceOrder", "E": 1737979200000, "o": {"s": "BTCUSDT", "S": "SELL", "q": "1",
                                "p": "100000", "X": "FILLED", "z": "1", "T": 1737979200000}}) + "\n")
        again = tick(first.cursor)
        assert len(again.run_requests) == 2 and again.run_requests[0].run_key != first.run_requests[0].run_key

        request = again.run_requests[0]
        result = defs.resolve_job_def("tape_job").execute_in_process(
            run_config=request.run_config, partition_key=request.partition_key, instance=instance, tags=request.tags)
        assert result.success
    lines = [json.loads(x) for x in (tapes / "forceOrder" / f"forceOrder-{DAY}.jsonl").read_text().splitlines()]
    events = pd.read_parquet(dagster_env / f"data/clean/liquidation_events/symbol=BTCUSDT/date={DAY}/data.parquet")
    assert len(events) == sum(1 for x in lines if x["o"]["s"] == "BTCUSDT") > 1
