"""Jobs: the daily job takes (date, symbol) partitions through raw -> clean -> model -> warehouse. Every asset
has a single-run backfill policy, so a run of the job over a partition range (a backfill from the UI, or
`liq run`) is one run with one step per asset."""
import dagster as dg

from .freshness import freshness_checks


DAILY_VALIDATION = dg.AssetKey(["validation", "validation_daily"])
MONTHLY_VALIDATION = dg.AssetKey(["validation", "validation_monthly"])

daily_job = dg.define_asset_job(
    "daily_job", selection=(dg.AssetSelection.groups("raw", "clean", "model", "warehouse")
                            | dg.AssetSelection.assets(DAILY_VALIDATION))
    # the freshness checks judge the whole data root against the clock: their own job and schedule
    - dg.AssetSelection.checks(freshness_checks),
    description="Pull, clean, gate, estimate, validate, publish: yesterday (the schedule), or any range of days "
                "and symbols.",
)

# The month's roll-up, grade and report (its partitions are (month, symbol)); the warehouse's views read its
# Parquet, so the next warehouse build (the next daily run, or `liq run`'s last step) shows it.
monthly_job = dg.define_asset_job(
    "monthly_job", selection=dg.AssetSelection.assets(MONTHLY_VALIDATION),
    description="The finished month's validation roll-up, graded verdict (validation.json) and audit report.",
)


# The recorded liquidation tapes into the warehouse's liquidation_events: what the tape sensor runs.
TAPE_ASSETS = [dg.AssetKey(["raw", "liquidation_events"]), dg.AssetKey(["clean", "liquidation_events"])]
tape_job = dg.define_asset_job(
    "tape_job", selection=dg.AssetSelection.assets(*TAPE_ASSETS),
    description="Recorded forceOrder tapes (liq record-forceorders) into raw and clean liquidation_events.",
)
