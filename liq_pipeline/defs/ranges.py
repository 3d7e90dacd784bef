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


class RangeOutput:
    """Per-partition metadata of one asset in a step that handles a range of partitions."""

    def __init__(self, context: dg.AssetExecutionContext, key: dg.AssetKey):
        self.context, self.key, self.done = context, key if isinstance(key, dg.AssetKey) else dg.AssetKey(key), {}

    def add(self, day: dt.date, symbol: str, metadata: dict) -> None:
        pk = partition_key(day, symbol)
        self.done[pk] = metadata
        # context.add_asset_metadata(partition_key=) re-enumerates the run's whole range on every call, with a
        # query of the instance for the dynamic symbols: quadratic in a range's length. Our keys
        # come from context.partition_keys, so the check is moot: add to the step's metadata directly (Dagster is
        # pinned; the public call stays as the fallback).
        step = getattr(self.context.op_execution_context, "_step_execution_context", None)
        if step is not None and hasattr(step, "_metadata_accumulator"):
            step._metadata_accumulator = step._metadata_accumulator.with_additional_asset_metadata(
                asset_key=self.key, metadata=metadata, partition_key=pk)
        else:
            self.context.add_asset_metadata(metadata, asset_key=self.key, partition_key=pk)

    def result(self) -> dg.MaterializeResult:
        """Every partition of the step materialised, each with the metadata added for it."""
        return dg.MaterializeResult(asset_key=self.key)

    def partial(self):
        """On a failure: the partitions finished before it, as materialisations of their own."""
        for pk, md in self.done.items():
            yield dg.AssetMaterialization(asset_key=self.key, partition=str(pk), metadata=md)
