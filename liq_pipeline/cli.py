"""The `liq` command: run the pipeline through the persistent Dagster instance, query the warehouse."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path

import click

from .lib import heap, storage
from .lib.model.config import MODELS
from .lib.params import ParameterError, describe_days, parse_date_range, parse_interval, parse_symbols
from .defs import (CELERY_BROKER_VAR, DEFAULT_CELERY_BROKER, EVENT_BATCH_SIZE, EVENT_BATCH_SIZE_VAR, EXECUTORS,
                   quiet_dagster_warnings)
from .lib.sources import SOURCE_KINDS, SourceKind

# What a new $DAGSTER_HOME gets: the settings of the checkout's dagster_home/dagster.yaml (a test keeps them equal)
DEFAULT_DAGSTER_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
# Dagster's SQLite storage in $DAGSTER_HOME with an event log fit for range runs (defs/instance_storage.py)
storage:
  custom:
    module: liq_pipeline.defs.instance_storage
    class: LiqSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
"""
# A range run announces its planned materialisations as one event per asset (the range), not one per partition
# and asset before its first step. Dagster's own switch; the cost is that a failed range run leaves its
# partitions "missing", not "failed", in the UI (the run itself shows the failure).
PLANNED_AS_RANGE = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
DAGSTER_UI = "http://127.0.0.1:3000"           # where `make dev` serves the UI
RUN_PURPOSE = {"history": "the history before the first day", "days": "the days", "months": "the months' roll-up",
               "warehouse": "the warehouse with the roll-up"}


def _dagster_home_path() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or "dagster_home").expanduser().resolve()


def _dagster_home() -> Path:
    home = _dagster_home_path()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(DEFAULT_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault(PLANNED_AS_RANGE, "1")
    os.environ.setdefault(EVENT_BATCH_SIZE_VAR, EVENT_BATCH_SIZE)
    return home


@contextlib.contextmanager
def _own_stderr():
    """A stream of its own onto this process's stderr, for the progress bar. A single symbol's run executes in this
    process, and Dagster captures the run's output into its compute logs by redirecting the process's stderr file
    descriptor itself: the bar, writing to it, stopped being on a terminal and froze until the run ended. A
    duplicate of the descriptor taken before the run keeps pointing at the terminal."""
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):            # no descriptor (an in-memory stream in a test)
        yield sys.stderr
        return
    with open(fd, "w", buffering=1, encoding="utf-8", errors="replace") as stream:
        yield stream


def _fail(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(1)


data_dir_option = click.option("--data-dir", default=None,
                               help="Data root: a folder or s3://BUCKET/PREFIX (default $LIQ_DATA_DIR, else ./data).")


def _root(data_dir: str | None):
    """The data root (--data-dir, $LIQ_DATA_DIR, ./data; a local folder or s3://BUCKET/PREFIX)."""
    try:
        return storage.data_root(data_dir)
    except ParameterError as exc:
        _fail(str(exc))


@click.group()
def main() -> None:
    """liq_pipeline: liquidation levels estimated from Binance USD-M data, and measured."""
    quiet_dagster_warnings()
    heap.tune_collector()


@main.command()
@click.option("--source", type=click.Choice(SOURCE_KINDS), default=SourceKind.simulated.value, show_default=True)
@click.option("--path", "source_path", default="", help="Folder in the archive layout (--source files).")
@click.option("--symbols", default="BTCUSDT", show_default=True, help="Comma-separated USD-M symbols.")
@click.option("--start", required=True, help="First day, YYYY-MM-DD (UTC).")
@click.option("--end", required=True, help="Last day, YYYY-MM-DD (UTC), inclusive.")
@click.option("--intervals", default="", help="Kline intervals, e.g. 1m or 1h,5m (default: all the folder has; 1m). "
                                              "The simulated market's bar: 1m (default) or 5m.")
@data_dir_option
@click.option("--seed", type=int, default=None, help="Simulated market seed (--source simulated).")
@click.option("--agg-trades", is_flag=True, help="Also aggTrades: over REST (binance/auto; heavy) or from the simulator.")
@click.option("--bracket-fallback", is_flag=True,
              help="Run a symbol with no bracket table on the fallback tiers (stated in the model's metadata) "
                   "instead of refusing it.")
@click.option("--any-symbol", is_flag=True,
              help="--source simulated: also simulate a symbol with no bracket table (on the fallback tiers); "
                   "without it, such a symbol is refused as a typo would be.")
@click.option("--executor", type=click.Choice(EXECUTORS), default="in_process", show_default=True,
              help="Inside each run: one process, independent assets in parallel processes, or each step a Celery "
                   "task for the workers on --broker (`liq worker`).")
@click.option("--broker", envvar=CELERY_BROKER_VAR, default=DEFAULT_CELERY_BROKER, show_default=True,
              help=f"Celery broker and result backend of --executor celery (${CELERY_BROKER_VAR}).")
def run(source, source_path, symbols, start, end, intervals, data_dir, seed, agg_trades, bracket_fallback,
        any_symbol, executor, broker) -> None:
    """Materialise every (day, symbol) partition in [start, end] and rebuild the warehouse: one Dagster run per
    symbol over the whole range, symbols in parallel, through the instance in $DAGSTER_HOME."""
    # A launcher started in the background may hand down SIGTERM ignored, and an ignored signal stays ignored in
    # every child: Dagster could then not stop its log-mirroring `tail -F` helpers, which outlive the run and
    # hold our stdout open. Restore the default, so the run and its helpers can be stopped.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        syms = parse_symbols(symbols)
        days = parse_date_range(start, end)
        ivs = [parse_interval(i.strip(), "intervals") for i in intervals.split(",") if i.strip()]
        if source == "files" and not source_path:
            raise ParameterError("path: --source files needs --path DIR")
        if source_path and not Path(source_path).is_dir():
            raise ParameterError(f"path: {source_path} is not a folder")
    except ParameterError as exc:
        _fail(str(exc))
    root = _root(data_dir)
    try:   # one launcher per data root, held until the command ends
        click.get_current_context().with_resource(storage.run_lock(root))
    except storage.DataRootBusy as exc:
        _fail(str(exc))
    storage_cfg = {"data_dir": str(root)}
    source_cfg = {"kind": source, "agg_trades": agg_trades, "bracket_fallback": bracket_fallback,
                  **({"any_symbol": True} if any_symbol else {}),
                  **({"intervals": ivs} if ivs else {}),
                  **({"path": str(Path(source_path).resolve())} if source_path else {})}
    if source == "simulated":
        source_cfg.update(sim_start=days[0].isoformat(), sim_days=len(days), **({"sim_seed": seed} if seed is not None else {}))

    from .defs.resources import SourceResource
    from .lib.errors import InputError, SourceError

    # Bad input adds nothing: every symbol is confirmed by the source before it becomes a partition.
    from .lib.sources.base import history_to_pull, missing_days
    from .lib.storage import DataLayout

    from .lib import brackets, contracts

    from pydantic import ValidationError

    try:
        resource = SourceResource(**source_cfg)
    except ValidationError as exc:       # the resource's own checks (e.g. the simulated market's one interval)
        _fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()))
    fallback = {}
    try:
        src = resource.open(root / "raw")
        for sym in syms:
            contracts.check_listed(sym)          # with an exchange-info snapshot: a listed, trading perpetual
            src.check_symbol(sym, days[0])
            # never silently: a symbol with no bracket table is refused, or runs on the fallback when asked
            _, where = brackets.resolve(sym, days[0], fallback=resource.bracket_fallback_allowed())
            if brackets.is_fallback(where):
                fallback[sym] = where
            # every day the run asks for is in the source, or the run is refused whole, naming the gap and what
            # it could run instead (a real archive has gaps: ../shared's OI lacks 2026-06-15..19)
            lacking = missing_days(src, sym, days)
            if lacking:
                have = sorted(set(days) - set(lacking))
                raise InputError(
                    f"{sym}: the source lacks a required dataset (klines, open interest or funding) on {len(lacking)} "
                    f"of the {len(days)} day(s) asked for: {describe_days(lacking)} ({src.where_days(sym)}). "
                    + (f"It has {describe_days(have)}: run those ranges apart (the day after a gap starts a new book; "
                       f"its heatmap metadata `start` says how warm)." if have else "It has none of them."))
        # a first day starts warm: the history the source has before it is pulled first
        history = {sym: history_to_pull(DataLayout(root), src, sym, days[0]) for sym in syms}
    except (InputError, SourceError) as exc:
        _fail(str(exc))
    home = _dagster_home()
    if executor == "celery":        # a run with no worker to take its steps would wait forever: say so now
        from .defs.celery_app import workers
        try:
            listening = workers(broker)
        except Exception as exc:
            _fail(f"broker: cannot reach {broker} ({type(exc).__name__}: {exc})")
        if not listening:
            _fail(f"executor celery: no worker is listening on {broker}; start one with `liq worker --broker {broker}`")

    import dagster as dg
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from .defs import launch

    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("symbol", [s for s in syms if not instance.has_dynamic_partition("symbol", s)])
    click.echo(f"liq run: source={source} symbols={','.join(syms)} days={days[0]}..{days[-1]} ({len(days)})")
    click.echo(f"  data root: {root}\n  dagster instance: {home}")
    for sym in fallback:
        why = "--any-symbol: simulated" if any_symbol else "no bracket table of its own: runs"
        click.echo(f"  {sym}: {why} on the FALLBACK tiers (lib/brackets; the model's metadata says so; "
                   f"`liq brackets refresh` fetches Binance's)")
    for sym, hist in history.items():
        if hist:
            click.echo(f"  {sym}: first day starts warm: history {hist[0]}..{hist[-1]} ({len(hist)} days of "
                       f"klines, OI, funding) pulled first")
    t0 = time.monotonic()
    months = launch.completed_months(days[0], days[-1])
    # one unit, in the bar and the summary: materialisations (a partition of one asset)
    per_symbol = launch.job_size() * len(days) + (len(months) + 1 if months else 0)
    total = per_symbol * len(syms) + len(launch.HISTORY_ASSETS) * sum(map(len, history.values()))
    with _own_stderr() as terminal:
        console = Console(file=terminal)
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("materialisations"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                      console=console, transient=not console.is_terminal,
                      # the bar moves once a poll (≥ 1 s): rich's default of 10 renders a second cost the run's
                      # thread CPU for a clock; where no terminal shows the bar, it needs none
                      refresh_per_second=2, auto_refresh=console.is_terminal) as progress:
            task = progress.add_task(f"{len(syms)} symbol(s) × {len(days)} day(s)", total=total)
            outcomes = launch.launch(syms, days[0], days[-1],
                                     launch.run_config(storage_cfg, source_cfg, executor, broker=broker),
                                     {"liq/source": source}, on_progress=lambda n: progress.update(task, completed=n),
                                     history=history)
    failed = [o for o in outcomes if not o.success]
    for o in outcomes:
        click.echo(f"  {o.symbol} {days[0]}..{days[-1]}: {'ok' if o.success else 'FAILED'}")
        for r in o.runs:
            click.echo(f"    {r.job} ({RUN_PURPOSE[r.purpose]}): {'ok' if r.success else 'FAILED'}  "
                       f"{DAGSTER_UI}/runs/{r.run_id}")
    if failed:
        _fail("\n".join(f"{o.symbol} (run {o.run_id}):\n  " + "\n  ".join(o.errors or ["run failed (see the Dagster UI)"])
                         for o in failed))
    from .lib import warehouse
    cols, rows = warehouse.query(root, "SELECT table_name FROM information_schema.tables ORDER BY 1")
    data_flag = "" if data_dir is None and not os.environ.get("LIQ_DATA_DIR") else f" --data-dir {root}"
    click.echo(f"done in {time.monotonic() - t0:.1f} s: {total} materialisations ({len(days)} day(s) × {len(syms)} "
               f"symbol(s) × {launch.job_size()} assets" + (f", {len(months)} month(s)" if months else "") +
               (", the history first" if any(history.values()) else "") + "). Outputs:")
    click.echo(f"  clean Parquet: {root / 'clean'}\n  model Parquet: {root / 'model'}\n"
               f"  warehouse:     {storage.warehouse_path(root)} ({', '.join(r[0] for r in rows)})")
    click.echo(f"  query it:      liq sql \"SELECT symbol, count(*) FROM klines GROUP BY 1\"{data_flag}")
    click.echo(f"                 liq heatmap --symbol {syms[0]} --timeframe 7d{data_flag}")
    for m in months:
        click.echo(f"  {m:%Y-%m} report: {storage.DataLayout(root).reports(syms[0]) / f'{m:%Y-%m}' / 'audit.md'}; "
                   f"liq grade --symbol {syms[0]} --month {m:%Y-%m}{data_flag}")
    click.echo(f"  the runs:      make dev, then the links above (the Dagster UI on {DAGSTER_UI})")


@main.command()
@click.option("--symbol", default="BTCUSDT", show_default=True)
@click.option("--timeframe", type=click.Choice(["1d", "7d", "30d", "90d"]), default="1d", show_default=True)
@click.option("--at", "at", default=None, help="Snapshot time, ISO-8601 UTC (default: the latest).")
@click.option("--model", type=click.Choice(MODELS), default=MODELS[0], show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "png", "html"]), default="table",
              show_default=True, help="png: a picture; html: one self-contained interactive page (zoom, hover).")
@click.option("--out", default=None, help="Write to this file instead of printing (png and html: default "
                                          "data/reports/SYM/heatmap-MODEL-TF.png|html).")
@data_dir_option
def heatmap(symbol, timeframe, at, model, fmt, out, data_dir) -> None:
    """Liquidation levels over a timeframe: now and the window's peak per price bucket, or a heatmap picture."""
    import datetime as dt

    from .lib.model import levels_query
    from .lib.params import parse_symbol

    try:
        sym = parse_symbol(symbol)
        at_ts = dt.datetime.fromisoformat(at) if at else None
    except (ParameterError, ValueError) as exc:
        _fail(f"--at: {at!r} is not an ISO-8601 time ({exc})" if "symbol" not in str(exc) else str(exc))
    at_ts = (at_ts.astimezone(dt.UTC) if at_ts.tzinfo else at_ts.replace(tzinfo=dt.UTC)) if at_ts else None
    root = _root(data_dir)
    try:
        view = _heatmap_view(root, sym, model, at_ts, timeframe, window=fmt in ("png", "html"))
    except FileNotFoundError as exc:
        _fail(str(exc))
    if view is None or not view.levels:
        _fail(f"no {model} heatmap snapshot for {sym} in the {timeframe} up to "
              f"{at_ts.isoformat() if at_ts is not None else 'the latest'} in {storage.warehouse_path(root)}")
    when, price = view.ts, view.price
    # a timeframe longer than the history held shows what there is, and says so
    short = (f"the data holds {view.covered / dt.timedelta(days=1):.1f} days of the {timeframe}, from "
             f"{view.first:%Y-%m-%d %H:%M} UTC") if view.short_of_timeframe else ""
    if fmt in ("png", "html"):
        from .lib import plots
        path = Path(out) if out else root / "reports" / sym / f"heatmap-{model}-{timeframe}.{fmt}"
        title = f"{sym} estimated liquidation heatmap ({model} model), {timeframe} to {when:%Y-%m-%d %H:%M} UTC" + \
            (f"; {short}" if short else "")
        (plots.heatmap_png if fmt == "png" else plots.heatmap_html)(view.window_frame(), title, path)
        click.echo(str(path))
        return
    if fmt == "json":
        import json
        text = json.dumps({"symbol": sym, "model": model, "timeframe": timeframe, "ts": when.isoformat(),
                           "from": view.first.isoformat(), "covers_timeframe": not short, "price": price,
                           "levels": view.levels}, indent=1) + "\n"
    elif fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        lead = {"symbol": sym, "model": model, "timeframe": timeframe, "ts": when.isoformat(), "price": price}
        writer = csv.DictWriter(buf, [*lead, *levels_query.LEVEL_COLUMNS], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**lead, **level} for level in view.levels)
        text = buf.getvalue()
    else:
        text = _heatmap_table(view, sym, model, timeframe, short)
    if out:         # every format goes where --out says; the picture formats above print their path too
        storage.write_bytes_atomic(Path(out), text.encode())
        click.echo(out)
    else:
        click.echo(text, nl=False)


def _heatmap_table(view, sym: str, model: str, timeframe: str, short: str) -> str:
    from .lib.contracts import price_decimals

    price = view.price
    d = price_decimals(price)
    lines = [f"{sym} {model} model, {timeframe}, snapshot {view.ts:%Y-%m-%d %H:%M} UTC, price {price:,.{d}f}"
             + (f" ({short})" if short else ""),
             f"{'price range':>23s} {'long $M':>9s} {'short $M':>9s} {'peak L $M':>10s} {'peak S $M':>10s}"]
    marked = False
    for r in view.levels:
        if not marked and r["price_low"] < price:
            lines.append(f"{'— price ' + format(price, f',.{d}f') + ' —':^23s}")
            marked = True
        lines.append(f"{r['price_low']:>11,.{d}f}–{r['price_high']:<11,.{d}f} {r['long_usd'] / 1e6:9.2f} "
                     f"{r['short_usd'] / 1e6:9.2f} {r['long_peak_usd'] / 1e6:10.2f} {r['short_peak_usd'] / 1e6:10.2f}")
    return "\n".join(lines) + "\n"


def _heatmap_view(root, *args, **kwargs):
    """The query on a connection that lives in this frame only: a frame that outlives its command (matplotlib's
    imports keep one reachable through a cycle) would hold the connection past exit, where DuckDB reports it leaked."""
    from .lib import warehouse
    from .lib.model import levels_query

    with contextlib.closing(warehouse.connect_read_only(root)) as con:
        return levels_query.query(con, *args, **kwargs)


@main.command()
@click.argument("query")
@data_dir_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def sql(query, data_dir, fmt) -> None:
    """Run a read-only SQL query on the warehouse."""
    from .lib import warehouse

    try:
        cols, rows = warehouse.query(_root(data_dir), query)
    except (FileNotFoundError, warehouse.QueryRefused) as exc:
        _fail(str(exc))
    except (warehouse.duckdb.PermissionException, warehouse.duckdb.InvalidInputException) as exc:
        _fail(warehouse.refusal(exc) if "disabled by configuration" in str(exc) or "locked" in str(exc) else str(exc))
    except warehouse.duckdb.Error as exc:
        _fail(str(exc))
    if fmt == "json":
        import json
        click.echo(json.dumps([dict(zip(cols, r)) for r in rows], default=str, indent=1))
    elif fmt == "csv":
        import csv
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
    else:
        import pandas as pd
        with pd.option_context("display.max_rows", 200, "display.width", 200):
            click.echo(pd.DataFrame(rows, columns=cols).to_string(index=False))


@main.command()
@click.option("--symbol", required=True, help="e.g. BTCUSDT")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--model", type=click.Choice(MODELS), default=MODELS[0], show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@data_dir_option
def grade(symbol, month, model, fmt, data_dir) -> None:
    """The graded monthly verdict (data/reports/SYM/YYYY-MM/validation.json): grade, score, each component with
    its sample size and 95% interval. Exits 1 when the month has no report or was not graded."""
    import json

    from .lib.params import parse_symbol
    from .lib.validation.report import render_grade, verdict_file

    try:
        sym = parse_symbol(symbol)
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise ParameterError(f"month: {month!r} is not YYYY-MM")
    except ParameterError as exc:
        _fail(str(exc))
    root = _root(data_dir)
    path = storage.DataLayout(root).reports(sym) / month / verdict_file(model)
    if not path.exists():
        _fail(f"no verdict for {sym} {month} ({model}) at {path}: `liq run` a range that completes the month "
              f"(or materialise validation/validation_monthly for {month}-01|{sym})")
    doc = json.loads(path.read_text())
    click.echo(json.dumps(doc, indent=1) if fmt == "json" else render_grade(doc, path))
    if doc["grade"] is None:
        sys.exit(1)


@main.group()
def brackets() -> None:
    """Notional bracket tables (maintenance margin rate and amount) per symbol."""


@brackets.command("refresh")
@click.option("--symbols", default=None, help="Comma-separated symbols to fetch.")
@click.option("--all", "all_symbols", is_flag=True, help="Every symbol the endpoint answers for.")
@click.option("--top", type=click.IntRange(1, 1000), default=None,
              help="The N trading perpetuals with the most open interest (USD), ranked from public endpoints.")
@click.option("--api-key", envvar="BINANCE_API_KEY", required=True, help="Binance API key ($BINANCE_API_KEY).")
@click.option("--api-secret", envvar="BINANCE_API_SECRET", required=True,
              help="Its secret ($BINANCE_API_SECRET); used to sign, never stored or printed.")
@click.option("--out", default=None, help="Folder for the snapshots (default: $LIQ_BRACKETS_DIR, else the "
                                          "package's data folder when it is writable, as in a source checkout).")
@click.option("--url", default=None, help="USD-M REST base URL (default https://fapi.binance.com).")
def brackets_refresh(symbols, all_symbols, top, api_key, api_secret, out, url) -> None:
    """Fetch Binance's current brackets (signed GET /fapi/v1/leverageBracket) into dated snapshots, which every
    later run reads for days on or after their date."""
    import datetime as dt

    from .lib import bracket_refresh
    from .lib import brackets as brackets_mod
    from .lib.errors import InputError, SourceError
    from .lib.params import parse_symbols
    from .lib.sources.binance_rest import FAPI_URL
    from .lib.sources.http import BinanceHttp

    if sum(map(bool, (symbols, all_symbols, top))) != 1:
        _fail("brackets refresh: give one of --symbols A,B, --top N or --all")
    try:
        wanted = parse_symbols(symbols) if symbols else None
    except ParameterError as exc:
        _fail(str(exc))
    folder = _snapshot_folder(out)
    base = url or FAPI_URL
    now = dt.datetime.now(dt.UTC)
    try:
        http = BinanceHttp()
        if top:
            ranked = bracket_refresh.largest_by_open_interest(http, base, top)
            click.echo(f"the {len(ranked)} largest perpetuals by open interest: "
                       + ", ".join(f"{s} ${v / 1e9:.2f}B" for s, v in ranked))
            wanted = [s for s, _ in ranked]
        if wanted and len(wanted) == 1:
            entries = bracket_refresh.fetch(http, base, api_key, api_secret, wanted[0])
        else:
            entries = bracket_refresh.fetch(http, base, api_key, api_secret)
        by_symbol = {e["symbol"]: e for e in entries}
        missing = [s for s in wanted or [] if s not in by_symbol]
        if missing:
            _fail(f"brackets refresh: the endpoint has no brackets for {', '.join(missing)} (not USD-M symbols?)")
        chosen = wanted or sorted(by_symbol)
        written = [bracket_refresh.write_snapshot(by_symbol[s], folder, now, base) for s in chosen]
    except (InputError, SourceError, ValueError, KeyError) as exc:     # an answer not of the documented shape
        _fail(f"brackets refresh: {exc}")
    for s in chosen:
        if (coef := bracket_refresh.adjusted_coef(by_symbol[s])) is not None:
            click.echo(f"  warning: {s} notionalCoef {coef}: this account's brackets are adjusted (recorded in the file)")
    click.echo(f"{len(written)} snapshot(s) in {folder}" + "".join(f"\n  {p.name}" for p in written[:20])
               + (f"\n  … and {len(written) - 20} more" if len(written) > 20 else ""))
    if folder != brackets_mod.shipped_dir() and brackets_mod.user_dir() != folder:
        click.echo(f"  runs read them with {brackets_mod.BRACKETS_DIR_VAR}={folder}")


@main.command()
@click.option("--broker", envvar=CELERY_BROKER_VAR, default=DEFAULT_CELERY_BROKER, show_default=True,
              help=f"The Celery broker to take steps from (${CELERY_BROKER_VAR}).")
@click.option("--concurrency", type=int, default=None, help="Steps at once (default: the cores).")
@click.option("--name", default=None, help="Worker name (default: liq-<pid>@host).")
def worker(broker, concurrency, name) -> None:
    """A Celery worker for `liq run --executor celery`: runs the steps submitted to --broker, on any machine that
    has this package, the same $DAGSTER_HOME instance settings and the data root."""
    _dagster_home()
    env = {**os.environ, CELERY_BROKER_VAR: broker}     # with _dagster_home's settings
    args = [sys.executable, "-m", "celery", "-A", "liq_pipeline.defs.celery_app", "worker", "-Q", "dagster",
            "--prefetch-multiplier=1", "--loglevel", "INFO", "-n", name or f"liq-{os.getpid()}@%h",
            *(["--concurrency", str(concurrency)] if concurrency else [])]
    os.execve(sys.executable, args, env)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on (loopback unless told).")
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True)
def ui(host, port) -> None:
    """The Dagster UI and daemon (`dg dev`) on the instance in $DAGSTER_HOME: lineage, partitions, checks, runs,
    reruns, backfills, schedules. Stops on Ctrl-C (SIGINT) or SIGTERM."""
    project = Path(__file__).resolve().parent.parent
    if "[tool.dg]" not in ((project / "pyproject.toml").read_text() if (project / "pyproject.toml").exists() else ""):
        _fail(f"ui: `dg dev` runs from the project's checkout (its pyproject.toml); none at {project}")
    home = _dagster_home()
    dg_cli = Path(sys.executable).with_name("dg")
    # A signal ignored here stays ignored across exec and in every child: a launcher started in the background (or
    # under nohup) handed SIGINT/SIGTERM ignored down to the webserver and daemon, which then never stopped.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    click.echo(f"Dagster UI on http://{host}:{port} (instance {home}); Ctrl-C stops it", err=True)
    os.chdir(project)
    os.execv(dg_cli, [str(dg_cli), "dev", "--host", host, "--port", str(port)])


@main.group()
def symbols() -> None:
    """USD-M contracts: exchange info (tick, lot, status) and which bracket table each symbol runs on."""


@symbols.command("refresh")
@click.option("--out", default=None, help="Folder for the snapshot (default: as `liq brackets refresh`).")
@click.option("--url", default=None, help="USD-M REST base URL (default https://fapi.binance.com).")
def symbols_refresh(out, url) -> None:
    """Fetch Binance's exchange info (public GET /fapi/v1/exchangeInfo) into exchange-info-DATE.csv."""
    import datetime as dt

    from .lib import contracts
    from .lib.errors import InputError, SourceError
    from .lib.sources.binance_rest import FAPI_URL
    from .lib.sources.http import BinanceHttp

    folder = _snapshot_folder(out)
    base = url or FAPI_URL
    try:
        resp = BinanceHttp().get(f"{base.rstrip('/')}{contracts.ENDPOINT}")
        df = contracts.from_answer(resp.json())
        path = contracts.write_snapshot(df, folder, dt.datetime.now(dt.UTC), base)
    except (InputError, SourceError, ValueError) as exc:
        _fail(f"symbols refresh: {exc}")
    click.echo(f"{path}: {len(df)} contracts, {len(contracts.trading_perpetuals(df))} trading perpetuals")


@symbols.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def symbols_list(fmt) -> None:
    """Every symbol with a bracket table or in the exchange-info snapshot: its contract details and brackets."""
    from .lib import brackets as brackets_mod
    from .lib import contracts

    snap = contracts.snapshot()
    rows = {s: {"symbol": s} for s in brackets_mod.known_symbols()}
    if snap is not None:
        for r in contracts.trading_perpetuals(snap[0]).to_dict("records"):
            rows.setdefault(r["symbol"], {"symbol": r["symbol"]}).update(
                tick_size=r["tick_size"], step_size=r["step_size"], onboard_date=r["onboard_date"])
    for s, r in rows.items():
        r["brackets"] = brackets_mod.resolve(s, fallback=True)[1]
    out = [rows[s] for s in sorted(rows)]
    if fmt == "json":
        import json
        click.echo(json.dumps(out, indent=1))
        return
    click.echo(f"exchange info: {snap[1] if snap else 'none (liq symbols refresh)'}")
    for r in out:
        click.echo(f"  {r['symbol']:14s} tick {r.get('tick_size', '-'):>10s} lot {r.get('step_size', '-'):>8s}  "
                   f"brackets: {r['brackets']}")


def _snapshot_folder(out: str | None) -> Path:
    """Where refreshed snapshots go: --out, else $LIQ_BRACKETS_DIR, else the package's data folder if writable."""
    from .lib import brackets as brackets_mod
    folder = Path(out) if out else brackets_mod.user_dir() or brackets_mod.shipped_dir()
    if not os.access(folder if folder.exists() else folder.parent, os.W_OK):
        _fail(f"out: {folder} is not writable; pass --out DIR and set {brackets_mod.BRACKETS_DIR_VAR}=DIR for the runs")
    return folder


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

    from .lib import recorder
    from .lib.params import parse_symbols

    if symbols and all_symbols:
        _fail("--symbols and --all: give one of them")
    try:
        wanted = frozenset(parse_symbols(symbols)) if symbols else None
    except ParameterError as exc:
        _fail(str(exc))
    if not flush_seconds > 0:
        _fail(f"--flush-seconds: {flush_seconds} must be above 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = recorder.RecorderConfig(url=url or recorder.DEFAULT_URL, symbols=wanted, flush_seconds=flush_seconds)
    try:
        status = recorder.record(Path(out), cfg)
    except Exception as exc:      # a bad URL or an unwritable folder: say which, once
        _fail(f"record-forceorders: {type(exc).__name__}: {exc}")
    click.echo(f"stopped: {status.written} payload(s) written, {status.duplicates} duplicate(s) dropped, "
               f"{status.malformed} malformed, {status.reconnects} reconnect(s); tapes in {Path(out) / 'forceOrder'}")


@main.command()
@data_dir_option
@click.option("--max-age", default="36h", show_default=True,
              help="Older than this is stale (klines, OI, funding, heatmap; the recorder's last message): 90m, 36h, 2d.")
@click.option("--tapes", default=None, help="The recorder's --out folder, to judge it too.")
@click.option("--as-of", "as_of", default=None, help="Judge as of this UTC time (ISO-8601; default: now).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(data_dir, max_age, tapes, as_of, fmt) -> None:
    """Freshness and health per dataset and symbol; exits 1 when anything judged is stale."""
    import dataclasses
    import datetime as dt
    import json

    from .lib import status as st

    try:
        limit = st.parse_age(max_age)
        now = dt.datetime.fromisoformat(as_of) if as_of else dt.datetime.now(dt.UTC)
    except ParameterError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(f"--as-of: {as_of!r} is not an ISO-8601 time ({exc})")
    now = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    root = _root(data_dir)
    rows = st.freshness(root, now, limit)
    recorder = st.recorder_state(Path(tapes), now, limit) if tapes else None
    jobs = {}
    home = _dagster_home_path()
    if (home / "dagster.yaml").exists():        # read-only: no instance is made where there is none
        import dagster as dg
        os.environ["DAGSTER_HOME"] = str(home)
        with dg.DagsterInstance.get() as instance:
            jobs = st.job_runs(instance)
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


if __name__ == "__main__":
    main()
