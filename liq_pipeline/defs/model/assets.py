"""The estimator: the 30-day volume profile and both liquidation models (flow book, seed static) per day.

The flow book carries from day to day: each partition loads the book state the previous day saved
(data/model/_state/<config key>/SYM/DATE.npz); without it, the volume-profile baseline seeds the book
(a cold start, shown in metadata). A rerun of an earlier day leaves later days' states as they were:
rerun the range after it to carry the change forward.
"""
import datetime as dt

import warnings

import dagster as dg

from ...lib import brackets, schemas, storage
from ...lib.liqprice import BracketArrays
from ...lib.model import book as book_mod
from ...lib.model.estimate import estimate_day
from ...lib.model.levels import rollup
from ...lib.model.profile import PROFILE_DAYS, trailing_profile
from ..metadata import frame_metadata
from ..partitions import date_symbol, partition_of
from ..resources import PipelineConfig

# MultiPartitionMapping is "preview" in Dagster 1.13; it is how a (date × symbol) window is declared.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def _window(offset_start: int, offset_end: int) -> dg.MultiPartitionMapping:
    return dg.MultiPartitionMapping({
        "date": dg.DimensionPartitionMapping("date", dg.TimeWindowPartitionMapping(
            start_offset=offset_start, end_offset=offset_end, allow_nonexistent_upstream_partitions=True)),
        "symbol": dg.DimensionPartitionMapping("symbol", dg.IdentityPartitionMapping()),
    })


def _write(df, table, symbol, day, root, key) -> dict:
    df = schemas.conform(df.assign(symbol=symbol, config_key=key) if len(df) else df, table)
    path = storage.write_partition(df, root, "model", table, symbol, day)
    return {**frame_metadata(df), "path": dg.MetadataValue.path(str(path))}


@dg.asset(
    key=["model", "volume_profile"], partitions_def=date_symbol, group_name="model", kinds={"parquet"},
    deps=[dg.AssetDep(dg.AssetKey(["clean", "klines"]), partition_mapping=_window(-PROFILE_DAYS, -1))],
    description="Volume per price bin (~0.1% of price) over the 30 days before the day: each bar's quote "
                "volume spread over its low..high. Missing days are skipped and counted.",
)
def volume_profile_asset(context: dg.AssetExecutionContext, pipeline: PipelineConfig) -> dg.MaterializeResult:
    day, symbol = partition_of(context)
    root = pipeline.root()
    days = [day - dt.timedelta(days=i) for i in range(PROFILE_DAYS, 0, -1)]
    kl = storage.read_partitions(root, "clean", "klines", symbol, days)
    prof, interval, used = trailing_profile(kl)
    if interval is not None:
        prof = prof.assign(date=day.isoformat(), interval=interval, days_used=used)
    md = _write(prof, "volume_profile", symbol, day, root, "profile")
    md["days_used"] = int(prof["days_used"].iloc[0]) if len(prof) else 0
    md["first_days_of_history"] = md["days_used"] < PROFILE_DAYS
    return dg.MaterializeResult(metadata=md)


MODEL_OUTPUTS = ("heatmap", "predicted_liquidations", "model_snapshots")


@dg.multi_asset(
    specs=[dg.AssetSpec(["model", t], partitions_def=date_symbol, group_name="model", kinds={"parquet"},
                        deps=[dg.AssetDep(dg.AssetKey(["clean", "klines"])),
                              dg.AssetDep(dg.AssetKey(["clean", "open_interest"]), partition_mapping=_window(-1, 0)),
                              dg.AssetDep(dg.AssetKey(["clean", "funding"]), partition_mapping=_window(-1, 0)),
                              dg.AssetDep(dg.AssetKey(["model", "volume_profile"]))]
                        + ([dg.AssetDep(dg.AssetKey(["model", "heatmap"]), partition_mapping=_window(-1, -1))]
                           if t == "heatmap" else []),
                        description=desc)
           for t, desc in (("heatmap", "Liquidation levels per (model, snapshot, side, leverage, price bin), "
                                       "from data strictly before each snapshot."),
                           ("heatmap_levels", "The heatmap as traders read it: leverage summed, 0.25% log-price "
                                              "buckets stable across days (what `liq heatmap` queries)."),
                           ("predicted_liquidations", "Notional each model says was liquidated in each bar, by side."),
                           ("model_snapshots", "Per snapshot and model: price, OI, book totals (conservation)."))],
    partitions_def=date_symbol, name="liquidation_model", can_subset=False,
)
def liquidation_model(context: dg.AssetExecutionContext, pipeline: PipelineConfig):
    day, symbol = partition_of(context)
    root = pipeline.root()
    cfg = pipeline.estimator_config()
    br = BracketArrays.of(brackets.load(symbol, day))
    state_dir = root / "model" / "_state" / cfg.key() / symbol
    prev_path = state_dir / f"{day - dt.timedelta(days=1)}.npz"
    prev = book_mod.load_state(prev_path.read_bytes()) if prev_path.exists() else None
    est = estimate_day(
        day,
        storage.read_partition(root, "clean", "klines", symbol, day),
        storage.read_partitions(root, "clean", "open_interest", symbol, [day - dt.timedelta(days=1), day]),
        storage.read_partitions(root, "clean", "funding", symbol, [day - dt.timedelta(days=1), day]),
        storage.read_partition(root, "model", "volume_profile", symbol, day),
        prev, cfg, br)
    if est.state is not None:
        storage.write_bytes_atomic(state_dir / f"{day}.npz", book_mod.save_state(est.state))
    common = {"config_key": cfg.key(), "cold_start": est.cold_start, "interval": est.interval or "",
              "bars_without_oi": est.bars_without_oi,
              "snapshots_without_history": dg.MetadataValue.json(est.snapshots_without_history)}
    for table, df in (("heatmap", est.heatmap), ("heatmap_levels", rollup(est.heatmap)),
                      ("predicted_liquidations", est.predicted),
                      ("model_snapshots", est.snapshots)):
        md = _write(df, table, symbol, day, root, cfg.key())
        if table == "heatmap":
            md["model_config"] = dg.MetadataValue.json(cfg.to_dict())
        yield dg.MaterializeResult(asset_key=["model", table], metadata={**md, **common})
