"""The estimator's assets: the 30-day volume profile and both liquidation models (flow book, seed static), per
(day, symbol). The day loops and the book's state are lib/model/days.py; these turn their results into
materialisations, metadata and gates."""

import dagster as dg

from ...lib.io import tables
from ...lib.errors import PartitionError
from ...lib.model.days import estimate_range, profile_days
from ...lib.model.profile import PROFILE_DAYS
from .. import preview_apis
from ..gates import RangeGate, asset_key, check_spec, gate_outputs, gated_step, wanted
from ..metadata import written_metadata
from ..partitions import date_symbol, days_by_symbol, range_multi_asset
from ..ranges import RangeOutput, failure
from ..resources import SourceResource, StorageResource
from .config import EstimatorConfig


def _window(offset_start: int, offset_end: int) -> dg.MultiPartitionMapping:
    """Days offset_start..offset_end relative to the partition's, same symbol (MultiPartitionMapping is
    "preview" in Dagster 1.13)."""
    with preview_apis():
        return dg.MultiPartitionMapping({
            "date": dg.DimensionPartitionMapping("date", dg.TimeWindowPartitionMapping(
                start_offset=offset_start, end_offset=offset_end, allow_nonexistent_upstream_partitions=True)),
            "symbol": dg.DimensionPartitionMapping("symbol", dg.IdentityPartitionMapping()),
        })


PROFILE = tables.get("volume_profile")


@range_multi_asset(
    name="volume_profile", partitions_def=date_symbol, can_subset=True,
    specs=[dg.AssetSpec(asset_key(PROFILE), partitions_def=date_symbol, group_name="model", kinds={"parquet"},
                        description=PROFILE.description,
                        deps=[dg.AssetDep(dg.AssetKey(["clean", "klines"]), partition_mapping=_window(-PROFILE_DAYS, -1))])],
    check_specs=[check_spec(PROFILE)],
)
def volume_profile_asset(context: dg.AssetExecutionContext, storage: StorageResource):
    yield from gated_step(context, storage, PROFILE, _profile_days)


def _profile_days(layout, symbol: str, days):
    for day, written, facts in profile_days(layout, symbol, days):
        yield day, written.rows, {**written_metadata(written), **facts}


# the book first: the others depend on it (the day before's), and a multi-asset yields in dependency order
MODEL_OUTPUTS = ("book_state", "heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots")
_inputs = [dg.AssetDep(dg.AssetKey(["clean", "klines"])),
           dg.AssetDep(dg.AssetKey(["clean", "open_interest"]), partition_mapping=_window(-1, 0)),
           dg.AssetDep(dg.AssetKey(["clean", "funding"]), partition_mapping=_window(-1, 0)),
           dg.AssetDep(asset_key(PROFILE))]
BOOK = tables.get("book_state")


@range_multi_asset(
    name="liquidation_model", partitions_def=date_symbol, can_subset=True,
    specs=[dg.AssetSpec(asset_key(tables.get(t)), partitions_def=date_symbol, group_name="model", kinds={"parquet"},
                        description=tables.get(t).description,
                        # every day starts from the book the day before closed with
                        deps=_inputs + [dg.AssetDep(asset_key(BOOK), partition_mapping=_window(-1, -1))])
           for t in MODEL_OUTPUTS],
    check_specs=[check_spec(tables.get(t)) for t in MODEL_OUTPUTS],
)
def liquidation_model(context: dg.AssetExecutionContext, config: EstimatorConfig, storage: StorageResource,
                      source: SourceResource):
    layout, suites = storage.layout(), storage.suites_dir()
    cfg = config.build()
    # the four tables come from one computation; a subset (or a gate alone) writes and reports just its part
    selected = {t: wanted(context, tables.get(t)) for t in MODEL_OUTPUTS}
    outs = {t: RangeOutput(context, asset_key(tables.get(t))) for t in MODEL_OUTPUTS}
    evaluations = []
    write = tuple(t for t in MODEL_OUTPUTS if selected[t][0])
    for symbol, days in days_by_symbol(context).items():
        gates = {t: RangeGate(tables.get(t), symbol, layout, suites, selected[t][1]) for t in MODEL_OUTPUTS}
        try:
            # a day's tables are rolled up and written in a worker while the book goes on to the next day; they
            # are recorded here in day order
            for (day, common), made in estimate_range(layout, symbol, days, cfg, source.bracket_fallback_allowed(),
                                                      write):
                for table, written in made.items():
                    if written is None:       # only its gate: validate what is stored
                        gates[table].add(day, layout.rows("model", table, symbol, day))
                        continue
                    md = {**written_metadata(written), **common,
                          "snapshots_without_history": dg.MetadataValue.json(common["snapshots_without_history"])}
                    if table == "heatmap":
                        md["model_config"] = dg.MetadataValue.json(cfg.to_dict())
                    outs[table].add(day, symbol, md)
                    gates[table].add(day, written.rows)
        except (dg.Failure, PartitionError) as exc:
            for t, out in outs.items():       # the days done before it stay recorded
                if selected[t][0]:
                    yield from out.partial()
            if isinstance(exc, PartitionError):
                raise failure("model/liquidation_model", exc.day, exc.symbol, exc) from None
            raise
        for gate in gates.values():
            evaluations += gate.evaluations()
    for table, out in outs.items():
        if selected[table][0]:
            yield out.result()
    yield from evaluations
    yield from gate_outputs(context, [tables.get(t) for t in MODEL_OUTPUTS])
