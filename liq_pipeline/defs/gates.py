"""Blocking quality gates: each clean and model partition is validated against its great-expectations suite.
A failure (ERROR) stops every downstream asset in the run, and its metadata shows the failing rows."""

import warnings

import dagster as dg

from ..lib import brackets, quality, storage
from ..lib.sources.base import DATASETS
from .metadata import markdown_table
from .partitions import date_symbol, partition_of
from .resources import PipelineConfig

# Partitioned asset checks are "preview" in Dagster 1.13; without partitions_def a check loads every partition.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def suite_parameters(dataset: str, symbol: str, pipeline: PipelineConfig) -> dict:
    if dataset != "funding":
        return {}
    cap = brackets.funding_cap(symbol, pipeline.funding_cap_default)
    return {"funding_cap": cap, "neg_funding_cap": -cap}


def build_gate(dataset: str, layer: str = "clean") -> dg.AssetChecksDefinition:
    suite = f"{layer}_{dataset}" if not dataset.startswith(layer) else dataset

    @dg.asset_check(asset=dg.AssetKey([layer, dataset]), name=f"gx_{suite}", blocking=True,
                    partitions_def=date_symbol,
                    description=f"great-expectations suite expectations/{suite}.json (blocking)")
    def _gate(context: dg.AssetCheckExecutionContext, pipeline: PipelineConfig) -> dg.AssetCheckResult:
        day, symbol = partition_of(context)
        df = storage.read_partition(pipeline.root(), layer, dataset, symbol, day)
        result = quality.run_suite(suite, df, suite_parameters(dataset, symbol, pipeline))
        metadata = {"suite": suite, "expectations": result.evaluated, "rows": result.rows,
                    "partition": f"{day}|{symbol}", "summary": result.summary()}
        for i, f in enumerate(result.failures):
            metadata[f"failed_{i}_{f.expectation}"] = dg.MetadataValue.md(
                f"**{f.describe()}** (`{f.kwargs}`)\n\n" + markdown_table(f.rows.reset_index(names="row"), 10))
        return dg.AssetCheckResult(passed=result.success, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata,
                                   description=result.summary())

    return _gate


clean_gates = [build_gate(d) for d in DATASETS]
model_gates = [build_gate(t, "model") for t in ("volume_profile", "heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots")]
