"""Blocking quality gates, made from the table registry: each table's great-expectations suite runs as a
blocking (ERROR) check declared on its own asset, evaluated per (date, symbol) partition in the asset's step.

One great-expectations call costs about the same for one day or for many, so a range's partitions are
validated in batches and each partition gets its own result (lib/io/quality.run_suite_by_partition); the batches
run in the worker pool (lib/parallel) while the step goes on, and the step waits for them before it ends. A failure
stops every downstream asset of the run, and the check's metadata shows the failing rows and their file.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

from ..lib.market import brackets
from ..lib import parallel
from ..lib.io import quality, tables
from . import preview_apis
from .metadata import markdown_table
from .partitions import date_symbol, days_by_symbol, month_symbol, partition_key
from .ranges import RangeOutput

# Rows validated in one great-expectations call: big enough to amortise its fixed cost over many days, small
# enough that batches keep pace with the step, which waits only for its last batch.
MAX_GATE_ROWS = 500_000


def asset_key(table: tables.Table) -> dg.AssetKey:
    return dg.AssetKey([table.layer, table.name])


def check_key(table: tables.Table) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(asset_key(table), f"gx_{table.suite}")


def check_spec(table: tables.Table) -> dg.AssetCheckSpec:
    # partitioned checks are "preview" in Dagster 1.13 (without partitions_def a check loads every partition)
    with preview_apis():
        return dg.AssetCheckSpec(check_key(table).name, asset=asset_key(table), blocking=True,
                                 partitions_def=month_symbol if table.period == "month" else date_symbol,
                                 description=f"great-expectations suite expectations/{table.suite}.json (blocking)")


def suite_parameters(spec: dict, symbol: str) -> dict:
    """Values for the parameters a suite declares (meta.parameters): the funding cap is the symbol's."""
    wanted = set(spec.get("meta", {}).get("parameters", []))
    values = {}
    if wanted & {"funding_cap", "neg_funding_cap"}:
        cap = brackets.funding_cap(symbol)
        values.update(funding_cap=cap, neg_funding_cap=-cap)
    return values


def evaluation(table: tables.Table, day: dt.date, symbol: str, result: quality.GateResult) -> dg.AssetCheckEvaluation:
    key = partition_key(day, symbol)
    metadata = {"suite": table.suite, "expectations": result.evaluated, "rows": result.rows,
                "partition": str(key), "summary": result.summary()}
    for i, f in enumerate(result.failures):
        metadata[f"failed_{i}_{f.expectation}"] = dg.MetadataValue.md(
            f"**{f.describe()}** (`{f.kwargs}`)\n\n" + markdown_table(f.rows.reset_index(names="row"), 10))
    return dg.AssetCheckEvaluation(asset_key=asset_key(table), check_name=check_key(table).name, passed=result.success,
                                   severity=dg.AssetCheckSeverity.ERROR, blocking=True, partition=str(key),
                                   metadata=metadata, description=result.summary())


class RangeGate:
    """Collects one table's stored partitions of one symbol as they are written and validates them in batches, each
    in the worker pool (lib/parallel) while the step goes on writing; `evaluations()` waits for them all. A batch
    is read from storage by the worker that validates it (the step never sends it the frames)."""

    def __init__(self, table: tables.Table, symbol: str, layout, suites_dir: Path, enabled: bool = True):
        self.table, self.symbol, self.layout, self.suites_dir, self.enabled = table, symbol, layout, suites_dir, enabled
        self.days: list[dt.date] = []
        self.rows = 0
        self.batches = []

    def add(self, day: dt.date, rows: int) -> None:
        """The partition of `day` (of `rows` rows) is stored: validate it."""
        if not self.enabled:
            return
        self.days.append(day)
        self.rows += rows
        if self.rows >= MAX_GATE_ROWS:
            self._submit()

    def _submit(self) -> None:
        if not self.days:
            return
        t = self.table
        spec = quality.load_suite(t.suite, self.suites_dir)
        self.batches.append(parallel.submit(quality.run_suite_on_stored, t.suite, self.layout, t.layer, t.name,
                                            self.symbol, self.days, suite_parameters(spec, self.symbol),
                                            self.suites_dir))
        self.days, self.rows = [], 0

    def evaluations(self) -> list[dg.AssetCheckEvaluation]:
        """One evaluation per partition added, once every batch is validated."""
        self._submit()
        batches, self.batches = self.batches, []
        return [evaluation(self.table, day, self.symbol, r) for b in batches for day, r in b.result().items()]


def wanted(context: dg.AssetExecutionContext, table: tables.Table) -> tuple[bool, bool]:
    """(write the table, run its gate) in this step: either may be deselected (a rerun of the gate alone
    re-validates what is stored)."""
    return asset_key(table) in context.selected_asset_keys, check_key(table) in context.selected_asset_check_keys


def gate_outputs(context: dg.AssetExecutionContext, checked: list[tables.Table]):
    """Close the step's selected gates: their evaluations (one per partition) were yielded already; the output
    tells Dagster each gate ran, so downstream steps see it as evaluated (a failure fails the step itself)."""
    for table in checked:
        check = check_key(table)
        if check in context.selected_asset_check_keys:
            yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(check))


def recheck(context: dg.AssetExecutionContext, table: tables.Table, layout, suites_dir: Path, days_by_symbol: dict):
    """The gate alone, on the stored partitions (the asset itself was not selected)."""
    for symbol, days in days_by_symbol.items():
        gate = RangeGate(table, symbol, layout, suites_dir)
        for day in days:
            gate.add(day, layout.rows(table.layer, table.name, symbol, day))
        yield from gate.evaluations()
    yield from gate_outputs(context, [table])


def gated_step(context: dg.AssetExecutionContext, storage, table: tables.Table, write_days):
    """The step of an asset that writes one gated table over the run's partitions.

    `write_days(layout, symbol, days)` writes the symbol's days in order and yields (day, rows written,
    metadata) for each; every partition is recorded with its metadata and gated (as stored). A `dg.Failure` it raises is
    raised after the partitions finished before it are recorded. With the asset deselected, the gate alone
    re-validates what is stored."""
    layout, suites = storage.layout(), storage.suites_dir()
    write, gate_on = wanted(context, table)
    parts = days_by_symbol(context)
    if not write:
        yield from recheck(context, table, layout, suites, parts)
        return
    out, evaluations = RangeOutput(context, asset_key(table)), []
    try:
        for symbol, days in parts.items():
            gate = RangeGate(table, symbol, layout, suites, gate_on)
            for day, rows, metadata in write_days(layout, symbol, days):
                out.add(day, symbol, metadata)
                gate.add(day, rows)
            evaluations += gate.evaluations()
    except dg.Failure:
        yield from out.partial()
        raise
    yield out.result()
    yield from evaluations
    yield from gate_outputs(context, [table])
