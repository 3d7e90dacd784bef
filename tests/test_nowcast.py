"""The nowcast over REST (tests/fake_binance.py on 127.0.0.1): `liq serve --source binance` pulls the current day so
far, takes only the bars that have closed with their open interest published, rides out a 429, names a missing bar
in /api/health and draws the map without any stored day. The nowcast's equality with the daily run is in
test_e2e_sim.py, on the pipeline's own data root."""
import contextlib
import datetime as dt
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
import requests

from liq_pipeline.lib.io.storage import DataLayout
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.nowcast import DayFeed, horizon_of, nowcast
from liq_pipeline.lib.sources.binance_rest import BinanceRestSource
from liq_pipeline.lib.sources.http import BinanceHttp

from .fake_binance import FakeBinance
from .test_ui import _free_port

TODAY = dt.datetime.now(dt.UTC).date()             # REST serves open interest for its last 30 days only
CLOCK = dt.datetime.combine(TODAY, dt.time(10, 12, 30), dt.UTC)
MS = lambda t: int(t.timestamp() * 1000)            # noqa: E731


@contextlib.contextmanager
def liq_serve(*args, home, wait_s: float = 90):
    """`liq serve ARGS` in a process of its own on a free loopback port: its URL, once its first nowcast is made."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "liq_pipeline.cli", "serve", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DAGSTER_HOME": str(home)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                health = requests.get(f"{url}/api/health", timeout=2).json()
                if all(e.get("nowcast", {}).get("data_until") for e in health["symbols"].values()):
                    break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, f"no nowcast within {wait_s} s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _ts(*hm) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime.combine(TODAY, dt.time(*hm), dt.UTC))


def test_the_horizon_is_the_last_closed_bar_whose_oi_and_funding_are_published():
    kl = pd.DataFrame({"interval": "1m", "open_time": pd.date_range(_ts(0, 0), _ts(10, 20), freq="1min")})
    oi = pd.DataFrame({"ts": pd.date_range(_ts(0, 5), _ts(10, 5), freq="5min")})
    fu = pd.DataFrame({"ts": [_ts(0, 0), _ts(8, 0)], "interval_hours": [8, 8]})
    now = pd.Timestamp(CLOCK)
    # closed by 10:12:30: the bar ending 10:12; OI known to 10:05, so bars ending up to 10:09 reconcile to it
    assert horizon_of(kl, oi, fu, now, "1m") == _ts(10, 9)
    oi2 = pd.DataFrame({"ts": pd.date_range(_ts(0, 5), _ts(10, 10), freq="5min")})
    assert horizon_of(kl, oi2, fu, now, "1m") == _ts(10, 12)
    # a settlement due at 08:00 that is not published stops the bars at 08:00
    assert horizon_of(kl, oi2, fu.iloc[:1], now, "1m") == _ts(8, 0)
    assert horizon_of(kl.iloc[:0], oi2, fu, now, "1m") is None


def test_a_rest_nowcast_rides_out_a_429_and_names_the_missing_bar(tmp_path):
    with FakeBinance(page_cap=500) as fake:
        fake.missing["/fapi/v1/klines"] = {MS(_ts(10, 5))}
        fake.fault("/fapi/v1/klines", 429, headers={"Retry-After": "0"})
        source = BinanceRestSource(tmp_path / "scratch", fake.url, ["1m"], http=BinanceHttp(backoff=0.01))
        live = nowcast(DataLayout(tmp_path / "data"), DayFeed(source, tmp_path / "scratch"), "BTCUSDT", CLOCK,
                       ModelConfig(), False)
        assert fake.count("/fapi/v1/klines") >= 2            # the 429, then the answer
    assert live.horizon == _ts(10, 12).to_pydatetime() and live.interval == "1m"
    assert live.gaps == ["klines 1m: bar 10:05 UTC missing (1 of 612)"]
    assert live.start == "cold: no history, seeded from the volume profile"
    snaps = sorted(live.levels["ts"].unique())
    # the hourly snapshots of the day so far, and one at the last closed bar
    assert snaps[-1] == _ts(10, 12) and _ts(10, 0) in snaps and all(t <= _ts(10, 12) for t in snaps)
    assert set(live.levels["model"]) == {"flow", "static"}


@pytest.mark.slow
def test_liq_serve_nowcasts_over_rest_and_health_names_what_is_missing(tmp_path):
    with FakeBinance(page_cap=500) as fake:
        fake.missing["/fapi/v1/klines"] = {MS(_ts(10, 5))}
        fake.fault("/fapi/v1/klines", 429, headers={"Retry-After": "0"})
        with liq_serve("--data-dir", str(tmp_path / "data"), "--source", "binance", "--url", fake.url,
                       "--now", CLOCK.isoformat(), home=tmp_path / "home") as url:
            health = requests.get(f"{url}/api/health").json()
            heat = requests.get(f"{url}/api/heatmap", params={"timeframe": "1d"})
            levels = requests.get(f"{url}/api/levels", params={"top": 5})
    now = health["symbols"]["BTCUSDT"]["nowcast"]
    assert now["data_until"] == _ts(10, 12).isoformat() and now["lag_s"] == 30 and now["interval"] == "1m"
    # no stored day: the map is the nowcast's alone, and the health says why it is degraded, naming the bar
    assert health["status"] == "degraded" and health["clock"] == f"fixed at {CLOCK.isoformat()}"
    assert any("no warehouse" in r for r in health["reasons"])
    assert "nowcast BTCUSDT: klines 1m: bar 10:05 UTC missing (1 of 612)" in health["reasons"]
    assert heat.status_code == 200 and heat.json()["asof"] == _ts(10, 12).isoformat().replace("+00:00", "Z")
    times = heat.json()["matrix"]["times"]
    assert heat.json()["levels"] and times[-1] == heat.json()["asof"] and f"{TODAY}T10:00:00Z" in times
    assert levels.status_code == 200 and len(levels.json()["levels"]) == 5


@pytest.mark.parametrize("args, says", [
    (["--replay", "soon"], "error: --replay: 'soon'"),
    (["--speed", "10"], "error: --speed: a setting of --replay"),
    (["--now", "2026-04-30T10:00", "--replay", "2026-04-30T10:00"], "error: --now and --replay: one clock or the other"),
    (["--source", "files"], "error: --source files needs --path DIR"),
    (["--path", "/tmp"], "error: --path: a setting of --source files"),
    (["--source", "simulated", "--symbols", "BTC/../x"], "error: symbol"),
    (["--source", "simulated", "--symbols", "DOGEUSDT"], "error: symbol DOGEUSDT: no simulated market of it in"),
])
def test_liq_serve_refuses_a_bad_flag_with_one_line(tmp_path, args, says):
    from click.testing import CliRunner

    from liq_pipeline.cli import main
    out = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "data"), *args])
    assert out.exit_code != 0 and out.output.startswith(says) and out.output.count("\n") == 1, out.output


def test_a_folder_s_tape_is_read_again_at_every_refresh_as_a_recorder_appends_to_it(real, tmp_path):
    """`liq serve --source files --path DIR` where `liq record-forceorders --out DIR` writes: the liquidations of the
    day so far reach the map as they arrive (the klines and OI files hold whole days and are read once)."""
    import json
    import shutil

    from liq_pipeline.lib.sources.mirror import FilesSource

    folder = tmp_path / "folder"
    (folder / "forceOrder").mkdir(parents=True)
    for rel in ("futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01.zip",
                "futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-01.zip"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        for name in (rel, rel + ".CHECKSUM"):
            shutil.copy(real / name, folder / name)
    tape = folder / "forceOrder" / "forceOrder-2025-01-27.jsonl"
    shutil.copy(real / "forceOrder" / "forceOrder-2025-01-27.jsonl", tape)
    feed = DayFeed(FilesSource(tmp_path / "scratch", folder), tmp_path / "scratch")
    clock = dt.datetime(2025, 1, 27, 23, 0, tzinfo=dt.UTC)
    layout = DataLayout(tmp_path / "data")
    before = nowcast(layout, feed, "BTCUSDT", clock, ModelConfig(), False)
    at = int(dt.datetime(2025, 1, 27, 22, 30, tzinfo=dt.UTC).timestamp() * 1000)
    order = {"e": "forceOrder", "E": at, "o": {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.5",
                                               "p": "101000", "ap": "101000", "X": "FILLED", "l": "0.5", "z": "0.5",
                                               "T": at}}
    with tape.open("a") as f:
        f.write(json.dumps(order) + "\n")
    after = nowcast(layout, feed, "BTCUSDT", clock, ModelConfig(), False)
    assert len(before.events) > 10 and len(after.events) == len(before.events) + 1
    assert after.events["ts"].max() <= pd.Timestamp(clock)
    # the folder has no OI for the day yet: no map, and the health says why (never the server's end)
    assert after.horizon is None and any(g.startswith("open_interest: ") and "no metrics file" in g
                                         for g in after.gaps), after.gaps
