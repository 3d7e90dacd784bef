"""Contract data: `liq brackets refresh`, `liq symbols refresh|list`."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ..lib.params import ParameterError
from .base import fail, main


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

    from ..lib.market import bracket_refresh
    from ..lib.market import brackets as brackets_mod
    from ..lib.errors import InputError, SourceError
    from ..lib.params import parse_symbols
    from ..lib.sources.binance_rest import FAPI_URL
    from ..lib.sources.http import BinanceHttp

    if sum(map(bool, (symbols, all_symbols, top))) != 1:
        fail("brackets refresh: give one of --symbols A,B, --top N or --all")
    try:
        wanted = parse_symbols(symbols) if symbols else None
    except ParameterError as exc:
        fail(str(exc))
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
            fail(f"brackets refresh: the endpoint has no brackets for {', '.join(missing)} (not USD-M symbols?)")
        chosen = wanted or sorted(by_symbol)
        written = [bracket_refresh.write_snapshot(by_symbol[s], folder, now, base) for s in chosen]
    except (InputError, SourceError, ValueError, KeyError) as exc:     # an answer not of the documented shape
        fail(f"brackets refresh: {exc}")
    for s in chosen:
        if (coef := bracket_refresh.adjusted_coef(by_symbol[s])) is not None:
            click.echo(f"  warning: {s} notionalCoef {coef}: this account's brackets are adjusted (recorded in the file)")
    click.echo(f"{len(written)} snapshot(s) in {folder}" + "".join(f"\n  {p.name}" for p in written[:20])
               + (f"\n  … and {len(written) - 20} more" if len(written) > 20 else ""))
    if folder != brackets_mod.shipped_dir() and brackets_mod.user_dir() != folder:
        click.echo(f"  runs read them with {brackets_mod.BRACKETS_DIR_VAR}={folder}")


@main.group()
def symbols() -> None:
    """USD-M contracts: exchange info (tick, lot, status) and which bracket table each symbol runs on."""


@symbols.command("refresh")
@click.option("--out", default=None, help="Folder for the snapshot (default: as `liq brackets refresh`).")
@click.option("--url", default=None, help="USD-M REST base URL (default https://fapi.binance.com).")
def symbols_refresh(out, url) -> None:
    """Fetch Binance's exchange info (public GET /fapi/v1/exchangeInfo) into exchange-info-DATE.csv."""
    import datetime as dt

    from ..lib.market import contracts
    from ..lib.errors import InputError, SourceError
    from ..lib.sources.binance_rest import FAPI_URL
    from ..lib.sources.http import BinanceHttp

    folder = _snapshot_folder(out)
    base = url or FAPI_URL
    try:
        resp = BinanceHttp().get(f"{base.rstrip('/')}{contracts.ENDPOINT}")
        df = contracts.from_answer(resp.json())
        path = contracts.write_snapshot(df, folder, dt.datetime.now(dt.UTC), base)
    except (InputError, SourceError, ValueError) as exc:
        fail(f"symbols refresh: {exc}")
    click.echo(f"{path}: {len(df)} contracts, {len(contracts.trading_perpetuals(df))} trading perpetuals")


@symbols.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def symbols_list(fmt) -> None:
    """Every symbol with a bracket table or in the exchange-info snapshot: its contract details and brackets."""
    from ..lib.market import brackets as brackets_mod
    from ..lib.market import contracts

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
    from ..lib.market import brackets as brackets_mod
    folder = Path(out) if out else brackets_mod.user_dir() or brackets_mod.shipped_dir()
    if not os.access(folder if folder.exists() else folder.parent, os.W_OK):
        fail(f"out: {folder} is not writable; pass --out DIR and set {brackets_mod.BRACKETS_DIR_VAR}=DIR for the runs")
    return folder
