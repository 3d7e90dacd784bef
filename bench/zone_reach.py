"""The simulated truth's zone share (DESIGN section 7: the true liquidated USD whose trigger lay in a top-decile zone
of the snapshot standing then) for the flow model, the static model and the true book itself, over each snapshot's
whole span and over the band the price could reach from it: the buckets within the largest 1h or 4h range of the 24
hours before the snapshot (known at the snapshot). What a map that is right can score on the share.

    python bench/zone_reach.py --data-dir data --month 2026-04     # a data root a simulated `liq run` made
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from liq_pipeline.lib.io.storage import DataLayout
from liq_pipeline.lib.validation import metrics as m
from liq_pipeline.lib.validation import suite
from liq_pipeline.lib.validation.periods import month_days


def reach(bars: pd.DataFrame, snapshots: pd.DatetimeIndex, hours: int) -> np.ndarray:
    """Per snapshot, the largest range of any `hours` hours within the 24 hours before it, as a fraction of price."""
    b = bars.set_index("open_time").sort_index()
    span = (b["high"].rolling(f"{hours}h").max() - b["low"].rolling(f"{hours}h").min()) / b["open"]
    return span.rolling("24h").max().reindex(snapshots - pd.Timedelta(microseconds=1), method="ffill").to_numpy()


def share(levels: pd.DataFrame, liquidations: pd.DataFrame) -> float | None:
    index = m.SnapshotIndex(levels["ts"].unique(), m.zones(levels))
    return m.truth_zone_share(index, liquidations)["value"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--symbol", default="BTCUSDT")
    ap.add_argument("--month", required=True, help="YYYY-MM")
    a = ap.parse_args(argv)
    data = suite.load(DataLayout(a.data_dir.resolve()), a.symbol, month_days(dt.date.fromisoformat(a.month + "-01")))
    if data["sim_liquidations"].empty:
        raise SystemExit(f"no simulated liquidations in {a.data_dir} for {a.symbol} {a.month}: the share needs the "
                         f"simulated source's truth")
    bars = suite.Market.of(data).bars
    liquidations = data["sim_liquidations"].sort_values("ts")
    lv = data["heatmap_levels"]
    maps = {"flow": lv[lv["model"] == "flow"], "static": lv[lv["model"] == "static"],
            "true book": m.true_book_levels(data["sim_positions"], bars)}
    total = liquidations["notional_usd"].sum()
    print(f"{a.symbol} {a.month}: true liquidated USD in the zones (share of {total:,.0f})")
    print(f"{'map':10s} {'whole span':>11s} {'1h reach':>9s} {'4h reach':>9s}")
    for name, levels in maps.items():
        ts = pd.DatetimeIndex(levels["ts"])
        snapshots = ts.unique().sort_values()
        distance = np.abs((levels["price_low"] + levels["price_high"]).to_numpy() / 2 / levels["price"].to_numpy() - 1)
        cells = [share(levels, liquidations)]
        for hours in (1, 4):
            band = pd.Series(reach(bars, snapshots, hours), index=snapshots).reindex(ts).to_numpy()
            cells.append(share(levels[distance <= band], liquidations))
        print(f"{name:10s} " + " ".join(f"{'n/a' if c is None else format(c, '.1%'):>9s}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
