"""Validation assets: the suite of DESIGN section 7 per (day, symbol), and per (month, symbol) with the graded
verdict, data/reports/SYM/YYYY-MM/validation.json (+ validation-static.json) and audit.md with its plots.

The monthly roll-up recomputes every metric over the whole month from the stored tables (a correlation or a
hit rate over a month is not the mean of the days' ones); its partitions are months, keyed by their first day.
"""

import base64
import calendar
import datetime as dt

import dagster as dg
import pandas as pd

from ...lib import schemas, tables
from ...lib.storage import write_bytes_atomic
from ...lib.validation import figures, report, suite
from .. import preview_apis
from ..gates import asset_key, check_spec, gated_step
from ..metadata import frame_metadata
from ..model.config import EstimatorConfig
from ..partitions import date_symbol, month_symbol, range_policy
from ..ranges import failure
from ..resources import StorageResource

DAILY, MONTHLY = tables.get("validation_daily"), tables.get("validation_monthly")
# What the suite reads for a day: the model's outputs and the clean truth beside them (same partition).
_day_inputs = [dg.AssetKey([layer, t]) for t, layer in suite.INPUTS.items()]


def _rows(results: dict[str, dict], table: tables.Table, symbol: str, period: str, config_key: str):
    """One row per model, the period (date or month) in the table's time column."""
    df = pd.DataFrame([suite.flat_row(r) for r in results.values()])
    return schemas.conform(df.assign(symbol=symbol, config_key=config_key, **{table.time_col: period}), table.name)


def _config_key(data) -> str:
    keys = data["model_snapshots"]["config_key"].dropna().unique() if len(data["model_snapshots"]) else []
    return ",".join(sorted(map(str, keys)))


def _grades_metadata(results: dict[str, dict]) -> dict:
    md = {}
    for model, r in results.items():
        md[f"grade_{model}"] = r["grade"] or "not graded"
        if r["score"] is not None:
            md[f"score_{model}"] = dg.MetadataValue.float(round(r["score"], 2))
    return md


@dg.multi_asset(
    name="validation_daily", partitions_def=date_symbol, backfill_policy=range_policy, can_subset=True,
    specs=[dg.AssetSpec(asset_key(DAILY), partitions_def=date_symbol, group_name="validation", kinds={"parquet"},
                        description=DAILY.description, deps=_day_inputs)],
    check_specs=[check_spec(DAILY)],
)
def validation_daily(context: dg.AssetExecutionContext, storage: StorageResource):
    yield from gated_step(context, storage, DAILY, _daily)


def _daily(layout, symbol: str, days: list[dt.date]):
    for day in days:
        data = suite.load(layout, symbol, [day])
        if data["model_snapshots"].empty:
            raise failure("validation/validation_daily", day, symbol,
                          ValueError("no model output for this day: materialise the model first"))
        # a day's intervals are wide whatever the resampling: 100 bootstrap draws are enough (the month uses 400)
        results = {model: suite.validate(data, model, reps=100) for model in suite.MODELS}
        df = _rows(results, DAILY, symbol, day.isoformat(), _config_key(data))
        path = layout.write(df, "validation", DAILY.name, symbol, day)
        yield day, df, {**frame_metadata(df), "path": dg.MetadataValue.path(str(path)), **_grades_metadata(results)}


def _month_days(first: dt.date) -> list[dt.date]:
    return [first.replace(day=d) for d in range(1, calendar.monthrange(first.year, first.month)[1] + 1)]


def _monthly_mapping() -> dg.MultiPartitionMapping:
    """A month depends on each of its days (same symbol)."""
    with preview_apis():
        return dg.MultiPartitionMapping({
            "date": dg.DimensionPartitionMapping("date", dg.TimeWindowPartitionMapping(
                allow_nonexistent_upstream_partitions=True)),
            "symbol": dg.DimensionPartitionMapping("symbol", dg.IdentityPartitionMapping()),
        })


@dg.multi_asset(
    name="validation_monthly", partitions_def=month_symbol, backfill_policy=range_policy, can_subset=True,
    specs=[dg.AssetSpec(asset_key(MONTHLY), partitions_def=month_symbol, group_name="validation", kinds={"parquet"},
                        description=MONTHLY.description + " Writes data/reports/SYM/YYYY-MM/.",
                        deps=[dg.AssetDep(asset_key(DAILY), partition_mapping=_monthly_mapping())])],
    check_specs=[check_spec(MONTHLY)],
)
def validation_monthly(context: dg.AssetExecutionContext, config: EstimatorConfig, storage: StorageResource):
    estimator = config.build()

    def write_months(layout, symbol, firsts):
        for first in firsts:
            yield _month(layout, symbol, first, estimator)

    yield from gated_step(context, storage, MONTHLY, write_months)


def _month(layout, symbol: str, first: dt.date, estimator):
    month = first.strftime("%Y-%m")
    days = _month_days(first)
    data = suite.load(layout, symbol, days)
    if data["model_snapshots"].empty:
        raise failure("validation/validation_monthly", first, symbol,
                      ValueError(f"no model output on any day of {month}: materialise its days first"))
    results = {model: suite.validate(data, model) for model in suite.MODELS}
    key = _config_key(data)
    config = {"config_key": key, "estimator": estimator.to_dict() if estimator.key() == key else None,
              "estimator_note": None if estimator.key() == key else
              f"the data was made with config {key}; the run's estimator config is {estimator.key()}",
              "code": report.code_version()}
    inv = report.inventory(data, days)
    out = layout.reports(symbol) / month
    plots = figures.month_plots(symbol, month, data, results, out)
    for model, r in results.items():
        others = {k: v for k, v in results.items() if k != model}
        write_bytes_atomic(out / report.verdict_file(model), report.dumps(report.document(symbol, month, r, inv, config, others)).encode())
    audit = report.audit_markdown(symbol, month, results, inv, config, {t: p.name for t, p in plots.items()})
    write_bytes_atomic(out / "audit.md", audit.encode())
    df = _rows(results, MONTHLY, symbol, month, key)
    path = layout.write(df, "validation", MONTHLY.name, symbol, first)
    images = "\n\n".join(f"**{t}**\n\n![{t}](data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()})"
                         for t, p in plots.items())
    return first, df, {**frame_metadata(df), "path": dg.MetadataValue.path(str(path)),
                       "report": dg.MetadataValue.path(str(out / report.verdict_file(report.PRIMARY_MODEL))),
                       "audit": dg.MetadataValue.md(audit), "plots": dg.MetadataValue.md(images or "_no plots_"),
                       "days_with_model_output": int(pd.to_datetime(data["model_snapshots"]["ts"]).dt.date.nunique()),
                       **_grades_metadata(results)}

