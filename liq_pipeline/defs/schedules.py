"""Schedules. The archive publishes a day's files after midnight UTC, with a lag of a day or two; the
daily run at 03:00 UTC takes yesterday with source `auto` (REST fills what the archive lacks)."""
import datetime as dt

import dagster as dg

from .jobs import daily_job


@dg.schedule(job=daily_job, cron_schedule="0 3 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_schedule(context: dg.ScheduleEvaluationContext):
    day = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
    symbols = context.instance.get_dynamic_partitions("symbol")
    if not symbols:
        return dg.SkipReason("no symbols yet: `liq run --symbols …` adds them")
    for sym in symbols:
        yield dg.RunRequest(
            run_key=f"{day}|{sym}",
            partition_key=dg.MultiPartitionKey({"date": day, "symbol": sym}),
            run_config={"resources": {"pipeline": {"config": {"source": "auto"}}}},
        )
