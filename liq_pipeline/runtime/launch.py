"""Launching the daily job over a range, through the persistent instance in $DAGSTER_HOME (what `liq run` does).

One run per symbol covers all its days (Dagster's range tags, as a single-run backfill sets them): one step per
asset, days in order inside it, every (date, symbol) partition recorded. Several symbols run at once, each run
in its own process (as Dagster's default run launcher runs them), at most `run_queue.max_concurrent_runs` of
dagster.yaml at a time. Inside a run the executor (defs/executors.py) is Dagster's in-process one (least
overhead), its multiprocess one (independent assets in parallel), or its Celery one (each step a task that a
`liq worker` on any machine takes from the broker).
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import importlib
import multiprocessing
import os
import time
import uuid

import dagster as dg

from ..defs.partitions import range_tags
from ..lib import heap, parallel
from ..lib.io import tables
from . import private, quiet_dagster_warnings

LAUNCH_TAG = "liq/launch"
POLL_SHARE = 20         # the progress poll waits at least this many times as long as the last poll took
HISTORY_TAG = "liq/history"


def daily_job_definition() -> dg.JobDefinition:
    """The daily job, resolved: what `execute_job` reconstructs in each run's process."""
    from ..definitions import defs
    return defs.resolve_job_def("daily_job")


def monthly_job_definition() -> dg.JobDefinition:
    from ..definitions import defs
    return defs.resolve_job_def("monthly_job")


def completed_months(first: dt.date, last: dt.date) -> list[dt.date]:
    """The months a range of days completes (their last day is in it), by their first day."""
    months, day = [], first
    while day <= last:
        nxt = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        if nxt - dt.timedelta(days=1) <= last:
            months.append(day.replace(day=1))
        day = nxt
    return months


def job_size() -> int:
    """Assets the daily job materialises per partition (the progress bar's unit)."""
    return len(daily_job_definition().asset_layer.executable_asset_keys)


@dataclasses.dataclass
class LaunchedRun:
    job: str            # the job, and what the run did when it was not the range itself
    purpose: str
    run_id: str
    success: bool


@dataclasses.dataclass
class RunOutcome:
    symbol: str
    runs: list[LaunchedRun]      # every run launched for the symbol, in order; the last one failed if any did
    errors: list[str]

    @property
    def success(self) -> bool:
        return all(r.success for r in self.runs)

    @property
    def run_id(self) -> str:
        """The run that failed, else the last one."""
        return self.runs[-1].run_id


# what the multiprocess executor's forkserver imports once: the definitions, and the direct metadata writer
PRELOAD = ["liq_pipeline.definitions", "liq_pipeline.runtime.private"]


def run_config(storage: dict, source: dict, executor: str = "in_process", max_concurrent: int = 2,
               broker: str | None = None) -> dict:
    """The run config of `liq run`'s runs; `executor` picks the mode of defs/executors.liq_executor."""
    # multiprocess: each step's process is forked from a server that has imported the definitions once (Dagster's
    # forkserver start method), not spawned to import them again in every step
    multiprocess = {"max_concurrent": max_concurrent, "start_method": {"forkserver": {"preload_modules": PRELOAD}}}
    execution = {"in_process": {"in_process": {}}, "multiprocess": {"multiprocess": multiprocess},
                 "celery": {"celery": {"broker": broker, "backend": broker}}}[executor]
    return {"resources": {"storage": {"config": storage}, "source": {"config": source}},
            "execution": {"config": execution},
            "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


# What a first day's book is replayed over: the raw and clean klines, OI and funding of the days before it.
HISTORY_ASSETS = [dg.AssetKey([layer, name]) for name in sorted(tables.REQUIRED) for layer in ("raw", "clean")]
WAREHOUSE = dg.AssetKey(["warehouse"])


def execute_symbol_run(symbol: str, first: dt.date, last: dt.date, config: dict, tags: dict,
                       history: list[dt.date] = ()) -> RunOutcome:
    """This symbol's runs (in a worker process or thread): when there is history to pull, the history assets over
    those days; the daily job over first..last; the monthly job over the months that range completes, and then
    the warehouse again, so its views show the months' roll-up."""
    quiet_dagster_warnings()
    heap.tune_collector()
    parallel.start(len(history) + (last - first).days + 1)      # the step workers get ready while the raw steps pull
    daily, monthly = dg.reconstructable(daily_job_definition), dg.reconstructable(monthly_job_definition)
    runs = ([(daily, "history", history[0], history[-1], {HISTORY_TAG: "true"}, HISTORY_ASSETS)] if history else []) + \
        [(daily, "days", first, last, {}, None)]
    months = completed_months(first, last)
    if months:
        runs += [(monthly, "months", months[0], months[-1], {}, None),
                 (daily, "warehouse", last, last, {}, [WAREHOUSE])]
    launched = []
    with dg.DagsterInstance.get() as instance:
        for job, purpose, run_first, run_last, extra, selection in runs:
            # a selection's run also judges its assets' `fresh` checks: Dagster adds every check of a selected asset
            result = dg.execute_job(job, instance=instance, run_config=config,
                                    tags={**range_tags(run_first, run_last, symbol), **tags, **extra},
                                    asset_selection=selection)
            launched.append(LaunchedRun(result.job_def.name, purpose, result.run_id, result.success))
            if not result.success:
                break
        return RunOutcome(symbol, launched, [] if result.success else run_errors(instance, result.run_id))


def run_errors(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """What went wrong in a run, in the words the assets and gates used, each once."""
    errors = []
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None:
            continue
        if ev.event_type_value == "STEP_FAILURE":
            err = ev.event_specific_data.error
            while err.cause is not None:     # Dagster wraps the asset's own exception: report the innermost
                err = err.cause
            if err.cls_name == "DagsterAssetCheckFailedError":
                continue                     # the failed gate itself is reported, with its reasons, below
            msg = private.failure_message(err.message.strip())
            if err.cls_name != "Failure" and err.stack:
                msg += f"\n    at {err.stack[-1].strip().splitlines()[0]}"
            errors.append(msg)
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION" and not ev.event_specific_data.passed:
            data = ev.event_specific_data
            md = data.metadata or {}
            summary = md["summary"].value if "summary" in md else ""
            errors.append(f"gate {data.check_name} failed on partition {data.partition}: {summary}")
    return list(dict.fromkeys(errors))


def max_concurrent_runs(instance: dg.DagsterInstance) -> int:
    """dagster.yaml's run_queue.max_concurrent_runs (what the UI's queue honours too), else the cores."""
    queue = instance.get_settings("run_queue") or {}
    return int(queue.get("max_concurrent_runs") or os.cpu_count() or 1)


class Progress:
    """Partitions materialised so far by the runs of one launch (the progress bar's position).

    Counted by the event log (its per-run statistics are one SQL count): reading the materialisation events
    themselves deserialised each one's metadata, and cost the run, which shares this process, seconds."""

    def __init__(self, instance: dg.DagsterInstance, launch: str):
        self.instance, self.launch = instance, launch

    def poll(self) -> int:
        return sum(self.instance.get_run_stats(run_id).materializations
                   for run_id in self.instance.get_run_ids(dg.RunsFilter(tags={LAUNCH_TAG: self.launch})))


def launch(symbols: list[str], first: dt.date, last: dt.date, config: dict, tags: dict,
           on_progress=None, history: dict[str, list[dt.date]] | None = None) -> list[RunOutcome]:
    """Run every symbol's range (after its `history` days, if any); `on_progress(done)` is called as partitions
    are materialised."""
    history = history or {}
    launch_id = uuid.uuid4().hex[:12]
    tags = {**tags, LAUNCH_TAG: launch_id}
    with dg.DagsterInstance.get() as instance:
        workers = max(1, min(len(symbols), max_concurrent_runs(instance)))
        if workers == 1:   # one at a time: a thread is enough, and saves a process start
            # The run's thread and this one (polling) both use SQLAlchemy, which imports its ORM lazily on first use:
            # two threads importing that circular package at once can see it half-initialised (a run failed with
            # "sqlalchemy.orm.exc has no attribute UnmappedClassError"). Imported here first, before the thread.
            importlib.import_module("sqlalchemy.orm")
            pool = cf.ThreadPoolExecutor(1)
        else:
            pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        progress = Progress(instance, launch_id)
        with pool:
            futures = [pool.submit(execute_symbol_run, s, first, last, config, tags, history.get(s, []))
                       for s in symbols]
            while True:
                finished = all(f.done() for f in futures)
                took = 0.0
                if on_progress is not None:
                    # this thread's CPU time: its wall time includes waiting for the GIL while a single symbol's
                    # run (a thread of this process) holds it, which spaced the polls (the bar's moves) by seconds
                    t = time.thread_time()
                    on_progress(progress.poll())
                    took = time.thread_time() - t
                if finished:
                    return [f.result() for f in futures]
                # a poll counts the runs' events so far: its cost grows with the run, which shares this process
                # (a thread) or these cores; kept under ~5% of the time
                cf.wait(futures, timeout=max(1.0, POLL_SHARE * took))
