"""Schedules. The archive publishes a day's files after midnight UTC, with a lag of a day or two; the
daily run at 03:00 UTC takes yesterday for every known symbol, with source `auto` (REST fills what the
archive lacks), through to its daily validation. On the first of a month at 05:00 UTC (after that day's daily
run has finished the month's last day) the monthly run rolls up, grades and reports the month before."""
import datetime as dt

import dagster as dg

from .jobs import daily_job, monthly_job
from .partitions import partition_key

# The schedules run on the exchange's own data (the archive, REST for its last days).
EXCHANGE = {"resources": {"source": {"config": {"feed": {"auto": {}}}}}}


@dg.schedule(job=daily_job, cron_schedule="0 3 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date() - dt.timedelta(days=1)
    symbols = context.instance.get_dynamic_partitions("symbol")
    if not symbols:
        return dg.SkipReason("no symbols yet: `liq run --symbols …` adds them")
    return [dg.RunRequest(run_key=f"{day}|{sym}", partition_key=str(partition_key(day, sym)),
                          run_config=EXCHANGE)
            for sym in sorted(symbols)]


@dg.schedule(job=monthly_job, cron_schedule="0 5 1 * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.STOPPED)
def monthly_schedule(context: dg.ScheduleEvaluationContext):
    this_month = context.scheduled_execution_time.date().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    symbols = context.instance.get_dynamic_partitions("symbol")
    if not symbols:
        return dg.SkipReason("no symbols yet: `liq run --symbols …` adds them")
    return [dg.RunRequest(run_key=f"{last_month:%Y-%m}|{sym}", partition_key=str(partition_key(last_month, sym)),
                          run_config=EXCHANGE)
            for sym in sorted(symbols)]
