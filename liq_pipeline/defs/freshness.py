"""Freshness: an asset check `fresh` on each dataset a daily operation must keep current (lib/io/status.JUDGED),
judged by the very rule /api/health and `liq status` use (lib/io/status.freshness with its MAX_AGE: a day is
overdue at 11:00 UTC the day after it ends), so the UI and the live map agree on what is overdue.

Dagster's own freshness policies judge when an asset was last materialised, not the time its data reaches: a
backfill of an old month would look fresh, and its time-partition checks take a single time dimension, not this
project's (date × symbol). So the check reads the data root's newest time per symbol, as the health does. The
freshness schedule runs it every 30 minutes (off until started, like the others).
"""
import datetime as dt

import dagster as dg

from ..lib.io import status, tables
from .gates import asset_key
from .resources import StorageResource

FRESH = [asset_key(tables.get(t)) for t in status.JUDGED]


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec("fresh", asset=key, description=f"Every symbol's newest time within {status.MAX_AGE} "
                             "of now (the rule of /api/health and `liq status`)") for key in FRESH],
    can_subset=True, name="freshness_checks")
def freshness_checks(context: dg.AssetCheckExecutionContext, storage: StorageResource):
    now = dt.datetime.now(dt.UTC)
    rows = status.freshness(storage.layout().root, now, status.MAX_AGE)
    for table, key in zip(status.JUDGED, FRESH):
        if dg.AssetCheckKey(key, "fresh") not in context.selected_asset_check_keys:
            continue
        mine = [r for r in rows if r.table == table]
        stale = sorted(r.symbol for r in mine if r.stale)
        yield dg.AssetCheckResult(
            asset_key=key, check_name="fresh", passed=bool(mine) and not stale,
            severity=dg.AssetCheckSeverity.WARN,
            description=("no partition yet" if not mine else
                         f"overdue: {', '.join(stale)}" if stale else "every symbol current"),
            metadata={"judged_at": dg.MetadataValue.timestamp(now),
                      "max_age_hours": status.MAX_AGE.total_seconds() / 3600,
                      "latest": dg.MetadataValue.json({r.symbol: r.latest.isoformat() if r.latest else None
                                                       for r in mine}),
                      "overdue": dg.MetadataValue.json(stale)})


freshness_job = dg.define_asset_job("freshness_job", selection=dg.AssetSelection.checks(freshness_checks),
                                    description="Judge every daily dataset's freshness (the `fresh` checks).")
freshness_schedule = dg.ScheduleDefinition(job=freshness_job, cron_schedule="*/30 * * * *",
                                           execution_timezone="UTC",
                                           default_status=dg.DefaultScheduleStatus.STOPPED)
