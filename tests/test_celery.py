"""The distributed path: Dagster's Celery executor with a Redis broker started here on 127.0.0.1 and a `liq worker`.
A two-symbol run completes through it, every step executed by the worker, with the same outputs as in-process;
without a worker the run is refused at once instead of waiting forever."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from .test_e2e_files import liq

SYMBOLS, START, END = "BTCUSDT,SOLUSDT", "2026-04-05", "2026-04-05"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server not found: `make test-deps` installs it (Debian package redis-server)")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"redis-server did not start on 127.0.0.1:{port}")
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def start_worker(root: Path, broker: str) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(root / "dagster_home"), "LIQ_DATA_DIR": str(root / "data")}
    with open(root / "worker.log", "w") as log:         # the worker keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "liq_pipeline.cli", "worker", "--broker", broker, "--concurrency",
                                 "2", "--name", "test"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 90
    while " ready." not in (root / "worker.log").read_text():          # Celery's word once it takes tasks
        if time.monotonic() > deadline or proc.poll() is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("liq worker did not become ready:\n" + (root / "worker.log").read_text()[-3000:])
        time.sleep(0.2)
    return proc


def model_tables(root: Path) -> dict[str, pd.DataFrame]:
    files = sorted((root / "data" / "model").glob("*/symbol=*/date=*/data.parquet"))
    return {str(p.relative_to(root / "data")): pd.read_parquet(p) for p in files}


@pytest.mark.slow
def test_a_two_symbol_run_through_celery_equals_in_process(tmp_path, redis_url):
    celery_root, local_root = tmp_path / "celery", tmp_path / "local"
    celery_root.mkdir(), local_root.mkdir()
    refused = liq("run", "--executor", "celery", "--broker", redis_url, "--symbols", SYMBOLS, "--start", START,
                  "--end", END, env_root=celery_root, check=False)
    assert refused.returncode == 1 and f"no worker is listening on {redis_url}" in refused.stderr, refused.stderr
    worker = start_worker(celery_root, redis_url)
    try:
        run = liq("run", "--executor", "celery", "--broker", redis_url, "--symbols", SYMBOLS, "--start", START,
                  "--end", END, env_root=celery_root)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    assert "BTCUSDT 2026-04-05..2026-04-05: ok" in run.stdout and "SOLUSDT 2026-04-05..2026-04-05: ok" in run.stdout
    log = (celery_root / "worker.log").read_text()
    # every step of both symbols' runs ran in the worker (one Celery task each): 20 steps a daily run
    assert log.count("Task execute_plan[") >= 2 * 20 and " raised " not in log, log[-3000:]
    liq("run", "--symbols", SYMBOLS, "--start", START, "--end", END, env_root=local_root)
    distributed, local = model_tables(celery_root), model_tables(local_root)
    assert len(local) == 2 * 6 and distributed.keys() == local.keys()      # six model tables, two symbols
    for path, df in local.items():
        pd.testing.assert_frame_equal(distributed[path], df, obj=path)
