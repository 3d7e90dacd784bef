"""The analyst warehouse: views over every clean table in data/warehouse.duckdb.

It is downstream of every clean partition, so a failed quality gate stops it in the same run; the
rebuild is cheap (views only) and replaces the file atomically.
"""

import dagster as dg

from ..lib import warehouse
from ..lib.sources.base import DATASETS
from .partitions import date_symbol, partition_of
from .resources import PipelineConfig

# Every view and the layer its Parquet lives in; later layers add theirs here.
VIEWS = {**{d: "clean" for d in DATASETS},
         **{t: "model" for t in ("volume_profile", "heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots")}}


@dg.asset(
    key=["warehouse"], deps=[dg.AssetKey([layer, t]) for t, layer in VIEWS.items()], partitions_def=date_symbol,
    group_name="warehouse", kinds={"duckdb"},
    description="data/warehouse.duckdb: read-only views for analysts (" + ", ".join(VIEWS) + ")",
)
def warehouse_views(context: dg.AssetExecutionContext, pipeline: PipelineConfig) -> dg.MaterializeResult:
    day, symbol = partition_of(context)
    counts = warehouse.build(pipeline.root(), VIEWS)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(pipeline.root() / "warehouse.duckdb")),
        "views": dg.MetadataValue.json(counts),
        "partition": f"{day}|{symbol}",
    })
