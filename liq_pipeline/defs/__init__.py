"""The Dagster definitions: assets, checks, resources, partitions, jobs, schedules, sensors and the executor,
assembled by liq_pipeline/definitions.py. Nothing here launches runs (runtime/ does) or holds logic a test of
lib/ could cover."""
import contextlib
import warnings

EXECUTORS = ("in_process", "multiprocess", "celery")
# The notice Dagster gives at each use of a beta or preview API (this project chose them)
NOTICES = r".*is currently in (beta|preview)"


@contextlib.contextmanager
def preview_apis():
    """Declare with Dagster's preview/beta APIs (partitioned checks, MultiPartitionMapping, range backfills)
    without their notice, here only, not process-wide."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NOTICES)
        yield
