"""What a range step reports: each partition's own metadata, and on a failure, the partitions it finished
before it (recorded as materialised) and one error naming the asset, the partition and the cause."""
from __future__ import annotations

import datetime as dt
import re

import dagster as dg

from .partitions import partition_key


def failure(asset: str, day: dt.date, symbol: str, exc: Exception) -> dg.Failure:
    """One prefix: lib errors that already name the partition are not prefixed twice."""
    msg = re.sub(rf"^(partition )?{re.escape(f'{day}|{symbol}')}: ", "", str(exc))
    return dg.Failure(f"{asset} partition {day}|{symbol}: {msg}", allow_retries=False)


def add_partition_metadata(context: dg.AssetExecutionContext, key: dg.AssetKey, partition: dg.MultiPartitionKey,
                           metadata: dict) -> None:
    """Dagster's public call. It re-enumerates the run's whole range on every call (quadratic in a range's length);
    the processes `liq run` starts replace this writer with runtime/private.py's direct one (install_metadata_writer),
    which skips that check: our keys come from the run's own partition keys."""
    context.add_asset_metadata(metadata, asset_key=key, partition_key=partition)


_writer = add_partition_metadata


def install_metadata_writer(writer) -> None:
    """How RangeOutput hands a partition's metadata to the step (runtime/ installs its faster one)."""
    global _writer
    _writer = writer


class RangeOutput:
    """Per-partition metadata of one asset in a step that handles a range of partitions."""

    def __init__(self, context: dg.AssetExecutionContext, key: dg.AssetKey):
        self.context, self.key, self.done = context, key if isinstance(key, dg.AssetKey) else dg.AssetKey(key), {}

    def add(self, day: dt.date, symbol: str, metadata: dict) -> None:
        pk = partition_key(day, symbol)
        self.done[pk] = metadata
        _writer(self.context, self.key, pk, metadata)

    def result(self) -> dg.MaterializeResult:
        """Every partition of the step materialised, each with the metadata added for it."""
        return dg.MaterializeResult(asset_key=self.key)

    def partial(self):
        """On a failure: the partitions finished before it, as materialisations of their own."""
        for pk, md in self.done.items():
            yield dg.AssetMaterialization(asset_key=self.key, partition=str(pk), metadata=md)
