"""Operating the pipeline: `liq ui`, `liq worker`, `liq record-forceorders`, `liq status`."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from ..lib.params import ParameterError
from ..runtime import CELERY_BROKER_VAR, DEFAULT_CELERY_BROKER, home_path, instance_home
from .base import data_dir_option, data_root, fail, main


@main.command()
@click.option("--broker", envvar=CELERY_BROKER_VAR, default=DEFAULT_CELERY_BROKER, show_default=True,
              help=f"The Celery broker to take steps from (${CELERY_BROKER_VAR}).")
@click.option("--concurrency", type=int, default=None, help="Steps at once (default: the cores).")
@click.option("--name", default=None, help="Worker name (default: liq-<pid>@host).")
def worker(broker, concurrency, name) -> None:
    """A Celery worker for `liq run --executor celery`: runs the steps submitted to --broker, on any machine that
    has this package, the same $DAGSTER_HOME instance settings and the data root."""
    instance_home()
    env = {**os.environ, CELERY_BROKER_VAR: broker}     # with _dagster_home's settings
    args = [sys.executable, "-m", "celery", "-A", "liq_pipeline.runtime.celery_app", "worker", "-Q", "dagster",
            "--prefetch-multiplier=1", "--loglevel", "INFO", "-n", name or f"liq-{os.getpid()}@%h",
            *(["--concurrency", str(concurrency)] if concurrency else [])]
    os.execve(sys.executable, args, env)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on (loopback unless told).")
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True)
def ui(host, port) -> None:
    """The Dagster UI and daemon (`dg dev`) on the instance in $DAGSTER_HOME: lineage, partitions, checks, runs,
    reruns, backfills, schedules. Stops on Ctrl-C (SIGINT) or SIGTERM."""
    project = Path(__file__).resolve().parents[2]          # the checkout: liq_pipeline/cli/ops.py
    if "[tool.dg]" not in ((project / "pyproject.toml").read_text() if (project / "pyproject.toml").exists() else ""):
        fail(f"ui: `dg dev` runs from the project's checkout (its pyproject.toml); none at {project}")
    home = instance_home()
    dg_cli = Path(sys.executable).with_name("dg")
    # A signal ignored here stays ignored across exec and in every child: a launcher started in the background (or
    # under nohup) handed SIGINT/SIGTERM ignored down to the webserver and daemon, which then never stopped.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    click.echo(f"Dagster UI on http://{host}:{port} (instance {home}); Ctrl-C stops it", err=True)
    os.chdir(project)
    os.execv(dg_cli, [str(dg_cli), "dev", "--host", host, "--port", str(port)])


@main.command("record-forceorders")
@click.option("--out", required=True, help="Folder of the tapes: OUT/forceOrder/forceOrder-YYYY-MM-DD.jsonl.")
@click.option("--symbols", default=None, help="Comma-separated symbols to keep (default: every symbol).")
@click.option("--all", "all_symbols", is_flag=True, help="Every symbol (the default; says so explicitly).")
@click.option("--url", default=None, help="The stream (default: Binance USD-M's !forceOrder@arr).")
@click.option("--flush-seconds", type=float, default=1.0, show_default=True,
              help="The most a received payload waits before it is flushed and fsynced.")
def record_forceorders(out, symbols, all_symbols, url, flush_seconds) -> None:
    """Record the all-market liquidation stream to daily tapes, as received, until SIGTERM/SIGINT."""
    import logging

    from ..lib.sources import recorder
    from ..lib.params import parse_symbols

    if symbols and all_symbols:
        fail("--symbols and --all: give one of them")
    try:
        wanted = frozenset(parse_symbols(symbols)) if symbols else None
    except ParameterError as exc:
        fail(str(exc))
    if not flush_seconds > 0:
        fail(f"--flush-seconds: {flush_seconds} must be above 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = recorder.RecorderConfig(url=url or recorder.DEFAULT_URL, symbols=wanted, flush_seconds=flush_seconds)
    try:
        status = recorder.record(Path(out), cfg)
    except Exception as exc:      # a bad URL or an unwritable folder: say which, once
        fail(f"record-forceorders: {type(exc).__name__}: {exc}")
    click.echo(f"stopped: {status.written} payload(s) written, {status.duplicates} duplicate(s) dropped, "
               f"{status.malformed} malformed, {status.reconnects} reconnect(s); tapes in {Path(out) / 'forceOrder'}")


@main.command()
@data_dir_option
@click.option("--max-age", default=None,
              help="Older than this is stale (klines, OI, funding, heatmap; the recorder's last message): 90m, 36h, 2d. "
                   "Default: the freshness rule's 36h (a day is overdue at 11:00 UTC the day after it ends).")
@click.option("--tapes", default=None, help="The recorder's --out folder, to judge it too.")
@click.option("--as-of", "as_of", default=None, help="Judge as of this UTC time (ISO-8601; default: now).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(data_dir, max_age, tapes, as_of, fmt) -> None:
    """Freshness and health per dataset and symbol; exits 1 when anything judged is stale."""
    import dataclasses
    import datetime as dt
    import json

    from ..lib.io import status as st
    from ..lib.params import parse_time

    try:
        limit = st.parse_age(max_age) if max_age else st.MAX_AGE
        now = parse_time(as_of, "--as-of") if as_of else dt.datetime.now(dt.UTC)
    except ParameterError as exc:
        fail(str(exc))
    root = data_root(data_dir)
    rows = st.freshness(root, now, limit)
    recorder = st.recorder_state(Path(tapes), now, limit) if tapes else None
    jobs = {}
    home = home_path()
    if (home / "dagster.yaml").exists():        # read-only: no instance is made where there is none
        import dagster as dg

        from ..runtime import runs
        os.environ["DAGSTER_HOME"] = str(home)
        with dg.DagsterInstance.get() as instance:
            jobs = runs.job_runs(instance)
    stale = [r for r in rows if r.stale] + ([recorder] if recorder and recorder["stale"] else [])
    missing_judged = [t for t in st.JUDGED if not any(r.table == t for r in rows)]
    if fmt == "json":
        click.echo(json.dumps({"data_root": str(root), "now": now.isoformat(timespec="seconds"), "max_age": str(limit),
                               "datasets": [{**dataclasses.asdict(r), "latest": r.latest.isoformat() if r.latest else None,
                                             "age": str(r.age) if r.age is not None else None,
                                             "missing_days": [str(d) for d in r.missing_days]} for r in rows],
                               "never_made": missing_judged, "recorder": recorder, "jobs": jobs,
                               "healthy": not stale and not missing_judged}, indent=1, default=str))
    else:
        click.echo(f"data root {root}, now {now:%Y-%m-%d %H:%M} UTC, stale after {limit}")
        click.echo(f"{'table':24s} {'symbol':10s} {'latest (UTC)':17s} {'age':>10s} {'gaps/30d':>8s}  ")
        for r in rows:
            age = f"{r.age.total_seconds() / 3600:.1f} h" if r.age is not None else "-"
            latest = f"{r.latest:%Y-%m-%d %H:%M}" if r.latest else "(no rows)"
            flag = "STALE" if r.stale else ("ok" if r.judged else "")
            click.echo(f"{r.table:24s} {r.symbol:10s} {latest:17s} {age:>10s} {len(r.missing_days):8d}  {flag}")
        for t in missing_judged:
            click.echo(f"{t:24s} {'-':10s} never made  STALE")
        if recorder:
            click.echo(f"recorder: {'STALE: ' + recorder['problem'] if recorder['stale'] else 'ok'}; last message "
                       f"{recorder.get('last_message_time')}, {recorder.get('written', 0)} written, "
                       f"{recorder.get('reconnects', 0)} reconnects, {recorder.get('errors', 0)} errors")
        for job, row in jobs.items():
            ok, bad = row["last_success"], row["last_failure"]
            click.echo(f"job {job}: last success {ok['ended'] if ok else 'never'}"
                       f"{'; last failure ' + str(bad['ended']) + ' (run ' + bad['run_id'][:8] + ')' if bad else ''}")
    if stale or missing_judged:
        sys.exit(1)
