"""Reading what the pipeline made: `liq heatmap`, `liq sql`, `liq grade`. Light at import: `liq heatmap`'s whole
time is a target (< 300 ms), so pandas, numpy, DuckDB's Python package and Dagster stay out of it."""
from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path

import click

from ..lib.io import storage
from ..lib.model.config import MODELS
from ..lib.params import ParameterError
from .base import data_dir_option, data_root, fail, main


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

    from ..lib.model import levels_query
    from ..lib.params import parse_symbol, parse_time

    try:
        sym = parse_symbol(symbol)
        at_ts = parse_time(at, "--at") if at else None
    except ParameterError as exc:
        fail(str(exc))
    root = data_root(data_dir)
    try:
        view, missing = _heatmap_view(root, sym, model, at_ts, timeframe, window=fmt in ("png", "html"))
    except FileNotFoundError as exc:
        fail(str(exc))
    if missing:
        fail(f"no {model} heatmap of {sym} in {storage.warehouse_path(root)}: {missing}")
    if view is None:
        fail(f"no {model} heatmap snapshot for {sym} in the {timeframe} up to "
              f"{at_ts.isoformat() if at_ts is not None else 'the latest'} in {storage.warehouse_path(root)}")
    when, price = view.ts, view.price
    # a timeframe longer than the history held shows what there is, and says so (days rounded down: 29.96 days
    # printed as "30.0 days of the 30d" would say the data is short and full at once)
    days_held = math.floor(view.covered / dt.timedelta(days=1) * 10) / 10
    short = (f"the data holds {days_held:.1f} days of the {timeframe}, from "
             f"{view.first:%Y-%m-%d %H:%M} UTC") if view.short_of_timeframe else ""
    if fmt in ("png", "html"):
        from ..lib.validation import plots
        path = Path(out) if out else root / "reports" / sym / f"heatmap-{model}-{timeframe}.{fmt}"
        title = f"{sym} estimated liquidation heatmap ({model} model), {timeframe} to {when:%Y-%m-%d %H:%M} UTC" + \
            (f"\n{short}" if short else "")          # a line of its own: on one, the title was wider than the PNG
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
    from ..lib.market.contracts import price_decimals

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


def _heatmap_view(root, symbol, model, *args, **kwargs):
    """The query on a connection that lives in this frame only: a frame that outlives its command (matplotlib's
    imports keep one reachable through a cycle) would hold the connection past exit, where DuckDB reports it leaked.
    Returns the view (None: no snapshot to show) and, with none, what is missing when it is the symbol itself
    (levels_query.not_found; "" when only the time asked for has no snapshot)."""
    from ..lib.io import warehouse
    from ..lib.model import levels_query

    with contextlib.closing(warehouse.connect_read_only(root)) as con:
        view = levels_query.query(con, symbol, model, *args, **kwargs)
        if view is not None and view.levels:
            return view, ""
        return None, levels_query.not_found(symbol, model, levels_query.held_symbols(con, model))


@main.command()
@click.argument("query")
@data_dir_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def sql(query, data_dir, fmt) -> None:
    """Run a read-only SQL query on the warehouse."""
    from ..lib.io import warehouse

    try:
        cols, rows = warehouse.query(data_root(data_dir), query)
    except (FileNotFoundError, warehouse.QueryRefused) as exc:
        fail(str(exc))
    except (warehouse.duckdb.PermissionException, warehouse.duckdb.InvalidInputException) as exc:
        fail(warehouse.refusal(exc) if "disabled by configuration" in str(exc) or "locked" in str(exc) else str(exc))
    except warehouse.duckdb.Error as exc:
        fail(str(exc))
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

    from ..lib.params import parse_month, parse_symbol
    from ..lib.validation.report import render_grade, verdict_path

    try:
        sym, month = parse_symbol(symbol), parse_month(month)
    except ParameterError as exc:
        fail(str(exc))
    root = data_root(data_dir)
    path = verdict_path(storage.DataLayout(root).reports(sym), month, model)
    if not path.exists():
        fail(f"no verdict for {sym} {month} ({model}) at {path}: `liq run` a range that completes the month "
              f"(or materialise validation/validation_monthly for {month}-01|{sym})")
    doc = json.loads(path.read_text())
    click.echo(json.dumps(doc, indent=1) if fmt == "json" else render_grade(doc, path))
    if doc["grade"] is None:
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on (loopback unless told).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--source", type=click.Choice(["simulated", "files", "binance"]), default=None,
              help="Nowcast the clock's day from this source (the pipeline's own estimator, remade as bars close): "
                   "simulated (the markets `liq run` generated in the data root), files (--path), binance (REST). "
                   "Unset: the pipeline's stored days only.")
@click.option("--path", "source_path", default="", help="Folder in the archive layout (--source files).")
@click.option("--url", default=None, help="REST base URL (--source binance; default Binance USD-M's).")
@click.option("--symbols", default="BTCUSDT", show_default=True, help="Comma-separated symbols to nowcast.")
@click.option("--intervals", default="", help="Kline intervals the nowcast reads (as `liq run`'s; default 1m).")
@click.option("--now", "now", default=None, help="Fix the clock at this UTC time (ISO-8601).")
@click.option("--replay", default=None, help="Start the clock at this UTC time (ISO-8601) and let it run: the map "
                                             "as it stood, the liquidations as they happened.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True, max=100_000), default=1.0, show_default=True,
              help="--replay: how many times faster than the wall clock.")
@data_dir_option
def serve(host, port, source, source_path, url, symbols, intervals, now, replay, speed, data_dir) -> None:
    """The live map over HTTP: /api/heatmap, /api/levels, /api/health, /api/grade, the page at / and the OpenAPI
    page at /docs. Read-only; stops on Ctrl-C."""
    from ..lib.params import parse_interval, parse_symbol, parse_time
    from ..serve.app import serve as run_server
    from ..serve.live import Clock

    try:
        if now and replay:
            raise ParameterError("--now and --replay: one clock or the other")
        if speed != 1.0 and not replay:
            raise ParameterError("--speed: a setting of --replay")
        clock = Clock(fixed=parse_time(now, "--now") if now else None,
                      replay=parse_time(replay, "--replay") if replay else None, speed=speed)
        syms = [parse_symbol(s.strip()) for s in symbols.split(",") if s.strip()]
        ivs = [parse_interval(i.strip(), "--intervals") for i in intervals.split(",") if i.strip()] or None
        if source_path and source != "files":
            raise ParameterError("--path: a setting of --source files")
        if url and source != "binance":
            raise ParameterError("--url: a setting of --source binance")
        if source == "files" and not source_path:
            raise ParameterError("--source files needs --path DIR")
    except ParameterError as exc:
        fail(str(exc))
    root = data_root(data_dir)
    lives, scratch = None, None
    if source:
        lives, scratch = _live_maps(root, source, source_path, url, syms, ivs, clock)
    click.echo(f"liq serve: the map of {root} on http://{host}:{port}/ (API: /docs), clock {clock.describe()}"
               + (f", nowcast of {','.join(syms)} from {source}" if source else "") + "; Ctrl-C stops it", err=True)
    try:
        run_server(root, host, port, clock, lives)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _live_maps(root, source: str, path: str, url: str | None, symbols: list[str], intervals, clock):
    """The nowcasts of `symbols` from the source, pulled into a scratch folder that lives as long as the server."""
    import tempfile

    from ..lib.errors import InputError
    from ..lib.io.storage import DataLayout, is_remote
    from ..lib.model.config import ModelConfig
    from ..lib.model.nowcast import DayFeed
    from ..serve.live import LiveMaps

    scratch = tempfile.TemporaryDirectory(prefix="liq-serve-")
    raw = Path(scratch.name)
    try:
        if source == "simulated":
            from ..lib.sim.source import GeneratedMarkets
            layout = DataLayout(root)
            if is_remote(layout.raw):
                raise InputError("--source simulated: the data root's generated markets are read from a local root")
            feed = GeneratedMarkets(layout.raw / "simulated", raw)
        elif source == "files":
            from ..lib.sources.mirror import FilesSource
            feed = FilesSource(raw, path, intervals)
        else:
            from ..lib.sources.binance_rest import FAPI_URL, BinanceRestSource
            feed = BinanceRestSource(raw, url or FAPI_URL, intervals)
        for symbol in symbols:
            feed.check_symbol(symbol, clock.now().date())
    except InputError as exc:
        scratch.cleanup()
        fail(str(exc))
    # the daily run's configuration (one for every source), so the day starts from the book it left
    return LiveMaps(root, DayFeed(feed, raw), symbols, ModelConfig(), fallback=False, clock=clock), scratch
