"""Raw assets, one per source-fed table of the registry: each (date, symbol) partition pulls the source's files
for the day, as they are, and writes a manifest of what it ingested (source, origin, sha256, rows)."""

import datetime as dt

import dagster as dg

from ...lib.io import tables
from ...lib.errors import InputError, SourceError
from ...lib.io.rawfiles import count_rows
from ...lib.io.storage import write_json_atomic
from ..partitions import date_symbol, days_by_symbol, range_asset
from ..ranges import RangeOutput, failure
from ..resources import SourceResource, StorageResource


def build_raw_asset(table: tables.Table) -> dg.AssetsDefinition:
    name = table.name

    @range_asset(
        key=["raw", name], partitions_def=date_symbol, group_name="raw", kinds={"file"},
        description=f"{name} as pulled from the configured source (immutable), with a manifest."
                    + ("" if table.raw.required else " Optional: absent days are recorded, not errors."),
    )
    def _raw(context: dg.AssetExecutionContext, storage: StorageResource, source: SourceResource):
        layout = storage.layout()
        src = source.open(layout.raw)
        out = RangeOutput(context, ["raw", name])
        for symbol, days in days_by_symbol(context).items():
            for day in days:
                try:
                    pulled = src.pull(name, symbol, day)
                except (InputError, SourceError, FileNotFoundError) as exc:
                    yield from out.partial()
                    raise failure(f"raw/{name}", day, symbol, exc) from None
                files = [{**f.to_dict(), "rows": count_rows(layout.raw / f.path, f.format)} for f in pulled.files]
                write_json_atomic(layout.manifest(name, symbol, day), {
                    "dataset": name, "symbol": symbol, "date": day.isoformat(), "source": source.kind.value,
                    "available": pulled.available, "note": pulled.note, "files": files,
                    "pulled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
                out.add(day, symbol, {
                    "source": source.kind.value, "available": pulled.available, "note": pulled.note or "",
                    "files": dg.MetadataValue.md("\n".join(
                        f"- `{f['origin']}` sha256 `{f['sha256'][:16]}…` {f['rows']} rows" for f in files) or "_none_"),
                    "raw_rows": sum(f["rows"] for f in files)})
        yield out.result()

    return _raw


raw_assets = [build_raw_asset(tables.get(name)) for name in tables.SOURCED]
