"""Partitions: (date × symbol). Symbols are dynamic: `liq run --symbols` adds them to the instance."""
import dagster as dg

from ..lib.params import EARLIEST_DATE

daily = dg.DailyPartitionsDefinition(start_date=EARLIEST_DATE.isoformat(), timezone="UTC")
symbols = dg.DynamicPartitionsDefinition(name="symbol")
date_symbol = dg.MultiPartitionsDefinition({"date": daily, "symbol": symbols})


def partition_of(context) -> tuple:
    """(date, symbol) of the partition being materialised or checked."""
    import datetime as dt

    keys = context.partition_key.keys_by_dimension
    return dt.date.fromisoformat(keys["date"]), keys["symbol"]
