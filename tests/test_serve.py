"""`liq serve`: the map over HTTP, a real server on 127.0.0.1 over a data root built here. Every route answers in
its contract's shape, every bad parameter gets a 400 with one line, a warehouse rebuild never fails a request,
and the page and its plotly bundle are served from the package."""
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import requests

from liq_pipeline.lib.io import schemas, tables, warehouse
from liq_pipeline.lib.io.storage import DataLayout

from .test_ui import _free_port

D0 = dt.date(2026, 4, 5)
DAYS = 3
LAST = pd.Timestamp(D0 + dt.timedelta(days=DAYS - 1), tz="UTC") + pd.Timedelta(hours=23)


def _data_root(root) -> None:
    layout = DataLayout(root)
    rng = np.random.default_rng(5)
    for d in range(DAYS):
        day = D0 + dt.timedelta(days=d)
        ts = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=24, freq="1h").as_unit("ms")
        price = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.003, 24)) + 0.002 * d)
        rows = [{"symbol": "BTCUSDT", "model": model, "ts": t, "side": side, "bucket": b, "price_low": 0.0,
                 "price_high": 0.0, "notional_usd": float(rng.uniform(1e5, 1e7)), "price": p}
                for model in ("flow", "static") for t, p in zip(ts, price)
                for side, bs in (("long", range(1800, 1843)), ("short", range(1846, 1890))) for b in bs]
        layout.write(schemas.conform(pd.DataFrame(rows), "heatmap_levels"), "model", "heatmap_levels", "BTCUSDT", day)
        for table, col in (("klines", "open_time"), ("open_interest", "ts"), ("funding", "ts"), ("heatmap", "ts")):
            layout.write(pd.DataFrame({"symbol": "BTCUSDT", col: ts}), "clean" if table != "heatmap" else "model",
                         table, "BTCUSDT", day)
        events = pd.DataFrame({"symbol": "BTCUSDT", "ts": ts[::6] + pd.Timedelta(minutes=7), "side": "long",
                               "price": price[::6] * 0.99, "notional_usd": 50_000.0, "source": "binance_forceOrder"})
        layout.write(events, "clean", "liquidation_events", "BTCUSDT", day)
    report = layout.reports("BTCUSDT") / "2026-04"
    report.mkdir(parents=True)
    (report / "validation.json").write_text(json.dumps({"symbol": "BTCUSDT", "month": "2026-04", "grade": "C"}))
    warehouse.build(root, {t.name: t.layer for t in tables.TABLES.values()})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve") / "data"
    _data_root(root)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "liq_pipeline.cli", "serve", "--port", str(port), "--data-dir",
                             str(root), "--now", (LAST + pd.Timedelta(hours=2)).isoformat()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DAGSTER_HOME": str(root.parent / "home")})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/api/health", timeout=2)
            break
        except requests.ConnectionError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
    yield url, root
    proc.terminate()
    proc.wait(timeout=20)


def test_the_heatmap_answers_in_the_contracts_shape(server):
    url, _ = server
    m = requests.get(f"{url}/api/heatmap", params={"symbol": "btcusdt", "timeframe": "1d"}).json()
    assert m["symbol"] == "BTCUSDT" and m["model"] == "flow" and m["asof"] == "2026-04-07T23:00:00Z"
    assert m["levels"] and set(m["levels"][0]) == {"side", "price_low", "price_high", "notional_usd"}
    mx = m["matrix"]
    # the snapshot's levels are the matrix's last column, per side
    for side in ("long", "short"):
        column = {round(p, 6): row[-1] for p, row in zip(mx["price_bins"], mx[f"{side}_usd"]) if row[-1] > 0}
        assert column == {round(lv["price_low"], 6): lv["notional_usd"] for lv in m["levels"] if lv["side"] == side}
    assert len(mx["times"]) == 24 and mx["times"][-1] == m["asof"]
    assert len(mx["price_bins"]) == len(mx["long_usd"]) == len(mx["short_usd"]) > 10
    assert all(len(row) == len(mx["times"]) for row in mx["long_usd"] + mx["short_usd"])
    assert mx["price_bins"] == sorted(mx["price_bins"]) and len(mx["price"]) == 24
    assert len(m["events"]) == 4 and all(e["side"] == "long" for e in m["events"])       # the day's recorded ones
    earlier = requests.get(f"{url}/api/heatmap", params={"at": "2026-04-06T12:30:00Z", "model": "static"}).json()
    assert earlier["asof"] == "2026-04-06T12:00:00Z" and earlier["model"] == "static"
    week = requests.get(f"{url}/api/heatmap", params={"timeframe": "7d"}).json()
    assert week["covers_timeframe"] is False and week["from"].startswith("2026-04-05")


def test_key_levels_health_and_grade(server):
    url, _ = server
    lv = requests.get(f"{url}/api/levels", params={"top": 5}).json()
    usd = [level["notional_usd"] for level in lv["levels"]]
    assert len(usd) == 5 and usd == sorted(usd, reverse=True) and lv["asof"] == "2026-04-07T23:00:00Z"
    for level in lv["levels"]:                       # distance from the price to the level's middle, in percent
        mid = (level["price_low"] + level["price_high"]) / 2
        assert level["distance_pct"] == pytest.approx(100 * (mid / lv["price"] - 1), abs=1e-3)
    health = requests.get(f"{url}/api/health")
    body = health.json()
    assert health.status_code == 200 and body["status"] == "ok", body["reasons"]
    btc = body["symbols"]["BTCUSDT"]
    assert btc["snapshot_age_s"] == 2 * 3600 and btc["datasets"]["klines"]["lag_s"] == 2 * 3600
    grade = requests.get(f"{url}/api/grade", params={"symbol": "BTCUSDT", "month": "2026-04"})
    assert grade.status_code == 200 and grade.json()["grade"] == "C"
    assert requests.get(f"{url}/api/grade", params={"month": "2026-03"}).status_code == 404
    # a symbol without a map: 404, naming the symbols that have one; a held symbol before its first snapshot: 404
    other = requests.get(f"{url}/api/heatmap", params={"symbol": "ETHUSDT"})
    assert other.status_code == 404
    assert other.json()["error"] == "no flow heatmap snapshot for ETHUSDT up to now: ETHUSDT is not among the " \
                                    "symbols with a flow heatmap: BTCUSDT"
    before = requests.get(f"{url}/api/heatmap", params={"at": "2020-01-01T00:00"})
    assert before.status_code == 404 and before.json()["error"] == "no flow heatmap snapshot for BTCUSDT up to " \
                                                                   "2020-01-01T00:00"


@pytest.mark.parametrize("route, params, says", [
    ("heatmap", {"symbol": "../../etc/passwd"}, "symbol: '../../etc/passwd' is not a valid USD-M symbol"),
    ("heatmap", {"symbol": "BTC';DROP TABLE x;--"}, "is not a valid USD-M symbol"),
    ("heatmap", {"timeframe": "2d"}, "timeframe: '2d' is not one of 1d, 7d, 30d, 90d"),
    ("heatmap", {"model": "truth"}, "model: 'truth' is not one of flow, static"),
    ("heatmap", {"at": "yesterday"}, "at: 'yesterday' is not an ISO-8601 time"),
    ("levels", {"top": 0}, "top: "),
    ("levels", {"top": 1000}, "top: "),
    ("levels", {"top": "many"}, "top: "),
    ("grade", {"month": "2026-13"}, "month: '2026-13' is not YYYY-MM"),
    ("grade", {}, "month: "),
])
def test_every_bad_parameter_is_a_400_with_one_line(server, route, params, says):
    url, _ = server
    r = requests.get(f"{url}/api/{route}", params=params)
    assert r.status_code == 400 and says in r.json()["error"] and "\n" not in r.json()["error"], r.text


def test_the_page_and_its_plotly_are_served_from_the_package(server):
    url, _ = server
    page = requests.get(url)
    assert page.status_code == 200 and '<script src="/static/plotly.min.js">' in page.text and "/api/heatmap" in page.text
    js = requests.get(f"{url}/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    assert requests.get(f"{url}/openapi.json").json()["paths"].keys() >= {"/api/heatmap", "/api/levels", "/api/health",
                                                                          "/api/grade"}


def test_a_warehouse_rebuild_never_fails_a_request(server):
    url, root = server
    failures, answered, stop = [], [0], threading.Event()

    def client():
        with requests.Session() as s:
            while not stop.is_set():
                r = s.get(f"{url}/api/heatmap", params={"timeframe": "1d"})
                answered[0] += 1
                if r.status_code != 200:
                    failures.append(r.text)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):          # each build renames a new file over the one being read
            warehouse.build(root, {t.name: t.layer for t in tables.TABLES.values()})
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [] and answered[0] > 10


def test_no_warehouse_is_down_and_the_server_binds_loopback_by_default(tmp_path):
    import uvicorn
    from click.testing import CliRunner

    from liq_pipeline.cli import main
    from liq_pipeline.serve.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(tmp_path / "empty"), host="127.0.0.1", port=port,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        health = requests.get(f"http://127.0.0.1:{port}/api/health")
    finally:
        server.should_exit = True
        thread.join(10)
    assert health.status_code == 503 and health.json()["status"] == "down"
    assert "no warehouse at" in health.json()["reasons"][0]
    serve = next(c for c in main.commands.values() if c.name == "serve")
    assert next(p for p in serve.params if p.name == "host").default == "127.0.0.1"
    assert CliRunner().invoke(main, ["serve", "--now", "soon"]).output.startswith("error: --now: 'soon'")


def test_the_page_draws_the_map_in_headless_chromium_without_a_console_error(server):
    """The live page as a browser runs it (Debian's chromium, headless): plotly draws the heatmap, the key levels
    and the health badge are filled from the API, and the console says nothing (an error would be logged)."""
    import shutil
    url, _ = server
    browser = shutil.which("chromium")
    assert browser, "chromium not found: `make test-deps` installs it (Debian package chromium)"
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=15000", "--dump-dom", f"{url}/?timeframe=1d"],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert 'class="main-svg"' in dom and "heatmaplayer" in dom, dom[-2000:]        # plotly drew the heatmap
    assert dom.count('<tr class="long"><td>long</td>') + dom.count('<tr class="short"><td>short</td>') == 15
    assert 'id="badge" class="ok"' in dom and "as of 2026-04-07T23:00:00Z" in dom
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
