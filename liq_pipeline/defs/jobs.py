"""Jobs: the daily job materialises one (date, symbol) partition through raw -> clean -> model -> warehouse."""
import dagster as dg

daily_job = dg.define_asset_job(
    "daily_job", selection=dg.AssetSelection.groups("raw", "clean", "model", "warehouse"),
    description="Yesterday's (or any chosen) day for one symbol: pull, clean, gate, estimate, publish.",
)
