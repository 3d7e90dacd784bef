"""Dagster objects. What the CLI needs before it loads Dagster lives here, free of Dagster imports."""
import contextlib
import warnings

EXECUTORS = ("in_process", "multiprocess")
_NOTICES = r".*is currently in (beta|preview)"


def quiet_dagster_warnings() -> None:
    """Beta/preview notices of the APIs this project chose (range backfills, partitioned checks) are not news to
    a user: silenced in the CLI's own processes (never at import)."""
    warnings.filterwarnings("ignore", message=_NOTICES)


@contextlib.contextmanager
def preview_apis():
    """Declare with Dagster's preview/beta APIs (partitioned checks, MultiPartitionMapping) without their notice,
    here only, not process-wide."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NOTICES)
        yield
