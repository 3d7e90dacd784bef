"""The analyst warehouse: data/warehouse.duckdb, a view over every registered table's Parquet (a sorted table
where the registry asks for one). Downstream of every asset, so a failed gate anywhere stops it; built once
per run (its step covers the run's whole range), atomically, one build at a time."""
import dagster as dg

from ..lib.io import tables, warehouse
from ..lib.model import levels_query
from .gates import asset_key
from .partitions import date_symbol, days_by_symbol, range_asset
from .resources import StorageResource


@range_asset(
    key=["warehouse"], deps=[asset_key(t) for t in tables.TABLES.values()], partitions_def=date_symbol,
    group_name="warehouse", kinds={"duckdb"},
    description="data/warehouse.duckdb: read-only views for analysts (" + ", ".join(tables.TABLES) + ")",
)
def warehouse_views(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    layout = storage.layout()
    # incremental: only the run's partitions are re-read into the sorted tables and the coarse timeframes
    # pre-grouped from them (a full build the first time)
    counts = warehouse.build(layout.root, {t.name: t.layer for t in tables.TABLES.values()},
                             changed=days_by_symbol(context), derived=levels_query.coarse_tables())
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(layout.warehouse)),
        "rows": dg.MetadataValue.json(counts),      # a view's is counted on a full build only
        "partitions_in_run": len(context.partition_keys),
    })
