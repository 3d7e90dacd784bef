"""`liq run`: plan a range (lib/plan.py), launch its runs through the instance (runtime/launch.py), say what was
made and where."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import click

from ..defs import EXECUTORS
from ..lib.io import storage
from ..lib.params import ParameterError, parse_date_range, parse_interval, parse_symbols
from ..lib.sim import BARS as SIM_BARS
from ..lib.sources import SOURCE_KINDS, SourceKind
from ..runtime import CELERY_BROKER_VAR, DAGSTER_UI, DEFAULT_CELERY_BROKER, instance_home
from .base import data_dir_option, data_root, fail, main, own_stderr

# The flags each source kind takes beyond the shared ones: another kind's flag is refused, never ignored.
FEED_FLAGS = {"simulated": {"--seed", "--agg-trades", "--any-symbol"}, "files": {"--path"}, "archive": set(),
              "binance": {"--agg-trades"}, "auto": {"--agg-trades"}}


def source_config(kind: str, days: list, intervals: list[str], *, path: str, seed: int | None,
                  agg_trades: bool, any_symbol: bool, bracket_fallback: bool) -> dict:
    """The source resource's run config of `liq run`'s flags: the chosen kind's feed with its own settings only."""
    given = {"--path": bool(path), "--seed": seed is not None, "--agg-trades": agg_trades, "--any-symbol": any_symbol}
    foreign = [flag for flag, on in given.items() if on and flag not in FEED_FLAGS[kind]]
    if foreign:
        raise ParameterError(f"{', '.join(foreign)}: not a setting of --source {kind}")
    if kind == "simulated":
        if intervals and (len(intervals) > 1 or intervals[0] not in SIM_BARS):
            raise ParameterError(f"intervals: the simulated market has one bar interval, one of {', '.join(SIM_BARS)} "
                                 f"(got {','.join(intervals)})")
        feed = {"start": days[0].isoformat(), "days": len(days), "agg_trades": agg_trades, "any_symbol": any_symbol,
                **({"seed": seed} if seed is not None else {}), **({"interval": intervals[0]} if intervals else {})}
    else:
        feed = {**({"intervals": intervals} if intervals else {}),
                **({"path": str(Path(path).resolve())} if kind == "files" else {}),
                **({"agg_trades": agg_trades} if "--agg-trades" in FEED_FLAGS[kind] else {})}
    return {"feed": {kind: feed}, "bracket_fallback": bracket_fallback}


RUN_PURPOSE = {"history": "the history before the first day", "days": "the days", "months": "the months' roll-up",
               "warehouse": "the warehouse with the roll-up"}


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
        fail(str(exc))
    root = data_root(data_dir)
    try:   # one launcher per data root, held until the command ends
        click.get_current_context().with_resource(storage.run_lock(root))
    except storage.DataRootBusy as exc:
        fail(str(exc))
    try:
        source_cfg = source_config(source, days, ivs, path=source_path, seed=seed, agg_trades=agg_trades,
                                   any_symbol=any_symbol, bracket_fallback=bracket_fallback)
    except ParameterError as exc:
        fail(str(exc))
    plan = _plan(root, source, source_cfg, syms, days)
    home = instance_home()
    if executor == "celery":        # a run with no worker to take its steps would wait forever: say so now
        _require_workers(broker)
    click.echo(f"liq run: source={source} symbols={','.join(syms)} days={days[0]}..{days[-1]} "
               f"({len(days)})")
    click.echo(f"  data root: {root}\n  dagster instance: {home}")
    for sym in plan.fallback:
        why = "--any-symbol: simulated" if any_symbol else "no bracket table of its own: runs"
        click.echo(f"  {sym}: {why} on the FALLBACK tiers (lib/market/brackets; the model's metadata says so; "
                   f"`liq brackets refresh` fetches Binance's)")
    for sym, hist in plan.history.items():
        if hist:
            click.echo(f"  {sym}: first day starts warm: history {hist[0]}..{hist[-1]} ({len(hist)} days of "
                       f"klines, OI, funding) pulled first")
    t0 = time.monotonic()
    config = {"storage": {"data_dir": str(root)}, "source": source_cfg, "executor": executor, "broker": broker}
    outcomes, counted = _launch(plan, config, {"liq/source": source})
    for o in outcomes:
        click.echo(f"  {o.symbol} {days[0]}..{days[-1]}: {'ok' if o.success else 'FAILED'}")
        for r in o.runs:
            click.echo(f"    {r.job} ({RUN_PURPOSE[r.purpose]}): {'ok' if r.success else 'FAILED'}  "
                       f"{DAGSTER_UI}/runs/{r.run_id}")
    failed = [o for o in outcomes if not o.success]
    if failed:
        fail("\n".join(f"{o.symbol} (run {o.run_id}):\n  " + "\n  ".join(o.errors or ["run failed (see the Dagster UI)"])
                         for o in failed))
    data_flag = "" if data_dir is None and not os.environ.get("LIQ_DATA_DIR") else f" --data-dir {root}"
    click.echo(f"done in {time.monotonic() - t0:.1f} s: {counted}. Outputs:")
    _outputs(root, plan, data_flag)


def _plan(root, source: str, source_cfg: dict, syms: list[str], days: list):
    """The run's plan (lib/plan.py), or one line naming what refuses it: bad input adds nothing, every symbol and day
    is confirmed by the source before it becomes a partition."""
    from pydantic import ValidationError

    from ..defs.resources import FEEDS, SourceResource
    from ..lib.errors import InputError, SourceError
    from ..lib.plan import plan_run

    try:
        resource = SourceResource(feed=FEEDS[source](**source_cfg["feed"][source]),
                                  bracket_fallback=source_cfg["bracket_fallback"])
    except ValidationError as exc:       # the resource's own checks (e.g. the simulated market's one interval)
        fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()))
    try:
        return plan_run(resource.open(root / "raw"), storage.DataLayout(root), syms, days,
                        resource.bracket_fallback_allowed())
    except (InputError, SourceError) as exc:
        fail(str(exc))


def _require_workers(broker: str) -> None:
    from ..runtime.celery_app import workers
    try:
        listening = workers(broker)
    except Exception as exc:
        fail(f"broker: cannot reach {broker} ({type(exc).__name__}: {exc})")
    if not listening:
        fail(f"executor celery: no worker is listening on {broker}; start one with `liq worker --broker {broker}`")


def _launch(plan, config: dict, tags: dict):
    """Every symbol's runs through the instance, with a progress bar in one unit, materialisations (a partition of
    one asset), which the summary uses too: (outcomes, what was counted)."""
    import dagster as dg
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..runtime import launch

    syms, days = plan.symbols, plan.days
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("symbol", [s for s in syms if not instance.has_dynamic_partition("symbol", s)])
    months, size = launch.completed_months(days[0], days[-1]), launch.job_size()
    total = (size * len(days) + (len(months) + 1 if months else 0)) * len(syms) + \
        len(launch.HISTORY_ASSETS) * sum(map(len, plan.history.values()))
    run_config = launch.run_config(config["storage"], config["source"], config["executor"], broker=config["broker"])
    with own_stderr() as terminal:
        console = Console(file=terminal)
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("materialisations"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                      console=console, transient=not console.is_terminal,
                      # the bar moves once a poll (≥ 1 s): rich's default of 10 renders a second cost the run's
                      # thread CPU for a clock; where no terminal shows the bar, it needs none
                      refresh_per_second=2, auto_refresh=console.is_terminal) as progress:
            task = progress.add_task(f"{len(syms)} symbol(s) × {len(days)} day(s)", total=total)
            outcomes = launch.launch(syms, days[0], days[-1], run_config, tags, history=plan.history,
                                     on_progress=lambda n: progress.update(task, completed=n))
    counted = (f"{total} materialisations ({len(days)} day(s) × {len(syms)} symbol(s) × {size} assets"
               + (f", {len(months)} month(s)" if months else "")
               + (", the history first" if any(plan.history.values()) else "") + ")")
    return outcomes, counted


def _outputs(root, plan, data_flag: str) -> None:
    """Where the outputs landed and the commands that read them."""
    from ..lib.io import warehouse
    from ..runtime.launch import completed_months

    # the tables analysts query (the `derived` schema's pre-grouped timeframes are `liq heatmap`'s own)
    _, rows = warehouse.query(root, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                                    "ORDER BY 1")
    sym = plan.symbols[0]
    click.echo(f"  clean Parquet: {root / 'clean'}\n  model Parquet: {root / 'model'}\n"
               f"  warehouse:     {storage.warehouse_path(root)} ({', '.join(r[0] for r in rows)})")
    click.echo(f"  query it:      liq sql \"SELECT symbol, count(*) FROM klines GROUP BY 1\"{data_flag}")
    click.echo(f"                 liq heatmap --symbol {sym} --timeframe 7d{data_flag}")
    for m in completed_months(plan.days[0], plan.days[-1]):
        click.echo(f"  {m:%Y-%m} report: {storage.DataLayout(root).reports(sym) / f'{m:%Y-%m}' / 'audit.md'}; "
                   f"liq grade --symbol {sym} --month {m:%Y-%m}{data_flag}")
    click.echo(f"  the runs:      make dev, then the links above (the Dagster UI on {DAGSTER_UI})")
