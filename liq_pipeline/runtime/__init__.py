"""The machinery beside the definitions: the local Dagster instance and its storage, launching runs over ranges,
the Celery app of `liq worker`, and every use of a private Dagster name (each imported in one place, and
tests/test_runtime.py fails loudly on an upgrade that moved one).

This module itself imports no Dagster: the CLI reads its settings before it loads anything heavy.
"""
from __future__ import annotations

import os
import warnings
from importlib import resources
from pathlib import Path

from ..defs import NOTICES        # the definitions' package module: no Dagster imported

# The Celery broker (and result backend) of `--executor celery` and of `liq worker`: Redis.
CELERY_BROKER_VAR, DEFAULT_CELERY_BROKER = "LIQ_CELERY_BROKER", "redis://127.0.0.1:6379/0"
# Dagster's switch that hands a range step's materialisations to the event log as one batch (of up to this many
# events), which runtime/instance_storage.py writes in one transaction: every `liq` process that runs steps sets it.
EVENT_BATCH_SIZE_VAR, EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE", "1000"
# A range run announces its planned materialisations as one event per asset (the range), not one per partition
# and asset before its first step. Dagster's own switch; the cost is that a failed range run leaves its
# partitions "missing", not "failed", in the UI (the run itself shows the failure).
PLANNED_AS_RANGE_VAR = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
DAGSTER_UI = "http://127.0.0.1:3000"           # where `make dev` (`liq ui`) serves the UI
# Where the instance's storage class lived before this package: an instance made then still names it.
_OLD_STORAGE_MODULE = "liq_pipeline.defs.instance_storage"

# Dagster's own tags for a multi-partition key (dagster/partition/date) fail its own tag-key rule, and it says so
# at every run request a schedule or sensor makes: nothing a user of this project can act on.
_OWN_TAG_KEYS = r"Non-compliant tag keys like \['dagster/partition/"


def instance_settings() -> str:
    """The dagster.yaml a new instance gets (shipped beside this module)."""
    return resources.files(__package__).joinpath("dagster.yaml").read_text()


def home_path() -> Path:
    """$DAGSTER_HOME, else ./dagster_home (absolute), whether or not an instance is there."""
    return Path(os.environ.get("DAGSTER_HOME") or "dagster_home").expanduser().resolve()


def instance_home() -> Path:
    """The instance's folder, made with the shipped settings if new, and this process's environment set for it:
    DAGSTER_HOME, the batched event log, planned materialisations as ranges."""
    home = home_path()
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(instance_settings())
    elif _OLD_STORAGE_MODULE in (text := settings.read_text()):
        settings.write_text(text.replace(_OLD_STORAGE_MODULE, "liq_pipeline.runtime.instance_storage"))
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault(PLANNED_AS_RANGE_VAR, "1")
    os.environ.setdefault(EVENT_BATCH_SIZE_VAR, EVENT_BATCH_SIZE)
    return home


def quiet_dagster_warnings() -> None:
    """Beta/preview notices of the APIs this project chose (range backfills, partitioned checks) are not news to
    a user: silenced in the CLI's own processes (never at import)."""
    warnings.filterwarnings("ignore", message=NOTICES)
    warnings.filterwarnings("ignore", message=_OWN_TAG_KEYS, category=DeprecationWarning)
