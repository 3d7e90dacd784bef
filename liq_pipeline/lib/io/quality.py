"""Data-quality gates: great-expectations suites kept as JSON in expectations/, run on DataFrames.

great_expectations is imported lazily (it takes seconds), and one ephemeral context is reused. The suites ship
inside the package (pyproject maps expectations/ to liq_pipeline.expectations), so an installed wheel gates too.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE_ROWS = 10


def default_expectations_dir() -> Path:
    """$LIQ_EXPECTATIONS_DIR, else the suites installed with the package, else the checkout's expectations/ (an
    editable install, which cannot see the mapped folder)."""
    if os.environ.get("LIQ_EXPECTATIONS_DIR"):
        return Path(os.environ["LIQ_EXPECTATIONS_DIR"])
    # the suites folder has no __init__.py (it is a namespace package): its location is its spec's search path
    spec = importlib.util.find_spec("liq_pipeline.expectations")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[3] / "expectations"


@dataclasses.dataclass
class Failure:
    expectation: str
    kwargs: dict
    unexpected_count: int
    rows: pd.DataFrame          # a sample of the offending rows, with their row index
    index: np.ndarray = dataclasses.field(default_factory=lambda: np.array([], dtype=int))  # every offending row

    def describe(self) -> str:
        cols = self.kwargs.get("column") or self.kwargs.get("column_list") or \
            f"{self.kwargs.get('column_A')} vs {self.kwargs.get('column_B')}"
        files = sorted(set(self.rows["ingest_file"].dropna())) if "ingest_file" in self.rows else []
        where = f" (from {', '.join(files)})" if files else ""
        return f"{self.expectation} on {cols}: {self.unexpected_count} row(s) fail{where}"


@dataclasses.dataclass
class GateResult:
    suite: str
    success: bool
    evaluated: int
    failures: list[Failure]
    rows: int

    def summary(self) -> str:
        if self.success:
            return f"{self.suite}: all {self.evaluated} expectations pass on {self.rows} rows"
        return f"{self.suite}: " + "; ".join(f.describe() for f in self.failures)


def load_suite(name: str, suites_dir: Path | None = None) -> dict:
    path = Path(suites_dir or default_expectations_dir()) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"expectation suite {name}: {path} missing")
    return json.loads(path.read_text())


@functools.cache
def _batch_definition():
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    try:
        ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    except Exception:  # older config shape: progress bars are only cosmetic
        pass
    return ctx.data_sources.add_pandas("liq").add_dataframe_asset("frame").add_batch_definition_whole_dataframe("all")


def warm() -> None:
    """Import great-expectations and make its context now (seconds), not in the first gate."""
    _batch_definition()


def _gx_suite(name: str, expectations: list):
    import great_expectations as gx

    return gx.ExpectationSuite(name=name, expectations=expectations)


def _batches(spec: dict, df: pd.DataFrame):
    """(expectations, frame) pairs to validate: every expectation once on the whole frame, except those whose
    meta names a `group_by` column (an ordering that holds within each group, e.g. bins within a day), which run
    on each group apart. Only those pay a call per group (a great-expectations call has a fixed cost)."""
    whole, grouped = [], {}
    for e in spec["expectations"]:
        by = (e.get("meta") or {}).get("group_by")
        (grouped.setdefault(by, []) if by else whole).append(e)
    if not len(df):              # nothing to group: every expectation once, on the empty frame
        yield spec["expectations"], df
        return
    if whole:
        yield whole, df
    for by, expectations in grouped.items():
        for _, g in df.groupby(by, sort=True):
            yield expectations, g


def _referenced(obj, columns: set) -> set:
    """Column names an expectation's kwargs mention anywhere (column, column_A/B, column_list, row_condition)."""
    if isinstance(obj, str):
        return {obj} & columns
    if isinstance(obj, dict):
        return set().union(*(_referenced(v, columns) for v in obj.values())) if obj else set()
    if isinstance(obj, (list, tuple)):
        return set().union(*(_referenced(v, columns) for v in obj)) if obj else set()
    return set()


def _gx_frame(g: pd.DataFrame, expectations: list[dict]) -> pd.DataFrame:
    """What great-expectations needs of a batch: only the columns the expectations name, strings as categoricals.
    GX copies the frame's rows for every expectation (and hashes it for the batch id); with pandas' Arrow-backed
    strings each copy is a slow Arrow `take`, and the provenance columns (file names, checksums) are never
    checked, so they are left out. The index is kept, so failing
    rows are still shown from the full frame, with their file."""
    names = set(g.columns)
    used = set().union(*(_referenced(e.get("kwargs", {}), names) for e in expectations)) if expectations else set()
    cols = [c for c in g.columns if c in used]
    out = g[cols]
    strings = [c for c in cols if pd.api.types.is_string_dtype(out[c].dtype) and out[c].dtype != object]
    return out.astype({c: "category" for c in strings}) if strings else out


def run_suite(name: str, df: pd.DataFrame, parameters: dict | None = None, suites_dir: Path | None = None) -> GateResult:
    """Validate `df` against the named suite (expectations with meta.group_by run once per group)."""
    spec = load_suite(name, suites_dir)
    df = df.reset_index(drop=True)
    failures: dict[str, Failure] = {}
    for expectations, g in _batches(spec, df):
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": _gx_frame(g, expectations)})
        validate = lambda fmt: batch.validate(_gx_suite(spec["name"], expectations), result_format={"result_format": fmt},
                                              expectation_parameters=parameters or {})
        # A pass/fail answer first: COMPLETE also computes every expectation's unexpected-row lists, which a
        # passing batch (nearly all) never uses, at about the cost of the validation itself.
        # Only a failing batch is validated again to name its rows.
        if validate("BOOLEAN_ONLY").success:
            continue
        result = validate("COMPLETE")
        for r in result.results:
            if r.success:
                continue
            cfg = r.expectation_config
            # unexpected_index_list holds row indices (or dicts for compound checks); fall back to none.
            every = [i for i in (r.result.get("unexpected_index_list") or []) if hasattr(i, "__index__")]
            idx = every[:SAMPLE_ROWS]
            key = json.dumps([cfg.type, cfg.kwargs], sort_keys=True, default=str)
            rows = g.loc[g.index.intersection(idx)]
            count = int(r.result.get("unexpected_count") or 0) or (0 if r.exception_info.get("raised_exception") is False else 1)
            every = np.asarray(every, dtype=int)
            if key in failures:
                failures[key].unexpected_count += count
                failures[key].rows = pd.concat([failures[key].rows, rows]).head(SAMPLE_ROWS)
                failures[key].index = np.concatenate([failures[key].index, every])
            else:
                failures[key] = Failure(cfg.type, {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}, count, rows, every)
    return GateResult(name, not failures, len(spec["expectations"]), list(failures.values()), len(df))


def run_suite_on_stored(name: str, layout, layer: str, table: str, symbol: str, days: list, parameters: dict | None = None,
                        suites_dir: Path | None = None) -> dict:
    """run_suite_by_partition on the partitions as stored, read here (in the worker that validates them): the
    gate checks exactly what downstream assets and the warehouse will read."""
    return run_suite_by_partition(name, {d: layout.read(layer, table, symbol, d) for d in days}, parameters, suites_dir)


def run_suite_by_partition(name: str, frames: dict, parameters: dict | None = None,
                           suites_dir: Path | None = None) -> dict:
    """Validate many partitions' frames (key -> frame, in order) in one great-expectations call, which costs
    about what one partition's does, and give each partition its own GateResult: a failing row belongs to
    the partition it came from; a failure that names no rows fails every partition of the batch. The suites'
    keys and orderings hold across a symbol's consecutive days, so this equals validating each apart."""
    keys = list(frames)
    sizes = [len(frames[k]) for k in keys]
    nonempty = [frames[k] for k in keys if len(frames[k])]
    whole = pd.concat(nonempty, ignore_index=True) if nonempty else next(iter(frames.values()), pd.DataFrame())
    result = run_suite(name, whole, parameters, suites_dir)
    owner = np.repeat(np.arange(len(keys)), sizes)       # row i of `whole` came from partition owner[i]
    out = {}
    for i, key in enumerate(keys):
        fails = []
        for f in result.failures:
            if not len(f.index):                   # names no rows: it fails the whole batch
                fails.append(f)
                continue
            mine = f.index[owner[f.index] == i]
            if len(mine):
                fails.append(dataclasses.replace(f, rows=whole.loc[mine[:SAMPLE_ROWS]], index=mine,
                                                 unexpected_count=len(mine)))
        out[key] = GateResult(name, not fails, result.evaluated, fails, sizes[i])
    return out
