"""What the instance says of the jobs' runs: each job's last success and last failure (`liq status`)."""
from __future__ import annotations

import datetime as dt

import dagster as dg


def job_runs(instance) -> dict[str, dict]:
    """The last success and the last failure of each job in the Dagster instance."""
    out = {}
    for name in sorted({r.job_name for r in instance.get_runs(limit=500)}):
        row = {}
        for label, status in (("last_success", dg.DagsterRunStatus.SUCCESS), ("last_failure", dg.DagsterRunStatus.FAILURE)):
            runs = instance.get_run_records(dg.RunsFilter(job_name=name, statuses=[status]), limit=1)
            row[label] = ({"run_id": runs[0].dagster_run.run_id, "ended": dt.datetime.fromtimestamp(
                runs[0].end_time, dt.UTC).isoformat(timespec="seconds") if runs[0].end_time else None}
                if runs else None)
        out[name] = row
    return out
