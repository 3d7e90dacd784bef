"""The estimator: the 30-day volume profile and both liquidation models (flow book, seed static), per day.

A step handles a range of days per symbol in date order. The flow book carries from day to day: each day
loads the book state the previous day saved (data/model/_state/<config key>/SYM/DATE.npz). Without it (a first
day), the book is replayed over the clean history of the 30 days before, as far as the data root has it (`liq run`
pulls it first where the source has it); with no history at all, the volume-profile baseline seeds the book (a
cold start). Metadata `start` / `warm_start_days` says which. A rerun of an earlier day leaves
later days' states as they were: rerun the range after it to carry the change forward.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from ...lib import brackets, parallel, schemas, tables
from ...lib.errors import InputError
from ...lib.liqprice import BracketArrays
from ...lib.model import book as book_mod
from ...lib.model.estimate import estimate_day, replay_history
from ...lib.model.levels import day_tables
from ...lib.model.profile import PROFILE_DAYS, ProfileWindow
from ...lib.storage import concat_days, write_bytes_atomic
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


def _profile_days(layout, symbol: str, days: list[dt.date]):
    """Each day's profile of the 30 days before it. The window of the day before, carried on by one day (its
    saved parts plus one day of klines), is used where that equals building it anew (lib/model/profile), so a
    day's run reads one klines partition, not 30, and a range reads each once."""
    one_day = dt.timedelta(days=1)
    prev = layout.profile_state(symbol, days[0] - one_day)
    window = ProfileWindow.from_bytes(prev.read_bytes()) if prev.exists() else None
    start = days[0] - (one_day if window is not None else dt.timedelta(days=PROFILE_DAYS))
    kl = layout.read_days("clean", "klines", symbol, [start + i * one_day for i in range((days[-1] - start).days)])

    def klines_between(a: dt.date, b: dt.date) -> pd.DataFrame:
        if a < start:      # a window rebuilt mid-range (its bin width moved) reaches back before what was read
            return layout.read_days("clean", "klines", symbol, [a + i * one_day for i in range((b - a).days)])
        return kl[(kl["open_time"] >= pd.Timestamp(a, tz="UTC")) & (kl["open_time"] < pd.Timestamp(b, tz="UTC"))] \
            if len(kl) else kl

    for day in days:
        window, carried = ProfileWindow.for_day(day, window, klines_between)
        built = "carried on from the day before" if carried else "built from 30 days of klines"
        write_bytes_atomic(layout.profile_state(symbol, day), window.to_bytes())
        prof = window.profile()
        if window.interval is not None:
            prof = prof.assign(date=day.isoformat(), interval=window.interval, days_used=len(window.parts))
        prof = schemas.conform_stamped(prof, "volume_profile", symbol, "profile")
        written = layout.write(prof, "model", "volume_profile", symbol, day)
        days_used = int(prof["days_used"].iloc[0]) if len(prof) else 0
        yield day, written.rows, {**written_metadata(written), "window": built, "days_used": days_used,
                                  "first_days_of_history": days_used < PROFILE_DAYS}


MODEL_OUTPUTS = ("heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots")
_inputs = [dg.AssetDep(dg.AssetKey(["clean", "klines"])),
           dg.AssetDep(dg.AssetKey(["clean", "open_interest"]), partition_mapping=_window(-1, 0)),
           dg.AssetDep(dg.AssetKey(["clean", "funding"]), partition_mapping=_window(-1, 0)),
           dg.AssetDep(asset_key(PROFILE))]


def _replay(layout, symbol: str, day: dt.date, cfg, br) -> tuple:
    """The book at the start of `day` replayed over the clean klines, OI and funding of the PROFILE_DAYS days
    before it (what `liq run` pulls before a first day, where the source has it): (state or None, days)."""
    history = [day - dt.timedelta(days=i) for i in range(PROFILE_DAYS, 0, -1)]
    return replay_history(layout.read_days("clean", "klines", symbol, history),
                          layout.read_days("clean", "open_interest", symbol, history),
                          layout.read_days("clean", "funding", symbol, history), cfg, br)


def _estimated_days(layout, symbol: str, days: list[dt.date], cfg, fallback: bool, write: tuple[str, ...]):
    """The book over `days`, in order (each day starts from the book the day before saved): for each day,
    ((day, metadata common to its tables), future of its tables rolled up and written: levels.day_tables)."""
    read: dict = {}             # (table, day) -> clean partition: a day's OI and funding serve two days

    def two_days(table: str, day: dt.date) -> pd.DataFrame:
        """The clean table's day before and day, as layout.read_days gives them, each read once."""
        both = [day - dt.timedelta(days=1), day]
        for d in both:
            if (table, d) not in read:
                read[(table, d)] = layout.read_days("clean", table, symbol, [d])
        read.pop((table, day - dt.timedelta(days=2)), None)
        return concat_days([read[(table, d)] for d in both])

    for day in days:
        try:
            table, brackets_from = brackets.resolve(symbol, day, fallback=fallback)
        except InputError as exc:
            raise failure("model/liquidation_model", day, symbol, exc) from None
        br = BracketArrays.of(table)
        prev_path = layout.book_state(cfg.key(), symbol, day - dt.timedelta(days=1))
        prev = book_mod.load_state(prev_path.read_bytes()) if prev_path.exists() else None
        warm_days = None
        if prev is None:          # a first day: start from the history the data root holds, if any
            prev, warm_days = _replay(layout, symbol, day, cfg, br)
        est = estimate_day(day, layout.read("clean", "klines", symbol, day), two_days("open_interest", day),
                           two_days("funding", day), layout.read("model", "volume_profile", symbol, day),
                           prev, cfg, br)
        if est.state is not None:
            write_bytes_atomic(layout.book_state(cfg.key(), symbol, day), book_mod.save_state(est.state))
        start = ("carried from the day before" if warm_days is None else
                 f"warm: replayed {warm_days} day(s) of history" if warm_days else
                 "cold: no history, seeded from the volume profile")
        common = {"config_key": cfg.key(), "brackets": brackets_from, "cold_start": est.cold_start, "start": start,
                  "warm_start_days": warm_days or 0, "interval": est.interval or "",
                  "bars_without_oi": est.bars_without_oi,
                  "snapshots_without_history": dg.MetadataValue.json(est.snapshots_without_history)}
        yield (day, common), parallel.submit(day_tables, day, layout, symbol, cfg.key(), est.heatmap, est.predicted,
                                             est.snapshots, write)


@range_multi_asset(
    name="liquidation_model", partitions_def=date_symbol, can_subset=True,
    specs=[dg.AssetSpec(asset_key(tables.get(t)), partitions_def=date_symbol, group_name="model", kinds={"parquet"},
                        description=tables.get(t).description,
                        deps=_inputs + ([dg.AssetDep(dg.AssetKey(["model", "heatmap"]), partition_mapping=_window(-1, -1))]
                                        if t == "heatmap" else []))
           for t in MODEL_OUTPUTS],
    check_specs=[check_spec(tables.get(t)) for t in MODEL_OUTPUTS],
)
def liquidation_model(context: dg.AssetExecutionContext, config: EstimatorConfig, storage: StorageResource,
                      source: SourceResource):
    layout, suites = storage.layout(), storage.suites_dir()
    cfg = config.build(source.market())
    # the four tables come from one computation; a subset (or a gate alone) writes and reports just its part
    selected = {t: wanted(context, tables.get(t)) for t in MODEL_OUTPUTS}
    outs = {t: RangeOutput(context, asset_key(tables.get(t))) for t in MODEL_OUTPUTS}
    evaluations = []
    write = tuple(t for t in MODEL_OUTPUTS if selected[t][0])
    for symbol, days in days_by_symbol(context).items():
        gates = {t: RangeGate(tables.get(t), symbol, layout, suites, selected[t][1]) for t in MODEL_OUTPUTS}
        estimated = _estimated_days(layout, symbol, days, cfg, source.bracket_fallback_allowed(), write)
        try:
            # a day's tables are rolled up and written in a worker while the book goes on to the next day; they
            # are recorded here in day order
            for (day, common), made in parallel.in_order(estimated):
                for table, written in made.items():
                    if written is None:       # only its gate: validate what is stored
                        gates[table].add(day, layout.rows("model", table, symbol, day))
                        continue
                    md = {**written_metadata(written), **common}
                    if table == "heatmap":
                        md["model_config"] = dg.MetadataValue.json(cfg.to_dict())
                    outs[table].add(day, symbol, md)
                    gates[table].add(day, written.rows)
        except dg.Failure:
            for t, out in outs.items():       # the days done before it stay recorded
                if selected[t][0]:
                    yield from out.partial()
            raise
        for gate in gates.values():
            evaluations += gate.evaluations()
    for table, out in outs.items():
        if selected[table][0]:
            yield out.result()
    yield from evaluations
    yield from gate_outputs(context, [tables.get(t) for t in MODEL_OUTPUTS])
