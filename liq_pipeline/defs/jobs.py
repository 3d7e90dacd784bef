"""Jobs: the daily job takes (date, symbol) partitions through raw -> clean -> model -> warehouse. Every asset
has a single-run backfill policy, so a run of the job over a partition range (a backfill from the UI, or
`liq run`) is one run with one step per asset."""
import dagster as dg


daily_job = dg.define_asset_job(
    "daily_job", selection=dg.AssetSelection.groups("raw", "clean", "model", "warehouse"),
    description="Pull, clean, gate, estimate, publish: yesterday (the schedule), or any range of days and symbols.",
)
