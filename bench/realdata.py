"""The real BTCUSDT samples (../shared/data/real) as the clean tables' frames, parsed by the pipeline's parsers."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from liq_pipeline.lib import parse
from liq_pipeline.lib.rawfiles import read_zip_csv

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/real"


def load(root: Path, months: str = "*") -> dict[str, pd.DataFrame]:
    um = Path(root) / "futures/um"
    zips = lambda sub, pattern: sorted((um / sub).glob(pattern))
    kl = pd.concat([parse.parse_klines(read_zip_csv(p), "BTCUSDT", "1h", str(p))
                    for p in zips("monthly/klines/BTCUSDT/1h", f"*-{months}.zip")]).sort_values("open_time")
    fu = pd.concat([parse.parse_funding(read_zip_csv(p), "BTCUSDT", str(p))
                    for p in zips("monthly/fundingRate/BTCUSDT", f"*-{months}.zip")]).sort_values("ts")
    oi = pd.concat([parse.parse_metrics(read_zip_csv(p), "BTCUSDT", str(p))
                    for p in zips("daily/metrics/BTCUSDT", "*.zip")]).sort_values("ts")
    bars = {}
    for iv in ("30m", "1h"):
        f = next((Path(root) / "liquidationBars/BTCUSDT" / iv).glob("*.csv"))
        bars[iv] = parse.parse_liquidation_bars(f.read_bytes(), "BTCUSDT", iv, "binance+bybit+okx", str(f))
    return {"klines": kl, "funding": fu, "oi": oi, "bars_30m": bars["30m"], "bars_1h": bars["1h"]}
