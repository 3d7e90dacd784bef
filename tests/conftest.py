import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("LIQ_REAL_DATA", REPO.parent / "shared" / "data" / "real")).resolve()
UM = REAL / "futures" / "um"

# Tests run two at a time on the two cores (xdist): a worker pool in every test process and every `liq` it starts
# would only add its imports. One worker runs range steps' work in place (lib/parallel); the tests that compare
# the pool's outputs with in-place ones ask for two workers themselves.
os.environ.setdefault("LIQ_WORKERS", "1")


def pytest_configure(config):
    # the collector as the pipeline's own processes set it (lib/heap): the tests' processes hold the same heap. Its
    # last pass is kept: duckdb's bindings report what is still alive when they unload, and pytest shows it
    from liq_pipeline.lib import heap
    heap.tune_collector(skip_exit_pass=False)


def pytest_collection_modifyitems(items):
    # the end-to-end runs first (stable: in file order otherwise): the two xdist workers then end together on the
    # short tests, instead of one of them finishing a minute-long run alone
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def real() -> Path:
    if not REAL.is_dir():
        pytest.fail(f"real sample data not found at {REAL} (set LIQ_REAL_DATA)")
    return REAL


@pytest.fixture
def dagster_env(tmp_path, monkeypatch):
    """A fresh Dagster instance and data root for one test."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LIQ_DATA_DIR", str(tmp_path / "data"))
    return tmp_path
