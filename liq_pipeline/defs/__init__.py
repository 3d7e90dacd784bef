"""Dagster objects. What the CLI needs before it loads Dagster lives here, free of Dagster imports."""
import contextlib
import warnings

EXECUTORS = ("in_process", "multiprocess", "celery")
# The Celery broker (and result backend) of `--executor celery` and of `liq worker`: Redis.
CELERY_BROKER_VAR, DEFAULT_CELERY_BROKER = "LIQ_CELERY_BROKER", "redis://127.0.0.1:6379/0"
# Dagster's switch that hands a range step's materialisations to the event log as one batch (of up to this many
# events), which defs/instance_storage.py writes in one transaction: `liq run` and `make dev` set it.
EVENT_BATCH_SIZE_VAR, EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE", "1000"
_NOTICES = r".*is currently in (beta|preview)"
# Dagster's own tags for a multi-partition key (dagster/partition/date) fail its own tag-key rule, and it says so
# at every run request a schedule or sensor makes: nothing a user of this project can act on.
_OWN_TAG_KEYS = r"Non-compliant tag keys like \['dagster/partition/"


def quiet_dagster_warnings() -> None:
    """Beta/preview notices of the APIs this project chose (range backfills, partitioned checks) are not news to
    a user: silenced in the CLI's own processes (never at import)."""
    warnings.filterwarnings("ignore", message=_NOTICES)
    warnings.filterwarnings("ignore", message=_OWN_TAG_KEYS, category=DeprecationWarning)


@contextlib.contextmanager
def preview_apis():
    """Declare with Dagster's preview/beta APIs (partitioned checks, MultiPartitionMapping) without their notice,
    here only, not process-wide."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NOTICES)
        yield
