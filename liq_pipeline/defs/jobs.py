"""Jobs: the daily job materialises one (date, symbol) partition through raw -> clean -> warehouse."""
import dagster as dg

from .partitions import date_symbol

daily_job = dg.define_asset_job(
    "daily_job", selection=dg.AssetSelection.groups("raw", "clean", "model", "warehouse"), partitions_def=date_symbol,
    description="Yesterday's (or any chosen) day for one symbol: pull, clean, gate, estimate, publish.",
)
