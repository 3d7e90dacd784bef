"""Clean assets, one per source-fed table of the registry: typed, UTC, deduplicated, sorted Parquet per
(date, symbol) with provenance columns, gated by the table's great-expectations suite (a blocking check
declared on the asset). Gaps (missing bars, OI stamps, funding times) are reported in metadata, never filled."""

import dagster as dg

from ...lib import parallel
from ...lib.io import tables
from ...lib.io.clean import clean_and_write_day
from ...lib.errors import InputError
from ..gates import asset_key, check_spec, gated_step
from ..metadata import written_metadata
from ..partitions import date_symbol, range_multi_asset
from ..ranges import failure
from ..resources import StorageResource


def build_clean_asset(table: tables.Table) -> dg.AssetsDefinition:
    name = table.name

    @range_multi_asset(
        name=f"clean_{name}", partitions_def=date_symbol, can_subset=True,
        specs=[dg.AssetSpec(asset_key(table), deps=[dg.AssetKey(["raw", name])], partitions_def=date_symbol,
                            group_name="clean", kinds={"parquet"},
                            description=f"Clean `{name}` (warehouse view `{name}`): {table.description}")],
        check_specs=[check_spec(table)],
    )
    def _clean(context: dg.AssetExecutionContext, storage: StorageResource):
        yield from gated_step(context, storage, table, write_days)

    def write_days(layout, symbol, days):
        # days are cleaned and written in parallel, and recorded here in order
        results = parallel.ordered(clean_and_write_day, days, layout, name, symbol)
        for day in days:
            try:
                written, report, manifest = next(results)
            except InputError as exc:
                raise failure(f"clean/{name}", day, symbol, exc) from None
            gaps = {k: {"missing": len(v), "first": v[:5]} for k, v in report.gaps.items()}
            yield day, written.rows, {
                **written_metadata(written), "source_available": manifest["available"],
                "exact_duplicates_dropped": report.exact_duplicates_dropped,
                "gaps": dg.MetadataValue.json(gaps), "gap_count": sum(g["missing"] for g in gaps.values())}

    return _clean


clean_assets = [build_clean_asset(tables.get(name)) for name in tables.SOURCED]
