"""Column types of every table, from the registry (lib/io/tables.py): used to write typed (even empty) Parquet
partitions and to give the warehouse a typed view of a table that has no partition yet."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import tables

if TYPE_CHECKING:        # pandas is imported by conform: the warehouse's readers (liq heatmap, liq sql) never need it
    import pandas as pd

TS = tables.TS
_DUCK = {"str": "VARCHAR", TS: "TIMESTAMPTZ", "float64": "DOUBLE", "int64": "BIGINT", "Int64": "BIGINT",
         "bool": "BOOLEAN"}


def columns(table: str) -> dict[str, str]:
    return tables.get(table).all_columns


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Exactly the table's columns, in order, with its types (an empty frame gets the schema too)."""
    import pandas as pd
    cols = columns(table)
    extra = [c for c in df.columns if c not in cols]
    out = pd.DataFrame({c: (df[c] if c in df.columns else pd.Series(dtype=t)).astype(t) for c, t in cols.items()},
                       index=df.index if len(df.columns) else None)
    return pd.concat([out, df[extra]], axis=1) if extra else out


def labels(codes, names: list[str]) -> pd.Series:
    """`names[codes]` as a string column of the tables' type (pandas' "str", Arrow-backed). Built in Arrow from
    the codes: spelling out numpy strings and converting them is an order of magnitude slower, and the model's
    heatmap pays it every day."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    codes = pa.array(np.asarray(codes, dtype=np.int32))
    strings = pa.DictionaryArray.from_arrays(codes, pa.array(names, pa.large_string())).cast(pa.large_string())
    return strings.to_pandas(types_mapper=lambda _: pd.StringDtype("pyarrow", na_value=np.nan))


def conform_stamped(df: pd.DataFrame, table: str, symbol: str, config_key: str) -> pd.DataFrame:
    """conform, with the symbol and the config key that made the rows stamped on them (the model's tables)."""
    return conform(df.assign(symbol=symbol, config_key=config_key) if len(df) else df, table)


def duckdb_empty_select(table: str) -> str:
    cols = ", ".join(f"CAST(NULL AS {_DUCK[t]}) AS {c}" for c, t in columns(table).items())
    return f"SELECT {cols} WHERE false"
