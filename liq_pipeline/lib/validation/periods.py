"""One period's validation as the validation assets record it: a day's rows, or a month's rows and its reports
(a validation.json per model, audit.md and its pictures under reports/SYM/YYYY-MM/).

A period needs nothing of the others, so a range's periods are validated in parallel (lib/parallel) and the
assets write the tables in order. The monthly roll-up recomputes every metric over the month from the stored
tables (a correlation or a hit rate over a month is not the mean of its days')."""
from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd

from ..io import schemas, tables
from ..errors import InputError
from ..io.storage import write_bytes_atomic
from . import figures, report, suite


@dataclasses.dataclass
class Period:
    rows: pd.DataFrame                        # one row per model, in the table's schema
    grades: dict[str, tuple]                  # model -> (grade or None, score or None)
    days_with_output: int = 0
    report: Path | None = None                # the month's primary verdict file
    audit: str = ""                           # the month's audit.md
    plots: dict[str, Path] = dataclasses.field(default_factory=dict)   # title -> PNG


def _rows(results: dict[str, dict], table: tables.Table, symbol: str, period: str, config_key: str) -> pd.DataFrame:
    """One row per model, the period (date or month) in the table's time column."""
    df = pd.DataFrame([suite.flat_row(r) for r in results.values()])
    return schemas.conform(df.assign(symbol=symbol, config_key=config_key, **{table.time_col: period}), table.name)


def config_key(data: dict[str, pd.DataFrame]) -> str:
    """The estimator config(s) the period's model output was made with."""
    keys = data["model_snapshots"]["config_key"].dropna().unique() if len(data["model_snapshots"]) else []
    return ",".join(sorted(map(str, keys)))


def _grades(results: dict[str, dict]) -> dict[str, tuple]:
    return {model: (r["grade"], r["score"]) for model, r in results.items()}


def validate_day(day: dt.date, layout, symbol: str) -> Period:
    data = suite.load(layout, symbol, [day])
    if data["model_snapshots"].empty:
        raise InputError("no model output for this day: materialise the model first")
    # a day's intervals are wide whatever the resampling: 100 bootstrap draws are enough (the month uses 400); its
    # row has no column for the sections only the month's report shows
    results = suite.validate_models(data, reps=100, report=False)
    return Period(_rows(results, tables.get("validation_daily"), symbol, day.isoformat(), config_key(data)),
                  _grades(results))


def month_days(first: dt.date) -> list[dt.date]:
    return [first.replace(day=d) for d in range(1, calendar.monthrange(first.year, first.month)[1] + 1)]


def validate_month(first: dt.date, layout, symbol: str, estimator) -> Period:
    """The month's rows; its verdicts, audit and pictures are written to reports/SYM/YYYY-MM/. `estimator` is the
    run's estimator config: the verdict records it when the data was made with it."""
    month = first.strftime("%Y-%m")
    days = month_days(first)
    data = suite.load(layout, symbol, days)
    if data["model_snapshots"].empty:
        raise InputError(f"no model output on any day of {month}: materialise its days first")
    results = suite.validate_models(data)
    key = config_key(data)
    config = {"config_key": key, "estimator": estimator.to_dict() if estimator.key() == key else None,
              "estimator_note": None if estimator.key() == key else
              f"the data was made with config {key}; the run's estimator config is {estimator.key()}",
              "code": report.code_version()}
    inv = report.inventory(data, days)
    out = layout.reports(symbol) / month
    plots = figures.month_plots(symbol, month, data, results, out)
    for model, r in results.items():
        others = {k: v for k, v in results.items() if k != model}
        write_bytes_atomic(out / report.verdict_file(model),
                           report.dumps(report.document(symbol, month, r, inv, config, others)).encode())
    audit = report.audit_markdown(symbol, month, results, inv, config, {t: p.name for t, p in plots.items()})
    write_bytes_atomic(out / "audit.md", audit.encode())
    return Period(_rows(results, tables.get("validation_monthly"), symbol, month, key), _grades(results),
                  days_with_output=int(pd.to_datetime(data["model_snapshots"]["ts"]).dt.date.nunique()),
                  report=out / report.verdict_file(report.PRIMARY_MODEL), audit=audit, plots=plots)
