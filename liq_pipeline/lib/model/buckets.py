"""The heatmap's price buckets: 0.25 % wide in log price, numbered from 1 USD, the same for every model, day and
symbol, so the tables (levels.py) and `liq heatmap`'s query (levels_query.py) line up. Imports no numpy unless
handed an array: the query's command has a time target."""
from __future__ import annotations

import math

BUCKET = 0.0025
LOG_BUCKET = math.log1p(BUCKET)


def bucket_low(k):
    """The low price edge of bucket k: a number, or an array (numpy) of them."""
    if isinstance(k, (int, float)):
        return math.exp(k * LOG_BUCKET)
    import numpy as np
    return np.exp(np.asarray(k, float) * LOG_BUCKET)
