"""End to end: `liq run --source files` on the real samples, through a persistent Dagster instance."""
import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import zipfile

import json

import duckdb
import pytest

from liq_pipeline.lib.io.rawfiles import sha256_of

from .conftest import REPO, UM

# two whole months of the real samples (April from the OI files' first day): enough for both months' roll-ups
START, END = dt.date(2026, 4, 5), dt.date(2026, 5, 31)
DAYS = (END - START).days + 1


def liq_env(env_root) -> dict:
    """The environment of a `liq` command on env_root's instance and data root."""
    return {**os.environ, "DAGSTER_HOME": str(env_root / "dagster_home"), "LIQ_DATA_DIR": str(env_root / "data")}


def liq(*args, env_root, check=True, workers=None):
    env = liq_env(env_root)
    if workers is not None:
        env["LIQ_WORKERS"] = str(workers)
    proc = subprocess.run([sys.executable, "-m", "liq_pipeline.cli", *args], capture_output=True, text=True, env=env,
                          timeout=1200)
    if check and proc.returncode != 0:
        raise AssertionError(f"liq {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def source_rows(pattern: str, ts_col: int, to_ms, lo: dt.date, hi: dt.date) -> list[list[str]]:
    """Rows of the source files whose timestamp falls in [lo, hi], read with the csv module (not our parsers)."""
    lo_ms = int(dt.datetime.combine(lo, dt.time(), dt.UTC).timestamp() * 1000)
    hi_ms = int(dt.datetime.combine(hi + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp() * 1000)
    rows = []
    for path in sorted(UM.glob(pattern)):
        with zipfile.ZipFile(path) as zf:
            text = zf.read(zf.namelist()[0]).decode()
        for r in csv.reader(io.StringIO(text)):
            if r and r[0][:1].isdigit() or (r and r[0][:2] == "20"):
                t = to_ms(r[ts_col])
                if lo_ms <= t < hi_ms:
                    rows.append(r)
    return rows


def _ms_from_text(s):
    return int(dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC).timestamp() * 1000)


@pytest.mark.slow
def test_files_run_over_the_real_window(real, tmp_path):
    proc = liq("run", "--source", "files", "--path", str(real), "--symbols", "BTCUSDT",
               "--start", START.isoformat(), "--end", END.isoformat(), env_root=tmp_path)
    assert "done in" in proc.stdout and "warehouse.duckdb" in proc.stdout
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    q = lambda sql: con.execute(sql).fetchall()

    kl = source_rows("monthly/klines/BTCUSDT/1h/*.zip", 0, int, START, END)
    oi = source_rows("daily/metrics/BTCUSDT/*.zip", 0, _ms_from_text, START, END)
    fu = source_rows("monthly/fundingRate/BTCUSDT/*.zip", 0, int, START, END)
    assert q("SELECT count(*) FROM klines")[0][0] == len(kl) == DAYS * 24
    assert q("SELECT count(*) FROM open_interest")[0][0] == len(oi)
    assert q("SELECT count(*) FROM funding")[0][0] == len(fu) == DAYS * 3
    bars = {}
    for iv in ("30m", "1h"):
        f = next((real / "liquidationBars/BTCUSDT" / iv).glob("*.csv"))
        bars[iv] = sum(1 for r in csv.DictReader(f.open()) if START.isoformat() <= r["timestamp"][:10] <= END.isoformat())
    got = dict(q("SELECT interval, count(*) FROM liquidation_bars GROUP BY 1"))
    assert got == {k: v for k, v in bars.items() if v}

    # spot checks: values equal the source's, to the digit
    row = kl[24 * 26 + 12]      # 2026-05-01 12:00
    assert q(f"SELECT open, high, low, close, volume, trades FROM klines "
             f"WHERE open_time = make_timestamptz({int(row[0]) * 1000})") == \
        [(float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]), int(row[8]))]
    row = oi[1000]
    assert q(f"SELECT oi_contracts, oi_usd FROM open_interest WHERE ts = TIMESTAMPTZ '{row[0]}+00'") == \
        [(float(row[2]), float(row[3]))]
    row = fu[100]
    assert q(f"SELECT funding_rate FROM funding WHERE calc_time = make_timestamptz({int(row[0]) * 1000})") == [(float(row[2]),)]
    assert q("SELECT count(*) FROM klines WHERE ingest_source <> 'files' OR ingest_sha256 IS NULL")[0][0] == 0
    # real market data runs on the one configuration every market runs, and the months' verdicts record it
    from liq_pipeline.lib.model.config import ModelConfig
    assert q("SELECT DISTINCT config_key FROM heatmap") == [(ModelConfig().key(),)]
    doc = json.loads((tmp_path / "data/reports/BTCUSDT/2026-05/validation.json").read_text())
    assert doc["config"]["estimator"]["turnover_decay"] == 0.5 and doc["config"]["estimator_note"] is None
    con.close()

    # one run covered the range, and every (day, symbol) partition of every asset is recorded as materialised
    # and gated in the persistent instance, where `dagster dev` shows them
    import dagster as dg
    from liq_pipeline.lib.io import tables
    os.environ["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    with dg.DagsterInstance.get() as inst:
        runs = inst.get_runs(dg.RunsFilter(job_name="daily_job"))
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        # the range in one run; then, after the months' roll-up, the warehouse alone (so its views show them)
        assert sorted(tuple(sorted(k.to_user_string() for k in r.asset_selection)) if r.asset_selection else ("all",)
                      for r in runs) == [("all",), ("warehouse",)]
        want = {f"{START + dt.timedelta(days=i)}|BTCUSDT" for i in range(DAYS)}
        keys = [dg.AssetKey(["raw", t]) for t in tables.SOURCED] + \
               [dg.AssetKey([t.layer, t.name]) for t in tables.TABLES.values() if t.period == "day"] + \
               [dg.AssetKey("warehouse")]
        for key in keys:
            assert inst.get_materialized_partitions(key) == want, key
        # the months the range completes are rolled up, graded and reported
        assert inst.get_materialized_partitions(dg.AssetKey(["validation", "validation_monthly"])) == \
            {"2026-04-01|BTCUSDT", "2026-05-01|BTCUSDT"}
        t = tables.get("klines")
        check = dg.AssetCheckKey(dg.AssetKey(["clean", "klines"]), f"gx_{t.suite}")
        records = inst.event_log_storage.get_asset_check_execution_history(check, limit=1000)
        assert {r.partition for r in records} == want and all(r.status.value == "SUCCEEDED" for r in records)

    # the model's outputs are those of the pipeline before range runs (golden fingerprint of its first 10 days)
    golden = json.loads((REPO / "tests/data/golden_model_outputs.json").read_text())["files_real_2026-04-05_2026-04-14"]
    assert fingerprint(tmp_path / "data", [START + dt.timedelta(days=i) for i in range(10)]) == golden

    # a rerun of one day replaces exactly its partition
    part = tmp_path / "data/clean/klines/symbol=BTCUSDT/date=2026-05-01/data.parquet"
    other = tmp_path / "data/clean/klines/symbol=BTCUSDT/date=2026-05-02/data.parquet"
    before, other_mtime = part.stat().st_mtime_ns, other.stat().st_mtime_ns
    liq("run", "--source", "files", "--path", str(real), "--start", "2026-05-01", "--end", "2026-05-01", env_root=tmp_path)
    assert part.stat().st_mtime_ns != before and other.stat().st_mtime_ns == other_mtime
    with dg.DagsterInstance.get() as inst:
        # the range, the warehouse again after the months' roll-up, the rerun; one monthly run for both months
        assert len(inst.get_runs(dg.RunsFilter(job_name="daily_job"))) == 3
        assert len(inst.get_runs(dg.RunsFilter(job_name="monthly_job"))) == 1
    out = liq("sql", "SELECT count(*) AS n FROM klines", "--format", "csv", env_root=tmp_path).stdout
    assert out.splitlines() == ["n", str(len(kl))]
    check_monthly_reports(tmp_path)


def check_monthly_reports(tmp_path):
    """Both months' verdicts and audits exist, keep the contract, render their plots, and reach the warehouse."""
    from liq_pipeline.lib.validation.report import CONTRACT_KEYS
    for month in ("2026-04", "2026-05"):
        folder = tmp_path / "data/reports/BTCUSDT" / month
        doc = json.loads((folder / "validation.json").read_text())
        assert tuple(doc) == CONTRACT_KEYS and doc["month"] == month and doc["model"] == "flow"
        # the verdict: graded from what happened, or not graded with its reason (never a zero)
        v = doc["verdict"]
        assert (doc["grade"] in {"A", "B", "C", "F"} and 0 <= doc["score"] <= 100) or \
            (doc["grade"] is None and v["reason"].startswith("not graded"))
        assert set(v["parts"]) >= {"map_ahead", "per_bar", "calibration"}
        seed = doc["seed_grade"]
        assert seed["components"]["oi_conservation"]["by_construction"] is True and seed["grade"] in {"A", "B", "C", "F"}
        # every key of issue 32, on a real month
        ext = doc["extended"]
        for side in ("long", "short"):
            pb = ext["per_bar_skill"][f"4h_{side}"]
            assert {"path_naive", "partial_beyond_path", "partial_beyond_path_ci95"} <= set(pb)
            for h in ("1h", "4h", "24h"):
                ma = ext["map_ahead"][f"{h}_{side}"]
                assert {"value", "n"} <= set(ma) and ({"naive", "partial", "partial_ci95"} <= set(ma) or ma["reason"])
            cal = ext["calibration"][f"4h_{side}"]
            assert {"total_ratio", "loglog_slope", "brier", "brier_skill", "reliability", "resolution", "n"} <= set(cal)
        assert ext["map_ahead"]["4h_long"]["n"] > 100 and len(ext["map_ahead"]["4h_long"]["partial_ci95"]) == 2
        assert {"volatility", "funding_sign", "trend", "weekend"} <= set(ext["regimes"])
        fc = doc["components"]["funding_correlation"]
        assert fc["n"] >= 70 and len(fc["ci95"]) == 2 and fc["weight"] == 0.5
        # real liquidation bars give the per-bar skill; no forceOrder tape covers these months: said, not zero
        skill = doc["extended"]["per_bar_skill"]["4h_long"]
        assert skill["n"] > 100 and abs(skill["placebo_partial"]) < 0.2 and len(skill["partial_ci95"]) == 2
        assert doc["extended"]["hit_rate"]["value"] is None and "no liquidation events" in doc["extended"]["hit_rate"]["reason"]
        assert json.loads((folder / "validation-static.json").read_text())["model"] == "static"
        audit = (folder / "audit.md").read_text()
        for section in ("## Verdict", "### The seed formula, beside it", "### Fix first", "## A. Data Inventory",
                        "## C. Hit Rate Analysis", "## E. Reaction/SR Validity Metrics", "## G. Outcome",
                        "## I. Offsets by Leverage Tier"):
            assert section in audit
        for png in ("heatmap.png", "skill.png"):
            assert f"]({png})" in audit and (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        graded = liq("grade", "--symbol", "BTCUSDT", "--month", month, env_root=tmp_path, check=False)
        said = f"verdict {doc['grade']}" if doc["grade"] else "verdict: not graded"
        assert f"BTCUSDT {month} (flow model): {said}" in graded.stdout and "seed formula" in graded.stdout
        assert graded.returncode == (0 if doc["grade"] else 1)
    out = liq("sql", "SELECT month, model, grade FROM validation_monthly ORDER BY 1, 2", "--format", "csv",
              env_root=tmp_path).stdout.splitlines()
    assert [r.rsplit(",", 1)[0] for r in out[1:]] == ["2026-04,flow", "2026-04,static", "2026-05,flow", "2026-05,static"]
    n = liq("sql", "SELECT count(*) FROM validation_daily", "--format", "csv", env_root=tmp_path).stdout.splitlines()[1]
    assert int(n) == 2 * DAYS


def fingerprint(root, days) -> dict:
    """Rows and sha256 of each model table's rows over `days`, sorted canonically (what the golden file holds)."""
    import hashlib
    import pandas as pd
    out = {}
    for t in ("heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots", "volume_profile"):
        df = pd.concat([pd.read_parquet(root / f"model/{t}/symbol=BTCUSDT/date={d}/data.parquet") for d in days],
                       ignore_index=True)
        df = df.sort_values(list(df.columns)).reset_index(drop=True)
        out[t] = [len(df), hashlib.sha256(df.to_csv(index=False, float_format="%.10g").encode()).hexdigest()]
    return out


@pytest.mark.slow
def test_a_range_run_equals_day_by_day_runs(real, tmp_path):
    """The range's days cleaned, modelled, gated and validated in two worker processes; each single day in place."""
    import pandas as pd
    days = ["2026-05-10", "2026-05-11"]          # one day's book carried into the next, as a range run does
    whole, daily = tmp_path / "whole", tmp_path / "daily"
    liq("run", "--source", "files", "--path", str(real), "--start", days[0], "--end", days[-1], env_root=whole,
        workers=2)
    for d in days:
        liq("run", "--source", "files", "--path", str(real), "--start", d, "--end", d, env_root=daily)
    files = sorted(p.relative_to(whole / "data") for p in (whole / "data").rglob("*.parquet"))
    assert files == sorted(p.relative_to(daily / "data") for p in (daily / "data").rglob("*.parquet"))
    from liq_pipeline.lib.io import tables
    per_day = sum(t.period == "day" for t in tables.TABLES.values())          # no month is completed here
    assert len(files) == len(days) * per_day + 30 * 3   # and the 30 days of clean klines, OI, funding before the first day
    for f in files:
        pd.testing.assert_frame_equal(pd.read_parquet(whole / "data" / f), pd.read_parquet(daily / "data" / f))
    states = sorted(p.relative_to(whole / "data") for p in (whole / "data/model/_state").rglob("*.npz"))
    assert [(whole / "data" / p).read_bytes() for p in states] == [(daily / "data" / p).read_bytes() for p in states]


def _small_copy(real, dst, days=("2026-04-05", "2026-04-06")):
    """A copy of the real folder for two days (klines month, funding month, metrics days)."""
    for rel in ["monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2026-04.zip", "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-04.zip",
                *[f"daily/metrics/BTCUSDT/BTCUSDT-metrics-{d}.zip" for d in days]]:
        for suffix in ("", ".CHECKSUM"):
            (dst / "futures/um" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(UM / (rel + suffix), dst / "futures/um" / (rel + suffix))
    return dst


def _rewrite_zip(path, edit):
    with zipfile.ZipFile(path) as zf:
        name = zf.namelist()[0]
        text = zf.read(name).decode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, edit(text))
    path.write_bytes(buf.getvalue())
    (path.parent / (path.name + ".CHECKSUM")).write_text(f"{sha256_of(path)}  {path.name}\n")


@pytest.mark.slow
def test_bad_values_are_stopped_by_the_gate_which_names_the_file(real, tmp_path):
    src = _small_copy(real, tmp_path / "src")
    kl = src / "futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2026-04.zip"

    def high_below_low(text):
        lines = text.splitlines()
        f = lines[3].split(",")                     # 2026-04-05 02:00
        f[2] = str(float(f[3]) - 100)               # high below low
        lines[3] = ",".join(f)
        return "\n".join(lines) + "\n"
    _rewrite_zip(kl, high_below_low)
    proc = liq("run", "--source", "files", "--path", str(src), "--start", "2026-04-05", "--end", "2026-04-06",
               env_root=tmp_path, check=False)
    assert proc.returncode == 1
    assert "partition 2026-04-05|BTCUSDT" in proc.stderr
    assert "gate gx_clean_klines failed" in proc.stderr and "high vs open" in proc.stderr
    assert str(kl) in proc.stderr                    # names the file the bad row came from
    # downstream of the gate did not run: no warehouse was published
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


@pytest.mark.slow
def test_truncated_zip_fails_in_raw_naming_the_file(real, tmp_path):
    src = _small_copy(real, tmp_path / "src")
    oi = src / "futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2026-04-06.zip"
    oi.write_bytes(oi.read_bytes()[:-100])
    proc = liq("run", "--source", "files", "--path", str(src), "--start", "2026-04-05", "--end", "2026-04-06",
               env_root=tmp_path, check=False)
    assert proc.returncode == 1
    assert f"{oi}: checksum mismatch" in proc.stderr and "raw/open_interest partition 2026-04-06|BTCUSDT" in proc.stderr
    assert proc.stderr.count("checksum mismatch") == 1 and "partition 2026-04-06|BTCUSDT: partition" not in proc.stderr
    # the good day before it was pulled and recorded; the run stopped in raw, so nothing was cleaned
    assert (tmp_path / "data/raw/_manifests/open_interest/BTCUSDT/2026-04-05.json").exists()
    assert not (tmp_path / "data/raw/_manifests/open_interest/BTCUSDT/2026-04-06.json").exists()
    assert not (tmp_path / "data/clean/open_interest").exists()
    assert not list((tmp_path / "data").rglob("*.tmp"))


@pytest.mark.slow
def test_missing_day_and_unknown_symbol_are_named(real, tmp_path):
    src = _small_copy(real, tmp_path / "src")
    # a day the source lacks: the range is refused before any partition, naming the gap and what could run
    proc = liq("run", "--source", "files", "--path", str(src), "--start", "2026-04-06", "--end", "2026-04-08",
               env_root=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        "error: BTCUSDT: the source lacks a required dataset (klines, open interest or funding) on 2 of the 3 day(s) "
        f"asked for: 2026-04-07..2026-04-08 (looked in {src / 'futures/um'}). It has 2026-04-06: run those ranges "
        "apart (the day after a gap starts a new book; its heatmap metadata `start` says how warm).\n"), proc.stderr
    # a typo is refused before it becomes a partition, with one message
    proc = liq("run", "--source", "files", "--path", str(src), "--symbols", "BTCUSDT,BTCUSTD", "--start", "2026-04-05",
               "--end", "2026-04-05", env_root=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stderr.count("symbol BTCUSTD: no klines") == 1, proc.stderr
    assert not (tmp_path / "dagster_home").exists() and not (tmp_path / "data" / "raw").exists()   # nothing began
    # a file gone between that check and the pull (or a source that cannot tell) stops the raw step, naming it
    from liq_pipeline.lib.sources.mirror import FilesSource
    with pytest.raises(FileNotFoundError, match=r"partition 2026-04-07\|BTCUSDT: no metrics file for the day; looked for .*BTCUSDT-metrics-2026-04-07.zip"):
        FilesSource(tmp_path / "raw", src).pull("open_interest", "BTCUSDT", dt.date(2026, 4, 7))


def test_bad_parameters_fail_before_any_run(tmp_path, real):
    for args, msg in [(["--start", "2026-06-08", "--end", "2026-04-05"], "end 2026-04-05 is before start 2026-06-08"),
                      (["--start", "2026-04-05", "--end", "2026-04-05", "--symbols", "../x"], "symbols: '../x'"),
                      (["--start", "2026-04-05", "--end", "2026-04-05", "--path", str(tmp_path / "nope")], "is not a folder")]:
        proc = liq("run", "--source", "files", "--path", str(real), *args, env_root=tmp_path, check=False)
        assert proc.returncode == 1 and msg in proc.stderr, proc.stderr
    proc = liq("run", "--intervals", "15m", "--start", "2026-04-05", "--end", "2026-04-05", env_root=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stderr == \
        "error: intervals: the simulated market has one bar interval, one of 1m, 5m (got 15m)\n", proc.stderr
    assert not (tmp_path / "dagster_home").exists()


@pytest.mark.slow
@pytest.mark.parametrize("first, history", [("2026-04-13", 8), ("2026-05-20", 30)])
def test_a_fresh_first_day_starts_warm_and_passes_every_gate(real, tmp_path, first, history):
    """A fresh data root whose first day is in the middle of the data (04-13 failed the heatmap gate when it was
    seeded cold): the history the source has before it is pulled first (raw and clean only), the book is replayed
    over it, and the day passes every gate."""
    day = dt.date.fromisoformat(first)
    proc = liq("run", "--source", "files", "--path", str(real), "--start", first, "--end", first, env_root=tmp_path)
    assert f"history {day - dt.timedelta(days=history)}..{day - dt.timedelta(days=1)} ({history} days" in proc.stdout
    import dagster as dg
    from liq_pipeline.lib.io import tables
    os.environ["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    past = {f"{day - dt.timedelta(days=i)}|BTCUSDT" for i in range(1, history + 1)}
    with dg.DagsterInstance.get() as inst:
        runs = inst.get_runs(dg.RunsFilter(job_name="daily_job"))
        assert sorted(r.tags.get("liq/history", "") for r in runs) == ["", "true"]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert inst.get_materialized_partitions(dg.AssetKey(["clean", "open_interest"])) == past | {f"{first}|BTCUSDT"}
        assert inst.get_materialized_partitions(dg.AssetKey(["model", "heatmap"])) == {f"{first}|BTCUSDT"}
        event = inst.get_latest_materialization_event(dg.AssetKey(["model", "heatmap"]))
        md = event.asset_materialization.metadata
        assert md["start"].value == f"warm: replayed {history} day(s) of history" and md["warm_start_days"].value == history
        for name in ("heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots", "volume_profile"):
            t = tables.get(name)
            check = dg.AssetCheckKey(dg.AssetKey([t.layer, t.name]), f"gx_{t.suite}")
            records = inst.event_log_storage.get_asset_check_execution_history(check, limit=10)
            assert [(r.partition, r.status.value) for r in records] == [(f"{first}|BTCUSDT", "SUCCEEDED")], name
    prof = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True).execute(
        "SELECT max(days_used) FROM volume_profile").fetchall()
    assert prof == [(history,)]      # the day's profile has the history too
