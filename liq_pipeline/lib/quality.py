"""Data-quality gates: great-expectations suites kept as JSON in expectations/, run on DataFrames.

great_expectations is imported lazily (it takes seconds), and one ephemeral context is reused.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import pandas as pd

EXPECTATIONS_DIR = Path(os.environ.get("LIQ_EXPECTATIONS_DIR", Path(__file__).resolve().parents[2] / "expectations"))
SAMPLE_ROWS = 10


@dataclasses.dataclass
class Failure:
    expectation: str
    kwargs: dict
    unexpected_count: int
    rows: pd.DataFrame          # a sample of the offending rows, with their row index

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


def load_suite(name: str) -> dict:
    path = EXPECTATIONS_DIR / f"{name}.json"
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


def _gx_suite(spec: dict):
    import great_expectations as gx

    return gx.ExpectationSuite(name=spec["name"], expectations=spec["expectations"])


def run_suite(name: str, df: pd.DataFrame, parameters: dict | None = None) -> GateResult:
    """Validate `df` against the named suite; a suite with meta.group_by runs once per group."""
    spec = load_suite(name)
    group_by = spec.get("meta", {}).get("group_by")
    df = df.reset_index(drop=True)
    groups = [g for _, g in df.groupby(group_by, sort=True)] if group_by and len(df) else [df]
    failures: dict[str, Failure] = {}
    suite = _gx_suite(spec)
    for g in groups:
        result = _batch_definition().get_batch(batch_parameters={"dataframe": g}).validate(
            suite, result_format={"result_format": "COMPLETE"}, expectation_parameters=parameters or {})
        for r in result.results:
            if r.success:
                continue
            cfg = r.expectation_config
            idx = list(r.result.get("unexpected_index_list") or [])[:SAMPLE_ROWS]
            # unexpected_index_list holds row indices (or dicts for compound checks); fall back to none.
            idx = [i for i in idx if isinstance(i, (int,)) or hasattr(i, "__index__")]
            key = json.dumps([cfg.type, cfg.kwargs], sort_keys=True, default=str)
            rows = g.loc[g.index.intersection(idx)]
            count = int(r.result.get("unexpected_count") or 0) or (0 if r.exception_info.get("raised_exception") is False else 1)
            if key in failures:
                failures[key].unexpected_count += count
                failures[key].rows = pd.concat([failures[key].rows, rows]).head(SAMPLE_ROWS)
            else:
                failures[key] = Failure(cfg.type, {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}, count, rows)
    return GateResult(name, not failures, len(spec["expectations"]), list(failures.values()), len(df))
