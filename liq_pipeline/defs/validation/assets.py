"""Validation assets: the suite of DESIGN section 7 per (day, symbol), and per (month, symbol) with the graded
verdict, data/reports/SYM/YYYY-MM/validation.json (+ validation-static.json) and audit.md with its plots.

What a period's validation is lives in lib/validation/periods; a range's periods run in parallel there and
are written here in order. The monthly partitions are months, keyed by their first day.

The suite itself (lib/validation/periods and its statistics) is imported where a period is validated, in the
workers, not with the definitions: every `liq` process and code server would pay for scipy.stats.
"""

import base64
from typing import TYPE_CHECKING

import dagster as dg

from ...lib import parallel
from ...lib.io import tables
from ...lib.errors import InputError
from ...lib.validation.inputs import INPUTS
from .. import preview_apis
from ..gates import asset_key, check_spec, gated_step
from ..metadata import written_metadata
from ..model.config import EstimatorConfig
from ..partitions import date_symbol, month_symbol, range_multi_asset
from ..ranges import failure
from ..resources import SourceResource, StorageResource

if TYPE_CHECKING:
    from ...lib.validation.periods import Period

DAILY, MONTHLY = tables.get("validation_daily"), tables.get("validation_monthly")
# What the suite reads for a day: the model's outputs and the clean truth beside them (same partition).
_day_inputs = [dg.AssetKey([layer, t]) for t, layer in INPUTS.items()]


def _grades_metadata(period: "Period") -> dict:
    md = {}
    for model, (grade, score) in period.grades.items():
        md[f"grade_{model}"] = grade or "not graded"
        if score is not None:
            md[f"score_{model}"] = dg.MetadataValue.float(round(score, 2))
    return md


def _write_periods(layout, symbol, firsts, table: tables.Table, validate, *args):
    """Each period validated (in parallel), its rows written in order: (first day, rows, period)."""
    results = parallel.ordered(validate, firsts, layout, symbol, *args)
    for first in firsts:
        try:
            period = next(results)
        except InputError as exc:
            raise failure(f"validation/{table.name}", first, symbol, exc) from None
        written = layout.write(period.rows, "validation", table.name, symbol, first)
        yield first, period, {**written_metadata(written), **_grades_metadata(period)}


@range_multi_asset(
    name="validation_daily", partitions_def=date_symbol, can_subset=True,
    specs=[dg.AssetSpec(asset_key(DAILY), partitions_def=date_symbol, group_name="validation", kinds={"parquet"},
                        description=DAILY.description, deps=_day_inputs)],
    check_specs=[check_spec(DAILY)],
)
def validation_daily(context: dg.AssetExecutionContext, storage: StorageResource):
    yield from gated_step(context, storage, DAILY, _daily)


def _daily(layout, symbol, days):
    from ...lib.validation import periods
    for day, period, metadata in _write_periods(layout, symbol, days, DAILY, periods.validate_day):
        yield day, len(period.rows), metadata


def _monthly_mapping() -> dg.MultiPartitionMapping:
    """A month depends on each of its days (same symbol)."""
    with preview_apis():
        return dg.MultiPartitionMapping({
            "date": dg.DimensionPartitionMapping("date", dg.TimeWindowPartitionMapping(
                allow_nonexistent_upstream_partitions=True)),
            "symbol": dg.DimensionPartitionMapping("symbol", dg.IdentityPartitionMapping()),
        })


@range_multi_asset(
    name="validation_monthly", partitions_def=month_symbol, can_subset=True,
    specs=[dg.AssetSpec(asset_key(MONTHLY), partitions_def=month_symbol, group_name="validation", kinds={"parquet"},
                        description=MONTHLY.description + " Writes data/reports/SYM/YYYY-MM/.",
                        deps=[dg.AssetDep(asset_key(DAILY), partition_mapping=_monthly_mapping())])],
    check_specs=[check_spec(MONTHLY)],
)
def validation_monthly(context: dg.AssetExecutionContext, config: EstimatorConfig, storage: StorageResource,
                       source: SourceResource):
    estimator = config.build()

    def write_months(layout, symbol, firsts):
        from ...lib.validation import periods
        for first, period, metadata in _write_periods(layout, symbol, firsts, MONTHLY, periods.validate_month,
                                                      estimator):
            images = "\n\n".join(f"**{t}**\n\n![{t}](data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()})"
                                 for t, p in period.plots.items())
            yield first, len(period.rows), {**metadata, "report": dg.MetadataValue.path(str(period.report)),
                                       "audit": dg.MetadataValue.md(period.audit),
                                       "plots": dg.MetadataValue.md(images or "_no plots_"),
                                       "days_with_model_output": period.days_with_output}

    yield from gated_step(context, storage, MONTHLY, write_months)
