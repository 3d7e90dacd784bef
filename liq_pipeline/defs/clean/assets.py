"""Clean assets: typed, UTC, deduplicated, sorted Parquet per (date, symbol), with provenance columns.
Gaps (missing bars, OI stamps, funding times) are reported in metadata, never filled in."""

import json

import dagster as dg

from ...lib import schemas, storage
from ...lib.clean import clean_partition
from ...lib.errors import InputError
from ...lib.sources.base import DATASETS
from ..metadata import frame_metadata
from ..partitions import date_symbol, partition_of
from ..resources import PipelineConfig


def build_clean_asset(dataset: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["clean", dataset], deps=[dg.AssetKey(["raw", dataset])], partitions_def=date_symbol,
        group_name="clean", kinds={"parquet"},
        description=f"Clean `{dataset}` (warehouse view `{dataset}`), gated by the `clean_{dataset}` GX suite.",
    )
    def _clean(context: dg.AssetExecutionContext, pipeline: PipelineConfig) -> dg.MaterializeResult:
        day, symbol = partition_of(context)
        root = pipeline.root()
        mpath = storage.manifest_path(root, dataset, symbol, day)
        if not mpath.exists():
            raise dg.Failure(f"clean/{dataset} partition {day}|{symbol}: raw manifest {mpath} missing; "
                             f"materialise raw/{dataset} first", allow_retries=False)
        manifest = json.loads(mpath.read_text())
        try:
            df, report = clean_partition(dataset, symbol, day, manifest, root / "raw")
        except InputError as exc:
            raise dg.Failure(f"clean/{dataset} partition {day}|{symbol}: {exc}", allow_retries=False) from None
        df = schemas.conform(df, dataset)
        path = storage.write_partition(df, root, "clean", dataset, symbol, day)
        gaps = {k: {"missing": len(v), "first": v[:5]} for k, v in report.gaps.items()}
        return dg.MaterializeResult(metadata={
            **frame_metadata(df),
            "path": dg.MetadataValue.path(str(path)),
            "source_available": manifest["available"],
            "exact_duplicates_dropped": report.exact_duplicates_dropped,
            "gaps": dg.MetadataValue.json(gaps),
            "gap_count": sum(g["missing"] for g in gaps.values()),
        })

    return _clean


clean_assets = [build_clean_asset(d) for d in DATASETS]
