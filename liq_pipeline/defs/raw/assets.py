"""Raw assets: each (date, symbol) partition pulls the source's files for the day, as they are, and
writes a manifest of what it ingested (source, origin, sha256, rows)."""

import datetime as dt

import dagster as dg

from ...lib import storage
from ...lib.errors import InputError, SourceError
from ...lib.rawfiles import count_rows
from ...lib.sources.base import DATASETS, REQUIRED
from ..partitions import date_symbol, partition_of
from ..resources import PipelineConfig


def build_raw_asset(dataset: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", dataset], partitions_def=date_symbol, group_name="raw", kinds={"file"},
        description=f"{dataset} as pulled from the configured source (immutable), with a manifest."
                    + ("" if dataset in REQUIRED else " Optional: absent days are recorded, not errors."),
    )
    def _raw(context: dg.AssetExecutionContext, pipeline: PipelineConfig) -> dg.MaterializeResult:
        day, symbol = partition_of(context)
        try:
            pulled = pipeline.make_source().pull(dataset, symbol, day)
        except (InputError, SourceError, FileNotFoundError) as exc:
            raise dg.Failure(f"raw/{dataset} partition {day}|{symbol}: {exc}", allow_retries=False) from None
        files = []
        for f in pulled.files:
            files.append({**f.to_dict(), "rows": count_rows(pipeline.raw_root() / f.path, f.format)})
        manifest = {"dataset": dataset, "symbol": symbol, "date": day.isoformat(), "source": pipeline.source,
                    "available": pulled.available, "note": pulled.note, "files": files,
                    "pulled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        storage.write_json_atomic(storage.manifest_path(pipeline.root(), dataset, symbol, day), manifest)
        return dg.MaterializeResult(metadata={
            "source": pipeline.source,
            "available": pulled.available,
            "note": pulled.note or "",
            "files": dg.MetadataValue.md("\n".join(
                f"- `{f['origin']}` sha256 `{f['sha256'][:16]}…` {f['rows']} rows" for f in files) or "_none_"),
            "raw_rows": sum(f["rows"] for f in files),
        })

    return _raw


raw_assets = [build_raw_asset(d) for d in DATASETS]
