"""The real BTCUSDT samples (../shared/data/real, or any root in its layout) as the clean tables' frames, parsed by the
pipeline's parsers."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from liq_pipeline.lib.io import parse
from liq_pipeline.lib.io.rawfiles import read_zip_csv

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
    # every interval of liquidation bars the root has (bars_30m, bars_4h, ...): SYM-liquidations-<venue>-<iv>.csv
    for d in sorted(p for p in (Path(root) / "liquidationBars/BTCUSDT").glob("*") if p.is_dir()):
        for f in sorted(d.glob("*.csv"))[:1]:
            venue = f.stem.split("-liquidations-", 1)[-1].rsplit("-", 1)[0]
            bars[f"bars_{d.name}"] = parse.parse_liquidation_bars(f.read_bytes(), "BTCUSDT", d.name, venue, str(f))
    return {"klines": kl, "funding": fu, "oi": oi, **bars}
