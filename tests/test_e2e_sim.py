"""`liq run --source simulated` through raw, clean, gates and the warehouse; reruns agree byte for byte."""
import os
import re

import duckdb
import pandas as pd
import pytest

from .test_e2e_files import liq, liq_env


def liq_modules(env_root, *args) -> list[str]:
    """The modules a `liq` command loaded, run in a fresh interpreter."""
    import subprocess
    import sys
    code = ("import sys\nfrom liq_pipeline.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\nprint('\\n'.join(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=liq_env(env_root),
                          check=True)
    return proc.stdout.splitlines()


def liq_on_a_terminal(*args, env_root) -> tuple[str, str]:
    """A `liq` command with its stderr on a pseudo-terminal, as a user's shell has it: (stdout, what the terminal
    showed, escape codes removed)."""
    import os
    import pty
    import subprocess
    import sys
    import threading
    master, slave = pty.openpty()
    shown = bytearray()

    def read():
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:             # the terminal's other end closed: the command is done
                return
            if not chunk:
                return
            shown.extend(chunk)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "liq_pipeline.cli", *args], stdout=subprocess.PIPE,
                              stderr=slave, text=True, env=liq_env(env_root), timeout=1200)
    finally:
        os.close(slave)
        reader.join(10)
        os.close(master)
    terminal = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))
    assert proc.returncode == 0, f"liq {' '.join(args)} failed:\n{proc.stdout}\n{terminal}"
    return proc.stdout, terminal


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# session scope, not module: under `--dist worksteal` a worker goes back and forth between modules, and pytest tears a
# module fixture down whenever the next test is another module's, so each of this module's tests made the run anew
@pytest.fixture(scope="session")
def simulated_run(tmp_path_factory):
    """Two days that end a month: the run launches the days, the month's roll-up and the warehouse again."""
    root = tmp_path_factory.mktemp("simulated")
    stdout, terminal = liq_on_a_terminal("run", "--source", "simulated", "--symbols", "BTCUSDT", "--start", "2026-04-29",
                                         "--end", "2026-04-30", "--seed", "3", env_root=root)
    return root, stdout, terminal


@pytest.mark.slow
def test_simulated_run_end_to_end(simulated_run, monkeypatch):
    tmp_path, stdout, terminal = simulated_run
    assert "BTCUSDT 2026-04-29..2026-04-30: ok" in stdout and "liq sql" in stdout
    # the progress bar moves while the run goes: it froze at 0 while the run captured the process's stderr, and
    # showed only the range's end (42 or 44 of 46) before the last run's
    counts = {(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+) materialisations", terminal)}
    total = max(b for _, b in counts)
    moving = sorted(d for d, _ in counts if 0 < d < total)
    assert (total, total) in counts and len(moving) >= 2 and moving[0] <= total // 2, sorted(counts)
    # the summary counts in the bar's unit and names every run it launched, with its page in the UI
    assert re.search(rf"done in [\d.]+ s: {total} materialisations", stdout), stdout
    # the warehouse's tables named are those an analyst queries (not `liq heatmap`'s pre-grouped timeframes)
    from liq_pipeline.lib.io import tables
    listed = re.search(r"warehouse: +\S+ \((.+)\)\n", stdout).group(1).split(", ")
    assert listed == sorted(tables.TABLES), listed
    runs = re.findall(r"    (\w+) \((.+?)\): ok  http://127\.0\.0\.1:3000/runs/([0-9a-f-]{36})\n", stdout)
    assert [r[:2] for r in runs] == [("daily_job", "the days"), ("monthly_job", "the months' roll-up"),
                                     ("daily_job", "the warehouse with the roll-up")], stdout
    import dagster as dg
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with dg.DagsterInstance.get() as instance:
        assert {instance.get_run_by_id(r[2]).job_name for r in runs} == {"daily_job", "monthly_job"}
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    q = lambda sql: con.execute(sql).fetchall()
    assert q("SELECT count(*), min(interval), max(interval) FROM klines") == [(2 * 1440, "1m", "1m")]
    assert q("SELECT count(*) FROM open_interest")[0][0] == 2 * 288
    assert q("SELECT count(*) FROM funding")[0][0] == 6
    n_truth, n_stream = q("SELECT (SELECT count(*) FROM sim_liquidations), (SELECT count(*) FROM liquidation_events)")[0]
    assert 0 < n_stream <= n_truth
    # the emitted OI equals the book of true positions at every snapshot both have
    diff = q("""SELECT max(abs(o.oi_contracts - p.q) / o.oi_contracts) FROM open_interest o
                JOIN (SELECT ts, sum(qty) q FROM sim_positions GROUP BY ts) p USING (ts)""")[0][0]
    assert diff < 1e-6          # OI is written rounded to 0.001 contract
    # every streamed liquidation is one of the true ones
    assert q("""SELECT count(*) FROM liquidation_events e LEFT JOIN sim_liquidations s
                ON e.ts = s.ts AND e.side = s.side AND abs(e.qty - s.qty) < 0.0006 WHERE s.ts IS NULL""")[0][0] == 0
    # the estimator ran: both models, conserving OI at every snapshot, levels on the right side of price
    assert q("SELECT count(DISTINCT model) FROM heatmap")[0][0] == 2
    from liq_pipeline.lib.model.config import ModelConfig       # one configuration for every market
    assert q("SELECT DISTINCT config_key FROM heatmap") == [(ModelConfig().key(),)]
    assert q("SELECT max(abs(book_to_oi - 1)) FROM model_snapshots")[0][0] < 1e-9
    assert q("SELECT count(*) FROM heatmap WHERE (side = 'long' AND price_low >= price) OR (side = 'short' AND price_high <= price)")[0][0] == 0
    assert q("SELECT count(*) FROM predicted_liquidations")[0][0] == 2 * 2 * 2 * 1440
    assert q("SELECT count(*) FROM volume_profile")[0][0] > 0
    # the truth's own zone share sits beside each model's (what the metric gives the true book: docs/validation.md)
    assert q("SELECT count(*) FROM validation_monthly WHERE truth_zone_share BETWEEN 0 AND 1 "
             "AND truth_zone_share_true_book BETWEEN 0 AND 1")[0][0] == 2
    con.close()

    # liq heatmap, every format
    ran = []             # every command of a user's first hour prints nothing on stderr (checked below)
    out = liq("heatmap", "--symbol", "BTCUSDT", "--timeframe", "1d", env_root=tmp_path).stdout
    assert "BTCUSDT flow model, 1d, snapshot 2026-04-30 23:00 UTC" in out and "— price" in out
    # its whole time is a target (< 300 ms): it must not import pandas (~0.6 s) or the duckdb package (~0.15 s)
    loaded = liq_modules(tmp_path, "heatmap", "--symbol", "BTCUSDT", "--timeframe", "1d")
    assert not {m.split(".")[0] for m in loaded} & {"pandas", "duckdb", "numpy", "dagster"}
    import json
    ran.append(liq("heatmap", "--timeframe", "7d", "--format", "json", "--model", "static", env_root=tmp_path))
    js = json.loads(ran[-1].stdout)
    assert js["model"] == "static" and js["levels"] and {"price_low", "long_usd", "short_peak_usd"} <= set(js["levels"][0])
    assert all(l["long_usd"] == 0 for l in js["levels"] if l["price_low"] >= js["price"])
    ran.append(liq("heatmap", "--format", "csv", "--at", "2026-04-30T12:00", env_root=tmp_path))
    csv_out = ran[-1].stdout
    lines = csv_out.splitlines()
    assert lines[0] == "symbol,model,timeframe,ts,price,price_low,price_high,long_usd,long_peak_usd,short_usd,short_peak_usd"
    assert lines[1].startswith("BTCUSDT,flow,1d,2026-04-30T12:00:00+00:00,")
    png = tmp_path / "h.png"
    ran.append(liq("heatmap", "--timeframe", "30d", "--format", "png", "--out", str(png), env_root=tmp_path))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    page = tmp_path / "h.html"
    ran.append(liq("heatmap", "--timeframe", "7d", "--format", "html", "--out", str(page), env_root=tmp_path))
    html = page.read_text()
    # one self-contained page: plotly inlined (no script loaded from elsewhere), both sides and the price, hover
    assert "<script src=" not in html and "Plotly.newPlot" in html and len(html) > 1_000_000
    assert all(f'"name":"{n}"' in html for n in ("long", "short", "price")) and "USD M" in html
    bad = liq("heatmap", "--at", "yesterday-ish", env_root=tmp_path, check=False)
    assert bad.returncode == 1 and "--at: 'yesterday-ish'" in bad.stderr
    none = liq("heatmap", "--at", "2020-01-01T00:00", env_root=tmp_path, check=False)
    assert none.returncode == 1 and "no flow heatmap snapshot for BTCUSDT" in none.stderr
    # a symbol the warehouse has no map of: the error names the ones it has (a user who typed BTC finds BTCUSDT)
    other = liq("heatmap", "--symbol", "btc", env_root=tmp_path, check=False)
    assert other.returncode == 1 and "BTC is not among the symbols with a flow heatmap: BTCUSDT" in other.stderr

    # a new user's next commands after the run: each exits 0 and prints nothing on stderr (no leak dump, no warning)
    # (the heatmap's other formats ran above: their stderr is checked below)
    for args in (("status", "--as-of", "2026-05-01T06:00"), ("heatmap", "--format", "png"),
                 ("sql", "SELECT symbol, count(*) AS n FROM klines GROUP BY 1"), ("symbols", "list")):
        done = liq(*args, env_root=tmp_path)
        assert done.stderr == "" and done.stdout, (args, done.stderr)
    # two days are too few 4h bars for the verdict: not graded, with its reason, and the seed formula beside it
    done = liq("grade", "--symbol", "BTCUSDT", "--month", "2026-04", env_root=tmp_path, check=False)
    assert done.returncode == 1 and done.stderr == ""
    assert "verdict: not graded   |   seed formula" in done.stdout and "at least 20" in done.stdout
    assert [r.stderr for r in ran] == [""] * 4
    out = tmp_path / "levels.json"                 # --out takes every format, not only the pictures
    assert liq("heatmap", "--format", "json", "--out", str(out), env_root=tmp_path).stdout.strip() == str(out)
    assert json.loads(out.read_text())["levels"]
    assert "the data holds 1.9 days of the 90d" in liq("heatmap", "--timeframe", "90d", env_root=tmp_path).stdout
    mode = (tmp_path / "data/reports/BTCUSDT/2026-04/validation.json").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask(), oct(mode)            # an output is as readable as any file the user makes

    # same seed, another data root: identical clean data
    other = tmp_path / "again"
    other.mkdir()
    liq("run", "--source", "simulated", "--start", "2026-04-29", "--end", "2026-04-30", "--seed", "3", env_root=other)
    for table in ("klines", "open_interest", "sim_positions", "liquidation_events"):
        a = pd.read_parquet(tmp_path / f"data/clean/{table}/symbol=BTCUSDT/date=2026-04-30/data.parquet")
        b = pd.read_parquet(other / f"data/clean/{table}/symbol=BTCUSDT/date=2026-04-30/data.parquet")
        pd.testing.assert_frame_equal(a, b)
    raw_a = sorted((tmp_path / "data/raw/simulated").rglob("*.zip"))
    raw_b = sorted((other / "data/raw/simulated").rglob("*.zip"))
    assert [p.read_bytes() for p in raw_a] == [p.read_bytes() for p in raw_b]


@pytest.mark.slow
def test_a_second_run_on_the_same_data_root_stops_with_a_clear_message(tmp_path):
    import os
    import subprocess
    import sys
    import time
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "LIQ_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "liq_pipeline.cli", "run", "--source", "simulated", "--start", "2026-04-05",
           "--end", "2026-04-06"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / "data" / ".liq-run.lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert f"data root {tmp_path / 'data'} is in use by liq run pid {first.pid}" in second.stderr
        assert first.wait(timeout=600) == 0, first.communicate()[1][-2000:]
    finally:
        first.kill()
    # the lock goes with its run: the root is free again
    from liq_pipeline.lib.io.storage import run_lock
    with run_lock(tmp_path / "data"):
        pass


NOWCAST_CLOCK = "2026-04-30T13:07:30+00:00"


@pytest.mark.slow
def test_the_nowcast_of_a_day_is_the_snapshot_the_daily_run_writes(simulated_run, tmp_path):
    """The day 2026-04-30 nowcast at 13:07:30 from the book 04-29 closed with (the book_state table) and the simulated
    market cut at the clock, against what the daily run wrote for the whole day: every snapshot up to 13:00 the same
    rows, number for number, and one more at 13:07, the last closed bar. Then through `liq serve`: the map at 13:00
    the server draws with its nowcast is the one drawn from the warehouse alone."""
    import datetime as dt
    import json
    import requests

    from liq_pipeline.lib.io import quality, warehouse
    from liq_pipeline.lib.io.storage import DataLayout
    from liq_pipeline.lib.model import map_views
    from liq_pipeline.lib.model.config import ModelConfig
    from liq_pipeline.lib.model.nowcast import DayFeed, nowcast
    from liq_pipeline.lib.sim.source import GeneratedMarkets
    from .test_nowcast import liq_serve

    root = simulated_run[0] / "data"
    layout = DataLayout(root)
    # the book each day closed with is a table of its own, gated: contracts equal the OI at the close
    book = layout.read("model", "book_state", "BTCUSDT", dt.date(2026, 4, 29))
    assert quality.run_suite("model_book_state", book).success
    oi = layout.read("clean", "open_interest", "BTCUSDT", dt.date(2026, 4, 30))
    assert book["ts"].iloc[0] == pd.Timestamp("2026-04-30", tz="UTC")
    assert book["contracts"].sum() == pytest.approx(oi[oi.ts == oi.ts.min()]["oi_contracts"].iloc[0], rel=1e-3)

    clock = dt.datetime.fromisoformat(NOWCAST_CLOCK)
    feed = DayFeed(GeneratedMarkets(layout.raw / "simulated", tmp_path / "scratch"), tmp_path / "scratch")
    live = nowcast(layout, feed, "BTCUSDT", clock, ModelConfig(), False)
    assert live.start == "the book the day before closed with" and live.gaps == []
    assert live.horizon == dt.datetime(2026, 4, 30, 13, 7, tzinfo=dt.UTC)
    stored = layout.read("model", "heatmap_levels", "BTCUSDT", dt.date(2026, 4, 30))
    cut = pd.Timestamp("2026-04-30T13:00", tz="UTC")
    key = ["model", "ts", "side", "bucket"]
    mine = live.levels[live.levels.ts <= cut].sort_values(key).reset_index(drop=True)
    theirs = stored[stored.ts <= cut].sort_values(key).reset_index(drop=True)
    assert len(theirs) > 1000 and mine["ts"].nunique() == 14         # 00:00 .. 13:00
    pd.testing.assert_frame_equal(mine, theirs)
    assert sorted(live.levels.ts.unique())[-1] == pd.Timestamp("2026-04-30T13:07", tz="UTC")
    # a server remakes it as bars close, running only the new bars from where it stopped: the same map
    days = {}
    for t in ("2026-04-30T00:00:30+00:00", "2026-04-30T09:59:59+00:00", "2026-04-30T10:00:00+00:00", NOWCAST_CLOCK):
        again = nowcast(layout, feed, "BTCUSDT", dt.datetime.fromisoformat(t), ModelConfig(),
                        False, days)
    pd.testing.assert_frame_equal(again.levels.sort_values(key).reset_index(drop=True),
                                  live.levels.sort_values(key).reset_index(drop=True))

    # the same through the server: its map at 13:00 (the day's snapshots from the nowcast) is the warehouse's
    with liq_serve("--data-dir", str(root), "--source", "simulated", "--now", NOWCAST_CLOCK,
                   home=tmp_path / "home") as url:
        health = requests.get(f"{url}/api/health").json()
        served = requests.get(f"{url}/api/heatmap", params={"at": "2026-04-30T13:00:00Z"}).json()
        latest = requests.get(f"{url}/api/heatmap").json()
    con = warehouse.connect_read_only(root)
    try:
        drawn = json.loads(json.dumps(map_views.heatmap(con, "BTCUSDT", "flow", "1d",
                                                        dt.datetime(2026, 4, 30, 13, tzinfo=dt.UTC),
                                                        until=dt.datetime(2026, 4, 30, 13, 7, tzinfo=dt.UTC))))
    finally:
        con.close()
    assert served == drawn
    # on a fixed clock, the latest map is the nowcast's, as of the last closed bar, and nothing after the clock
    assert latest["asof"] == "2026-04-30T13:07:00Z"
    assert health["symbols"]["BTCUSDT"]["nowcast"]["lag_s"] == 30
    assert all(e["ts"] <= "2026-04-30T13:07:30Z" for e in latest["events"])
    # the simulated market's stream is called simulated, stored days and the nowcast's alike
    assert latest["events"] and {e["source"] for e in latest["events"]} == {"simulated_forceOrder"}


@pytest.mark.slow
def test_a_replay_shows_the_map_as_it_stood_and_the_liquidations_as_they_happened(simulated_run, tmp_path):
    """`liq serve --replay 2026-04-30T06:00 --speed 600`: the clock runs ten minutes a second; the map follows it
    bar by bar (never ahead of the clock), and the liquidations drawn are those before the clock, more as it runs."""
    import datetime as dt
    import time

    import requests

    from .test_nowcast import liq_serve

    root = simulated_run[0] / "data"
    seen = []
    with liq_serve("--data-dir", str(root), "--source", "simulated", "--replay", "2026-04-30T06:00:00Z",
                   "--speed", "600", home=tmp_path / "home") as url:
        for _ in range(4):
            m = requests.get(f"{url}/api/heatmap", params={"timeframe": "1d"}).json()
            clock = dt.datetime.fromisoformat(requests.get(f"{url}/api/health").json()["now"])
            seen.append((m["asof"], clock, [e["ts"] for e in m["events"]]))
            time.sleep(1.5)
    asofs = [dt.datetime.fromisoformat(a.replace("Z", "+00:00")) for a, _, _ in seen]
    assert asofs == sorted(asofs) and asofs[-1] - asofs[0] >= dt.timedelta(minutes=30), seen
    for asof, clock, events in zip(asofs, [c for _, c, _ in seen], [e for _, _, e in seen]):
        assert dt.datetime(2026, 4, 30, 6, tzinfo=dt.UTC) <= asof <= clock
        assert all(dt.datetime.fromisoformat(e.replace("Z", "+00:00")) <= clock for e in events)
    assert len(seen[-1][2]) >= len(seen[0][2])
