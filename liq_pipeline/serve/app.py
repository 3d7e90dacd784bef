"""`liq serve`: the map over HTTP (DESIGN section 10), read-only over the warehouse of one data root.

Every request opens its own read-only, sandboxed connection (lib/io/warehouse.connect_read_only): a `liq run`
rebuilds the warehouse beside the old file and renames it over, so a request in flight keeps reading the old
complete file and the next one sees the new, and the server never holds a lock a rebuild would wait for. Answers
are cached per warehouse version (the file's modification time) and parameters, so 50 clients asking for the
same map cost one query a version. Every parameter is validated before it reaches a query (a 400 naming it), and
no request value reaches a path or SQL text: symbols, timeframes, models and months are checked against their
forms, and the values are bound as query parameters.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import threading
from collections import OrderedDict

from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

import duckdb

from ..lib.io import status, storage, warehouse
from ..lib.model import levels_query, map_views
from ..lib.model.config import MODELS
from ..lib.params import ParameterError, parse_month, parse_symbol, parse_time
from ..lib.model.nowcast import Live
from . import page
from .live import Clock, LiveMaps

HEALTH_SECONDS = 5           # how long a health answer is reused (it reads every table's newest footer)


class BadRequest(ValueError):
    """A parameter that is not of its form: answered 400 with one line naming it."""


def _choice(value: str, allowed, param: str) -> str:
    if value not in allowed:
        raise BadRequest(f"{param}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _symbol(value: str) -> str:
    try:
        return parse_symbol(value)
    except ParameterError as exc:
        raise BadRequest(str(exc)) from None


def _time(value: str | None, param: str) -> dt.datetime | None:
    try:
        return parse_time(value, param) if value is not None else None
    except ParameterError as exc:
        raise BadRequest(str(exc)) from None


def warehouse_version(path) -> int:
    """Which warehouse file is in place (its modification time), 0 if none: a rebuild renames a new file over it."""
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0


class Answers:
    """The JSON of each (route, parameters), made once per version of what it reads: the warehouse file in place, the
    nowcast's last bar, and on a replayed or fixed clock the clock's minute. The first request of a key starts its
    query in a worker thread and the others asking for it await the same task (no stampede of identical queries);
    later ones get the same bytes from memory. When a version moves on (a rebuild puts a new file in place, a bar
    closes), the previous answer is served while the new one is made: neither makes a request wait for a query.
    Everything but the query runs on the event loop, so the tables need no lock."""

    SIZE = 256

    def __init__(self, root, lives: LiveMaps | None = None):
        self.root, self.path, self.lives = root, storage.warehouse_path(root), lives
        self.done: OrderedDict = OrderedDict()          # key -> (version, bytes or None)
        self.pending: dict = {}                         # (version, key) -> the task making it

    async def get(self, key: tuple, live_ms: int = 0, minute: int = 0) -> bytes | None:
        version = (warehouse_version(self.path), live_ms, minute)
        held = self.done.get(key)
        if held is not None and held[0] == version:
            self.done.move_to_end(key)
            return held[1]
        task = self.pending.get((version, key))
        if task is None:
            task = self.pending[(version, key)] = asyncio.ensure_future(self._refresh(version, key))
        if held is not None:                            # the answer of the version before: the new one is on its way
            return held[1]
        return await asyncio.shield(task)

    async def _refresh(self, version: tuple, key: tuple) -> bytes | None:
        try:
            body = await run_in_threadpool(self._make, version, key)
            held = self.done.get(key)
            if held is None or held[0] <= version:
                self.done[key] = (version, body)
                self.done.move_to_end(key)
                while len(self.done) > self.SIZE:
                    self.done.popitem(last=False)
            return body
        finally:
            self.pending.pop((version, key), None)

    def _make(self, version: tuple, key: tuple) -> bytes | None:
        stored, _, minute = version
        kind, symbol, model, *args = key
        live = self.lives.current(symbol) if self.lives is not None else None
        if stored == 0 and live is None:
            return None
        # on a replayed or fixed clock, nothing after it: the map as it stood, to the minute
        now = dt.datetime.fromtimestamp(minute * 60, dt.UTC) if minute else None
        con = warehouse.connect_read_only(self.root) if stored else duckdb.connect(":memory:")
        try:
            levels, events = _with_nowcast(con, live, stored=bool(stored))
            if kind == "heatmap":
                timeframe, at = args
                at = (min(at, now) if at is not None else now) if now is not None else at
                body = map_views.heatmap(con, symbol, model, timeframe, at, levels, events, now)
            else:
                (top,) = args
                body = map_views.key_levels(con, symbol, model, top, now, levels)
        finally:
            con.close()
        return None if body is None else json.dumps(body, separators=(",", ":")).encode()


def _with_nowcast(con, live: Live | None, stored: bool) -> tuple[str, str]:
    """The relations a map is read from: the warehouse's levels and recorded liquidations, with the nowcast's day
    (its snapshots and the day's liquidations so far) in place of whatever is stored from that day on."""
    if live is None or live.levels.empty:
        return "heatmap_levels", "liquidation_events"
    since = f"TIMESTAMPTZ '{dt.datetime.combine(live.day, dt.time(), dt.UTC).isoformat()}'"    # a date: no request text
    con.register("live_levels", live.levels)
    con.register("live_events", live.events)          # conformed to its table, empty or not
    for name, table, rows in (("levels_now", "heatmap_levels", "live_levels"),
                              ("events_now", "liquidation_events", "live_events")):
        before = f"SELECT * FROM {table} WHERE ts < {since} UNION ALL BY NAME " if stored else ""
        con.execute(f"CREATE TEMP VIEW {name} AS {before}SELECT * FROM {rows}")
    return "levels_now", "events_now"


def create_app(root, clock: Clock | None = None, lives: LiveMaps | None = None) -> FastAPI:
    """The app over the data root `root` (a local folder or an s3:// root); with `lives`, the clock's day is the
    nowcast's (remade by a background task as bars close)."""
    clock = clock or Clock()

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        task = asyncio.create_task(lives.run()) if lives is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="liq_pipeline live map", version="1", lifespan=lifespan,
                  description="Estimated liquidation levels of Binance USD-M futures, read-only.")
    wh_path = storage.warehouse_path(root)

    answers = Answers(root, lives)
    health_lock, health_memo = threading.Lock(), {}

    def health_now() -> dict:
        now, version = clock.now(), warehouse_version(wh_path)
        live_key = tuple(lives.version(s) for s in lives.symbols) if lives is not None else ()
        with health_lock:
            memo = health_memo.get("last")
            if memo and abs((now - memo[0]).total_seconds()) < HEALTH_SECONDS and memo[2] == (version, live_key):
                return memo[1]
        answer = status.health(root, now, status.MAX_AGE)
        if version == 0:
            answer = {**answer, "status": "down", "reasons": [f"no warehouse at {wh_path}: run `liq run` first",
                                                              *answer["reasons"]]}
        if lives is not None:
            answer = _merge_nowcast(answer, lives, now)
        answer["clock"] = clock.describe()
        with health_lock:
            health_memo["last"] = (now, answer, (version, live_key))
        return answer

    def versions(symbol: str) -> dict:
        """What an answer of `symbol` is made of, beyond the warehouse file: the nowcast's last bar, and on a
        replayed or fixed clock its minute (0: none)."""
        return {"live_ms": lives.version(symbol) if lives is not None else 0,
                "minute": 0 if clock.live else int(clock.now().timestamp() // 60)}

    held_memo: dict = {}                                # model -> (warehouse version, its symbols)

    def held(model: str) -> list[str]:
        """The symbols with a map of `model`: the warehouse's (read once a version) and the live ones."""
        version = warehouse_version(wh_path)
        memo = held_memo.get(model)
        if memo is None or memo[0] != version:
            stored = []
            if version:
                with contextlib.closing(warehouse.connect_read_only(root)) as con:
                    stored = levels_query.held_symbols(con, model)
            memo = held_memo[model] = (version, stored)
        return sorted({*memo[1], *(lives.symbols if lives is not None else ())})

    async def answer(body: bytes | None, missing: str, symbol: str, model: str):
        """The answer, or a 404 that says what is missing: the symbol (and those held), or a snapshot in time."""
        if body is None:
            reason = levels_query.not_found(symbol, model, await run_in_threadpool(held, model))
            return JSONResponse({"error": f"{missing}: {reason}" if reason else missing}, status_code=404)
        return Response(body, media_type="application/json")

    @app.exception_handler(BadRequest)
    async def bad_request(_request, exc: BadRequest):
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_form(_request, exc: RequestValidationError):
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"][1:]) or "request"
        return JSONResponse({"error": f"{name}: {first['msg']}"}, status_code=400)

    @app.get("/api/heatmap", summary="A timeframe's heatmap: the snapshot's levels and price bins × time")
    async def api_heatmap(symbol: str = "BTCUSDT", timeframe: str = "1d", model: str = MODELS[0], at: str | None = None):
        sym, tf = _symbol(symbol), _choice(timeframe, tuple(levels_query.TIMEFRAMES), "timeframe")
        mdl, when = _choice(model, MODELS, "model"), _time(at, "at")
        return await answer(await answers.get(("heatmap", sym, mdl, tf, when), **versions(sym)),
                            f"no {mdl} heatmap snapshot for {sym} up to {at or 'now'}", sym, mdl)

    @app.get("/api/levels", summary="The latest snapshot's key levels ranked by notional")
    async def api_levels(symbol: str = "BTCUSDT", model: str = MODELS[0],
                         top: int = Query(10, ge=1, le=map_views.MAX_LEVELS)):
        sym, mdl = _symbol(symbol), _choice(model, MODELS, "model")
        return await answer(await answers.get(("levels", sym, mdl, top), **versions(sym)),
                            f"no {mdl} heatmap snapshot for {sym}", sym, mdl)

    @app.get("/api/health", summary="ok / degraded / down, per symbol the snapshot's age and each dataset's lag")
    def api_health():
        body = health_now()
        return JSONResponse(body, status_code=200 if body["status"] != "down" else 503)

    @app.get("/api/grade", summary="The month's verdict (validation.json)")
    def api_grade(symbol: str = "BTCUSDT", month: str = Query(..., description="YYYY-MM"), model: str = MODELS[0]):
        from ..lib.validation.report import verdict_path
        sym, mdl = _symbol(symbol), _choice(model, MODELS, "model")
        try:
            month = parse_month(month)
        except ParameterError as exc:
            raise BadRequest(str(exc)) from None
        path = verdict_path(storage.DataLayout(root).reports(sym), month, mdl)
        try:
            return JSONResponse(json.loads(storage.read_bytes(path)))
        except FileNotFoundError:
            return JSONResponse({"error": f"no verdict for {sym} {month} ({mdl})"}, status_code=404)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return HTMLResponse(page.HTML)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return Response(page.plotly_js(), media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    return app


def _merge_nowcast(answer: dict, lives: LiveMaps, now: dt.datetime) -> dict:
    """The pipeline's health with the nowcast's facts: per symbol `nowcast`; where it is current, the snapshot's age
    is its lag (the clock's day is the nowcast's) and the stored tables' staleness is not a reason; its gaps, lag
    and errors are (a degraded status, never a down one while there is a map to draw)."""
    facts, reasons = lives.health(now)
    symbols = {k: dict(v) for k, v in answer["symbols"].items()}
    for symbol, entry in facts.items():
        sym = symbols.setdefault(symbol, {"snapshot_age_s": None, "datasets": {}})
        sym["nowcast"] = entry
        if entry.get("lag_s") is not None:          # the clock's day is the nowcast's: its age is the map's
            sym["snapshot_age_s"] = entry["lag_s"]
    # the stored tables' staleness is the nowcast's to answer for where it is current
    current = {s for s, e in facts.items() if e.get("lag_s") is not None}
    kept = [r for r in answer["reasons"] if not any(f" {s}:" in r for s in current)]
    reasons = kept + reasons
    servable = answer["status"] != "down" or bool(current)      # down: nothing at all to draw
    status_ = "down" if not servable else "degraded" if reasons else "ok"
    return {**answer, "status": status_, "symbols": symbols, "reasons": reasons}


def serve(root, host: str, port: int, clock: Clock | None = None, lives: LiveMaps | None = None) -> None:
    import uvicorn
    uvicorn.run(create_app(root, clock, lives), host=host, port=port, log_level="warning", access_log=False)
