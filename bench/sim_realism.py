"""Realism of the default simulated scenario, side by side with real BTCUSDT (../shared/data/real).

For each statistic: the real value over 2026-04-05..2026-06-08, the real range (min..max over the
window's calendar weeks), the simulated value, and whether it lies inside the real weekly range.

    python bench/sim_realism.py [--real ../shared/data/real] [--seed 7] [--days 30]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import realdata
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.scenario import Scenario

START, END = pd.Timestamp("2026-04-05", tz="UTC"), pd.Timestamp("2026-06-09", tz="UTC")


def load_real(root: Path) -> dict[str, pd.DataFrame]:
    d = realdata.load(root, months="2026-0[4-6]")
    cut = lambda df, c: df[(df[c] >= START) & (df[c] < END)].sort_values(c)
    return {"klines": cut(d["klines"], "open_time").set_index("open_time"), "funding": cut(d["funding"], "ts").set_index("ts"),
            "oi": cut(d["oi"], "ts").set_index("ts"), "liq": cut(d["bars_1h"], "ts").set_index("ts")}


def sim_frames(seed: int, days: int) -> dict[str, pd.DataFrame]:
    res = simulate(Scenario.default(seed=seed, start=START.date().isoformat(), days=days))
    k = res.klines.assign(open_time=pd.to_datetime(res.klines.open_time, unit="ms", utc=True)).set_index("open_time")
    hourly = k.resample("1h").agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    liq = res.liquidations.assign(ts=pd.to_datetime(res.liquidations.ts, unit="ms", utc=True))
    lb = liq.pivot_table(index=liq.ts.dt.floor("1h"), columns="side", values="notional_usd", aggfunc="sum")
    lb = lb.reindex(hourly.index).fillna(0.0).rename(columns={"long": "long_usd", "short": "short_usd"})
    fu = res.funding.assign(ts=pd.to_datetime(res.funding.calc_time, unit="ms", utc=True)).set_index("ts")
    oi = res.open_interest.assign(ts=pd.to_datetime(res.open_interest.ts, unit="ms", utc=True)).set_index("ts")
    return {"klines": hourly, "funding": fu, "oi": oi, "liq": lb}


def statistics(f: dict[str, pd.DataFrame]) -> dict[str, float]:
    k = f["klines"]
    r = np.log(k.close).diff().dropna()
    oi_h = f["oi"].oi_contracts.resample("1h").last().dropna()
    has_liq = len(f["liq"]) > 0      # the real 1h bars end 2026-05-22: later weeks have none
    liq = f["liq"][["long_usd", "short_usd"]].astype(float).reindex(k.index).fillna(0.0)
    total = liq.long_usd + liq.short_usd
    move = (k.high - k.low) / k.open * 100
    ret = np.log(k.close / k.open)
    down, up = ret < 0, ret > 0
    nan = float("nan")
    return {
        "hourly return vol (%)": r.std() * 100,
        "hourly return excess kurtosis": stats.kurtosis(r),
        "funding min (%)": f["funding"].funding_rate.min() * 100,
        "funding max (%)": f["funding"].funding_rate.max() * 100,
        "|OI change| per hour (%)": (oi_h.pct_change().abs().mean() * 100),
        # what the flow model's turnover decay reads: the hour's volume over the OI at its start (both contracts)
        "volume / OI per hour, median (%)": (k.volume / oi_h.shift(1).reindex(k.index)).median() * 100,
        "liquidated USD per 1% hourly range ($M)": total.sum() / move.sum() / 1e6 if has_liq else nan,
        "long share of liquidations, down hours": liq.long_usd[down].sum() / total[down].sum() if has_liq else nan,
        "long share of liquidations, up hours": liq.long_usd[up].sum() / total[up].sum() if has_liq else nan,
    }


def weekly_range(f: dict[str, pd.DataFrame]) -> dict[str, tuple[float, float]]:
    monday = f["klines"].index.normalize() - pd.to_timedelta(f["klines"].index.day_of_week, unit="D")
    per = []
    for lo in monday.unique():
        hi = lo + pd.Timedelta(days=7) - pd.Timedelta(milliseconds=1)
        part = {name: df[(df.index >= lo) & (df.index <= hi)] for name, df in f.items()}
        if len(part["klines"]) >= 72:
            per.append(statistics(part))
    return {k: (np.nanmin([p[k] for p in per]), np.nanmax([p[k] for p in per])) for k in per[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=30)
    a = ap.parse_args(argv)
    real = load_real(Path(a.real))
    rs, rr = statistics(real), weekly_range(real)
    ss = statistics(sim_frames(a.seed, a.days))
    print(f"default scenario (seed {a.seed}, {a.days} days of 1m bars) vs real BTCUSDT 2026-04-05..2026-06-08")
    print(f"{'statistic':42s} {'real':>10s} {'real weekly range':>22s} {'simulated':>10s}  inside")
    outside = 0
    for k in rs:
        lo, hi = rr[k]
        ok = lo <= ss[k] <= hi
        outside += not ok
        print(f"{k:42s} {rs[k]:10.4f} {f'{lo:.4f} .. {hi:.4f}':>22s} {ss[k]:10.4f}  {'yes' if ok else 'NO'}")
    print("note: real liquidation bars sum Binance+Bybit+OKX; the simulated market is one exchange.")
    print(f"{len(rs) - outside} of {len(rs)} statistics inside the real weekly range")
    return 0


if __name__ == "__main__":
    sys.exit(main())
