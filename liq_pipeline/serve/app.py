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
import datetime as dt
import json
import os
import threading
from collections import OrderedDict

from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..lib.io import status, storage, warehouse
from ..lib.model import map_views
from ..lib.model.config import MODELS
from ..lib.model.levels_query import TIMEFRAMES
from ..lib.params import ParameterError, parse_month, parse_symbol, parse_time
from . import page

MAX_AGE = dt.timedelta(hours=36)
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
    """The JSON of each (route, parameters), made once per warehouse version. The first request of a key starts its
    query in a worker thread and the others asking for it await the same task (no stampede of identical queries);
    later ones get the same bytes from memory. When a rebuild puts a new file in place, the previous version's
    answer is served while the new one is made: a rebuild never makes a request wait for a query. Everything but
    the query runs on the event loop, so the tables need no lock."""

    SIZE = 256

    def __init__(self, root):
        self.root, self.path = root, storage.warehouse_path(root)
        self.done: OrderedDict = OrderedDict()          # key -> (version, bytes or None)
        self.pending: dict = {}                         # (version, key) -> the task making it

    async def get(self, key: tuple) -> bytes | None:
        version = warehouse_version(self.path)
        held = self.done.get(key)
        if held is not None and held[0] == version:
            self.done.move_to_end(key)
            return held[1]
        task = self.pending.get((version, key))
        if task is None:
            task = self.pending[(version, key)] = asyncio.ensure_future(self._refresh(version, key))
        if held is not None:                            # the answer of the file before: the new one is on its way
            return held[1]
        return await asyncio.shield(task)

    async def _refresh(self, version: int, key: tuple) -> bytes | None:
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

    def _make(self, version: int, key: tuple) -> bytes | None:
        kind, *args = key
        if version == 0:
            return None
        con = warehouse.connect_read_only(self.root)
        try:
            body = map_views.heatmap(con, *args) if kind == "heatmap" else map_views.key_levels(con, *args)
        finally:
            con.close()
        return None if body is None else json.dumps(body, separators=(",", ":")).encode()


class Clock:
    """Now, or a fixed time (`liq serve --now`, tests)."""

    def __init__(self, fixed: dt.datetime | None = None):
        self.fixed = fixed

    def now(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)


def create_app(root, clock: Clock | None = None) -> FastAPI:
    """The app over the data root `root` (a local folder or an s3:// root)."""
    clock = clock or Clock()
    app = FastAPI(title="liq_pipeline live map", version="1",
                  description="Estimated liquidation levels of Binance USD-M futures, read-only.")
    wh_path = storage.warehouse_path(root)

    answers = Answers(root)
    health_lock, health_memo = threading.Lock(), {}

    def health_now() -> dict:
        now, version = clock.now(), warehouse_version(wh_path)
        with health_lock:
            memo = health_memo.get("last")
            if memo and abs((now - memo[0]).total_seconds()) < HEALTH_SECONDS and memo[2] == version:
                return memo[1]
        answer = status.health(root, now, MAX_AGE)
        if version == 0:
            answer = {**answer, "status": "down", "reasons": [f"no warehouse at {wh_path}: run `liq run` first",
                                                              *answer["reasons"]]}
        with health_lock:
            health_memo["last"] = (now, answer, version)
        return answer

    def answer(body: bytes | None, missing: str):
        if body is None:
            return JSONResponse({"error": missing}, status_code=404)
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
        sym, tf = _symbol(symbol), _choice(timeframe, tuple(TIMEFRAMES), "timeframe")
        mdl, when = _choice(model, MODELS, "model"), _time(at, "at")
        return answer(await answers.get(("heatmap", sym, mdl, tf, when)),
                      f"no {mdl} heatmap snapshot for {sym} up to {at or 'now'}")

    @app.get("/api/levels", summary="The latest snapshot's key levels ranked by notional")
    async def api_levels(symbol: str = "BTCUSDT", model: str = MODELS[0],
                         top: int = Query(10, ge=1, le=map_views.MAX_LEVELS)):
        sym, mdl = _symbol(symbol), _choice(model, MODELS, "model")
        return answer(await answers.get(("levels", sym, mdl, top)), f"no {mdl} heatmap snapshot for {sym}")

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


def serve(root, host: str, port: int, now: dt.datetime | None = None) -> None:
    import uvicorn
    uvicorn.run(create_app(root, Clock(now)), host=host, port=port, log_level="warning", access_log=False)

