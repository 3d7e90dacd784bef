"""Every use of a private Dagster name outside the instance's storage (runtime/instance_storage.py imports its own),
in one place. Dagster is pinned; tests/test_runtime.py fails loudly on an upgrade that moved any of them.

Importing this module installs the direct metadata writer of range steps: every process `liq run` starts that
executes steps imports it (the run's own, the multiprocess executor's forkserver, a Celery worker).
"""
from __future__ import annotations

import dagster as dg

from ..defs import ranges

# The attributes a range step's metadata is written through (a step context's accumulator of asset metadata).
STEP_CONTEXT, ACCUMULATOR = "_step_execution_context", "_metadata_accumulator"


def add_partition_metadata(context: dg.AssetExecutionContext, key: dg.AssetKey, partition: dg.MultiPartitionKey,
                           metadata: dict) -> None:
    """What context.add_asset_metadata(partition_key=) ends in, without its check that the key is in the run's range
    (a re-enumeration of the whole range per call). Where the attributes are gone, the public call."""
    step = getattr(context.op_execution_context, STEP_CONTEXT, None)
    accumulator = getattr(step, ACCUMULATOR, None)
    if accumulator is None:
        ranges.add_partition_metadata(context, key, partition, metadata)
        return
    setattr(step, ACCUMULATOR, accumulator.with_additional_asset_metadata(
        asset_key=key, metadata=metadata, partition_key=partition))


def failure_message(message: str) -> str:
    """A step failure's message without the class path Dagster prefixes to a dg.Failure's (its private module)."""
    return message.removeprefix(f"{dg.Failure.__module__}.{dg.Failure.__qualname__}: ")


ranges.install_metadata_writer(add_partition_metadata)
