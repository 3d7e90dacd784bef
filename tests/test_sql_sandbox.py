"""`liq sql` answers from the warehouse and nothing else: DuckDB's own sandbox (external access off but for the
views' folders, configuration locked, no extension install or load) on a read-only connection, queries only.
Every escape route is refused in one line, and every view still answers, on a local root and on object storage."""
import datetime as dt

import pandas as pd
import pytest

from liq_pipeline.lib.io import warehouse
from liq_pipeline.lib.io.storage import DataLayout

from .test_object_storage import ROOT, s3  # noqa: F401  (the moto fixture)

D0 = dt.date(2026, 4, 5)
TABLES = {"klines": "clean", "heatmap": "model"}


def _write(root) -> None:
    layout = DataLayout(root)
    layout.write(pd.DataFrame({"symbol": ["BTCUSDT"] * 3, "x": [1, 2, 3]}), "clean", "klines", "BTCUSDT", D0)
    layout.write(pd.DataFrame({"symbol": ["BTCUSDT"], "y": [7.0]}), "model", "heatmap", "BTCUSDT", D0)
    warehouse.build(root, TABLES)


def escape_routes(root, outside: str) -> dict[str, str]:
    """Statement -> the words its refusal must contain. `outside` is a readable file beside the data root."""
    secret_dir = f"{root}/raw"
    return {
        f"COPY (SELECT 42) TO '{outside}.csv'": "COPY is refused",
        f"COPY klines TO '{root}/clean/klines/stolen.csv'": "COPY is refused",      # even into a view's folder
        f"EXPORT DATABASE '{outside}-export'": "EXPORT is refused",
        f"SELECT * FROM read_csv('{outside}')": "refused: Cannot access file",
        f"SELECT * FROM read_text('{outside}')": "refused: Cannot access file",
        f"SELECT * FROM read_parquet('{secret_dir}/*.parquet')": "refused: Cannot access file",
        "SELECT * FROM read_csv('https://example.com/x.csv')": "refused: Cannot access file",
        "SELECT * FROM glob('/etc/*')": "refused: Cannot access file",
        f"ATTACH '{outside}.duckdb' AS other": "ATTACH is refused",
        "INSTALL httpfs": "INSTALL is refused",
        "FORCE INSTALL httpfs": "FORCE INSTALL is refused",
        "LOAD httpfs": "LOAD is refused",
        "SET enable_external_access = true": "SET is refused",
        "RESET lock_configuration": "RESET is refused",
        "SELECT 1; SET threads = 1": "statement 2, SET is refused",
        "PRAGMA enable_profiling": "PRAGMA is refused",
        "CREATE TABLE t AS SELECT 1": "CREATE is refused",
        "CREATE SECRET (TYPE s3, KEY_ID 'a', SECRET 'b')": "CREATE is refused",
        "CALL checkpoint()": "CALL is refused",
    }


def _refusal(root, sql: str) -> str:
    """What `liq sql` prints for a refused statement (the same mapping as the command)."""
    try:
        warehouse.query(root, sql)
    except warehouse.QueryRefused as exc:
        return str(exc)
    except warehouse.duckdb.Error as exc:
        return warehouse.refusal(exc)
    return "ran"


def _assert_sandboxed(root, outside) -> None:
    assert warehouse.query(root, "SELECT sum(x) FROM klines")[1] == [(6,)]
    assert warehouse.query(root, "SELECT y FROM heatmap")[1] == [(7.0,)]
    assert warehouse.query(root, "DESCRIBE klines")[1]
    assert warehouse.query(root, "WITH k AS (FROM klines) SELECT count(*) FROM k; SELECT 2")[1] == [(2,)]
    routes = escape_routes(root, outside)
    assert len(routes) >= 10
    for sql, words in routes.items():
        message = _refusal(root, sql)
        assert words in message, (sql, message)
        assert "\n" not in message, (sql, message)


def test_an_analysts_sql_reads_the_warehouse_and_nothing_else(tmp_path):
    root = tmp_path / "data"
    _write(root)
    (root / "raw").mkdir()
    pd.DataFrame({"secret": [1]}).to_parquet(root / "raw" / "s.parquet")     # under the root, not a view's
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    _assert_sandboxed(root, outside)
    climb = f"SELECT content FROM read_blob('{root}/clean/klines/../../../outside.txt')"     # up out of a view's folder
    assert "refused: Cannot access file" in _refusal(root, climb)
    written = [p.name for p in tmp_path.rglob("*") if p.suffix in (".csv", ".duckdb") or "export" in p.name]
    assert written == ["warehouse.duckdb"]


@pytest.mark.usefixtures("s3")
def test_the_sandbox_keeps_the_views_on_object_storage_and_nothing_else_of_the_bucket(tmp_path):
    from liq_pipeline.lib.io import storage

    root = storage.data_root(ROOT)
    _write(root)
    storage.data_root(ROOT + "-other").fs.pipe(f"{ROOT[5:]}-other/s.parquet", b"PAR1")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    _assert_sandboxed(root, outside)
    assert "refused: Cannot access file" in _refusal(root, f"SELECT * FROM read_blob('{ROOT}-other/s.parquet')")
    # an object key is literal ('..' names no parent), so climbing out of a view's prefix reaches nothing
    climb = f"SELECT content FROM read_blob('{ROOT}/clean/klines/../../../prod-other/s.parquet')"
    assert warehouse.query(root, climb)[1] == []

