"""Object storage as the data root: a real S3-compatible server (moto's, started here on 127.0.0.1) reached through
the standard AWS variables. A two-symbol simulated run writes there; `liq sql`, `liq heatmap` and `liq status`
read from there; a rerun replaces its partitions with the same bytes; nothing lands on local disk but the cache."""
import os

import pytest

from .test_e2e_files import liq

BUCKET, PREFIX = "liq", "team/prod"
ROOT = f"s3://{BUCKET}/{PREFIX}"


@pytest.fixture
def s3(tmp_path, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for k, v in {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "test",
                 "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                 "LIQ_CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    import s3fs
    s3fs.S3FileSystem.clear_instance_cache()        # fsspec keeps one per arguments: it would reach the last server
    yield client
    server.stop()
    s3fs.S3FileSystem.clear_instance_cache()


def s3_calls(monkeypatch) -> list[str]:
    """The S3 operations s3fs makes from here on in this process (head_object, get_object, list_objects_v2, ...)."""
    import s3fs
    calls = []
    call_s3 = s3fs.S3FileSystem._call_s3

    async def counted(self, method, *args, **kwargs):
        calls.append(getattr(method, "__name__", str(method)))
        return await call_s3(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counted)
    return calls


def objects(client, under: str = "") -> dict[str, str]:
    """Key -> ETag (the content's MD5 for a single-part object) of everything under the prefix."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/{under}"):
        out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    return out


def local_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_run_on_object_storage(tmp_path, s3, monkeypatch):
    work = tmp_path / "work"        # the commands' working folder: a local ./data would appear here
    work.mkdir()
    monkeypatch.chdir(work)
    run = liq("run", "--data-dir", ROOT, "--symbols", "BTCUSDT,ETHUSDT", "--start", "2026-04-05", "--end", "2026-04-05",
              env_root=tmp_path)
    assert f"clean Parquet: {ROOT}/clean" in run.stdout and f"--data-dir {ROOT}" in run.stdout
    keys = objects(s3)
    for sym in ("BTCUSDT", "ETHUSDT"):
        for rel in (f"clean/klines/symbol={sym}/date=2026-04-05/data.parquet",
                    f"model/heatmap/symbol={sym}/date=2026-04-05/data.parquet",
                    f"validation/validation_daily/symbol={sym}/date=2026-04-05/data.parquet",
                    f"raw/_manifests/klines/{sym}/2026-04-05.json"):
            assert f"{PREFIX}/{rel}" in keys, rel
        assert any(k.startswith(f"{PREFIX}/model/_state/") and f"/{sym}/2026-04-05.npz" in k for k in keys)
        assert any(k.startswith(f"{PREFIX}/raw/simulated/{sym}-") and k.endswith("scenario.json") for k in keys)

    # the analyst's side reads the same Parquet over the same filesystem
    out = liq("sql", "SELECT symbol, count(*) AS n FROM klines GROUP BY 1 ORDER BY 1", "--data-dir", ROOT,
              "--format", "csv", env_root=tmp_path).stdout
    assert out.splitlines() == ["symbol,n", "BTCUSDT,1440", "ETHUSDT,1440"]
    heat = liq("heatmap", "--symbol", "ETHUSDT", "--timeframe", "1d", "--data-dir", ROOT, env_root=tmp_path).stdout
    assert heat.startswith("ETHUSDT flow model, 1d, snapshot 2026-04-05 23:00 UTC, price 3,") and "short $M" in heat
    status = liq("status", "--data-dir", ROOT, "--format", "json", env_root=tmp_path, check=False).stdout
    assert f'"data_root": "{ROOT}"' in status and '"ETHUSDT"' in status
    write = liq("sql", "CREATE TABLE x AS SELECT 1", "--data-dir", ROOT, env_root=tmp_path, check=False)
    assert write.returncode == 1 and "CREATE is refused" in write.stderr

    # a rerun replaces exactly its partitions, with the same bytes (a manifest records when it was pulled)
    before = objects(s3)
    liq("run", "--data-dir", ROOT, "--symbols", "BTCUSDT", "--start", "2026-04-05", "--end", "2026-04-05", env_root=tmp_path)
    after = objects(s3)
    assert after.keys() == before.keys()
    assert {k: v for k, v in after.items() if "/_manifests/" not in k} == \
        {k: v for k, v in before.items() if "/_manifests/" not in k}

    # nothing on local disk but the cache (run lock, warehouse file) and the Dagster instance
    assert local_files(work) == []
    assert not (tmp_path / "data").exists()
    cached = local_files(tmp_path / "cache")
    assert any(f.endswith("warehouse.duckdb") for f in cached) and not any(f.endswith(".parquet") for f in cached)
    assert os.listdir(tmp_path) and set(os.listdir(tmp_path)) <= {"work", "cache", "dagster_home"}


def test_partitions_on_object_storage_are_read_whole_or_reported_missing(s3, monkeypatch):
    """Reads on object storage go straight for the object (one GET, no exists() before it): a missing day is left
    out of a range, and named when it was asked for; the warehouse reads the same objects through a filesystem
    whose listings it keeps."""
    import datetime as dt

    import pandas as pd

    from liq_pipeline.lib.io import clean, storage, warehouse
    from liq_pipeline.lib.errors import InputError

    root = storage.data_root(ROOT)
    layout = storage.DataLayout(root)
    days = [dt.date(2026, 4, 5), dt.date(2026, 4, 6), dt.date(2026, 4, 7)]
    for i in (0, 2):
        frame = pd.DataFrame({"symbol": ["BTCUSDT"], "x": [i]})
        assert layout.write(frame, "clean", "t", "BTCUSDT", days[i]).rows == 1
    calls = s3_calls(monkeypatch)
    got = layout.read_days("clean", "t", "BTCUSDT", days)
    assert got["x"].tolist() == [0, 2]
    assert calls == ["get_object"] * 3        # s3fs would ask each object's size first (a HEAD) to split big reads
    assert layout.rows("clean", "t", "BTCUSDT", days[2]) == 1
    # an object is handed to Arrow as Arrow's own buffer: a Python file object (BytesIO) makes Arrow's pool threads
    # call back into Python, and one alive at exit aborts the process (bench/exit_abort.py)
    import pyarrow as pa
    assert isinstance(storage.readable_parquet(storage.partition_file(root, "clean", "t", "BTCUSDT", days[2])),
                      pa.NativeFile)
    with pytest.raises(FileNotFoundError, match=r"partition t BTCUSDT/2026-04-06 has not been materialised"):
        layout.read("clean", "t", "BTCUSDT", days[1])
    with pytest.raises(InputError, match=r"raw manifest .*klines/BTCUSDT/2026-04-06.json missing"):
        clean.clean_day(days[1], layout, "klines", "BTCUSDT")

    listed = warehouse._listed(root.fs)
    assert listed is not root.fs and listed.dircache.listings_expiry_time == warehouse.LISTING_SECONDS
    con = warehouse._connect(":memory:", root)
    glob = warehouse.parquet_glob(root, "clean", "t")
    assert con.execute(f"SELECT count(*), sum(x) FROM read_parquet('{glob}')").fetchall() == [(2, 2)]

    # a raw archive zip is fetched whole, once (zipfile's seeks on an object would each be a ranged GET)
    import io
    import zipfile
    from liq_pipeline.lib.io import rawfiles
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("BTCUSDT-1h-2026-04-05.csv", "open_time,open\n1,2\n3,4\n")
    storage.write_bytes_atomic(root / "raw/archive/x.zip", buf.getvalue())
    calls.clear()
    assert rawfiles.count_rows(root / "raw/archive/x.zip", "archive-zip") == 2 and calls == ["get_object"]


def test_the_warehouse_lists_each_tables_prefix_once_however_many_days_it_holds(s3, monkeypatch):
    """DuckDB's glob walks a table's folders one listing each (a year: 366 of them a table); the build lists the
    table's prefix flat first, into the listing its filesystem keeps, and the glob then costs no request."""
    import datetime as dt

    import pandas as pd

    from liq_pipeline.lib.io import storage, warehouse

    root = storage.data_root(f"s3://{BUCKET}/warehouse")
    layout = storage.DataLayout(root)
    calls, other = s3_calls(monkeypatch), {}
    for days in (3, 30):
        for i in range(days):
            layout.write(pd.DataFrame({"symbol": ["BTCUSDT"], "ts": [pd.Timestamp("2026-04-01", tz="UTC") +
                                                                    pd.Timedelta(days=i)]}),
                         "clean", "funding", "BTCUSDT", dt.date(2026, 4, 1) + dt.timedelta(days=i))
        calls.clear()
        assert warehouse.build(root, {"funding": "clean", "open_interest": "clean"})["funding"] == days
        other[days] = sorted(c for c in calls if c != "get_object")        # the files' footers and rows: GETs
    # a listing per table (the empty one: s3fs's find also asks whether its prefix is a file), whatever the days
    assert other[3] == other[30] == ["head_object", "list_objects_v2", "list_objects_v2", "list_objects_v2"]


def test_a_row_count_on_object_storage_reads_the_footer_not_the_object(s3, monkeypatch):
    """The gates count every partition's rows, the raw manifests every truth file's and `liq status` finds each
    dataset's newest time: on object storage from the Parquet footer alone (ranged GETs of the object's tail), not
    a GET of megabytes."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    from liq_pipeline.lib.io import rawfiles, storage
    from liq_pipeline.lib.errors import InputError

    root = storage.data_root(ROOT)
    layout = storage.DataLayout(root)
    day = dt.date(2026, 4, 5)
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"symbol": "BTCUSDT", "x": rng.random(400_000), "y": rng.random(400_000)})   # ~6 MB
    wide = pd.DataFrame({f"c{i:04d}": [float(i)] * 3 for i in range(1500)})     # a footer longer than one guess
    layout.write(big, "clean", "big", "BTCUSDT", day)
    layout.write(wide, "clean", "wide", "BTCUSDT", day)
    fs = storage.partition_file(root, "clean", "big", "BTCUSDT", day).fs
    assert fs.size(storage.partition_file(root, "clean", "big", "BTCUSDT", day).path) > 10 * storage.PARQUET_TAIL
    assert fs.size(storage.partition_file(root, "clean", "wide", "BTCUSDT", day).path) > storage.PARQUET_TAIL

    fetched = []
    cat_file = fs.cat_file

    def counted(path, *args, **kwargs):
        data = cat_file(path, *args, **kwargs)
        fetched.append(len(data))
        return data

    monkeypatch.setattr(fs, "cat_file", counted)
    assert layout.rows("clean", "big", "BTCUSDT", day) == 400_000
    assert len(fetched) == 1 and fetched[0] <= storage.PARQUET_TAIL
    fetched.clear()
    assert layout.rows("clean", "wide", "BTCUSDT", day) == 3
    assert len(fetched) == 2 and fetched[1] > storage.PARQUET_TAIL          # the long footer: a second, exact GET
    fetched.clear()
    path = storage.partition_file(root, "clean", "big", "BTCUSDT", day)
    assert rawfiles.count_rows(path, "truth-parquet") == 400_000 and sum(fetched) <= storage.PARQUET_TAIL

    with pytest.raises(FileNotFoundError, match=r"partition big BTCUSDT/2026-04-06 has not been materialised"):
        layout.rows("clean", "big", "BTCUSDT", day + dt.timedelta(days=1))

    # `liq status` takes each dataset's newest time from the same footer's column statistics
    from liq_pipeline.lib.io import status
    times = pd.DataFrame({"ts": pd.date_range("2026-04-05", periods=400_000, freq="200ms", tz="UTC").as_unit("ms"),
                          "x": rng.random(400_000)})
    layout.write(times, "clean", "liquidation_events", "BTCUSDT", day)
    fetched.clear()
    latest = status._latest_time(storage.partition_file(root, "clean", "liquidation_events", "BTCUSDT", day), "ts")
    assert latest == times.ts.max().to_pydatetime() and sum(fetched) <= storage.PARQUET_TAIL
    not_parquet = root / "raw/simulated/truth/notes.parquet"
    storage.write_bytes_atomic(not_parquet, b"rows: 3\n")
    with pytest.raises(InputError, match=r"notes.parquet: not a Parquet file"):
        rawfiles.count_rows(not_parquet, "truth-parquet")


def test_status_on_object_storage_lists_a_tables_days_at_once_and_reads_one_footer(s3, monkeypatch):
    """`liq status` over a data root of many days: one listing per table and symbol, and the newest partition's
    footer, never a request per day (on S3 each is a round trip: a year of days was thousands of HEADs)."""
    import datetime as dt

    import pandas as pd

    from liq_pipeline.lib.io import status, storage

    root = storage.data_root(f"s3://{BUCKET}/status")   # moto keeps one store per process: a prefix of its own
    layout = storage.DataLayout(root)
    first, days = dt.date(2026, 4, 1), 40
    for i in range(days):
        day = first + dt.timedelta(days=i)
        hours = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=24, freq="1h").as_unit("ms")
        layout.write(pd.DataFrame({"open_time": hours}), "clean", "klines", "BTCUSDT", day)
        if day != dt.date(2026, 5, 8):
            layout.write(pd.DataFrame({"ts": hours}), "clean", "open_interest", "BTCUSDT", day)
    storage.write_bytes_atomic(root / "clean/klines/symbol=BTCUSDT/date=2026-05-11/.data.x.parquet.tmp", b"half")

    calls = s3_calls(monkeypatch)
    now = dt.datetime(2026, 5, 11, 6, tzinfo=dt.UTC)
    rows = {r.table: r for r in status.freshness(root, now, dt.timedelta(hours=36))}
    assert rows["klines"].latest == dt.datetime(2026, 5, 10, 23, tzinfo=dt.UTC) and rows["klines"].missing_days == []
    assert rows["open_interest"].missing_days == [dt.date(2026, 5, 8)]
    assert calls.count("get_object") == 2 and "head_object" not in calls
    # a listing of each table's symbols, one of each symbol's days (one page of up to 1,000 keys each here)
    assert calls.count("list_objects_v2") <= 2 * 15
