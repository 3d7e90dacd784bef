"""The audit's pictures for a month: the flow heatmap with the (real or simulated) liquidations over it, the per-bar skill
scatter and the hit-rate grid (files beside audit.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import plots
from ..model.levels import bucket_low
from . import metrics as m

PICTURE_STRIDE_HOURS = 4           # a month at 4h snapshots and 0.5% buckets: readable, and a small PNG
PICTURE_BUCKETS = 2


def month_window(levels: pd.DataFrame) -> pd.DataFrame:
    """heatmap_levels of one model as the picture's window (ts, side, price_low, price_high, usd, price)."""
    lv = levels[pd.to_datetime(levels["ts"]).dt.hour % PICTURE_STRIDE_HOURS == 0]
    lv = lv.assign(b=np.floor_divide(lv["bucket"], PICTURE_BUCKETS))
    w = lv.groupby(["ts", "side", "b"], as_index=False).agg(usd=("notional_usd", "sum"), price=("price", "first"))
    w["price_low"] = bucket_low(w["b"] * PICTURE_BUCKETS)
    w["price_high"] = bucket_low((w["b"] + 1) * PICTURE_BUCKETS)
    return w


def events_kind(data: dict) -> str:
    """What the period's liquidations are: the simulated market's (it has a ground truth) or real ones."""
    return "simulated" if len(data.get("sim_liquidations", ())) else "real"


def month_plots(symbol: str, month: str, data: dict, results: dict, out: Path, model: str = "flow") -> dict[str, Path]:
    """Title -> PNG path of the pictures the audit shows (those the data allows)."""
    from .suite import realised_per_bar

    made = {}
    levels = data["heatmap_levels"]
    levels = levels[levels["model"] == model] if len(levels) else levels
    kind = events_kind(data)
    if len(levels):
        realised, source, _ = realised_per_bar(data)
        made[f"Estimated liquidation heatmap with {kind} liquidations"] = plots.heatmap_png(
            month_window(levels), f"{symbol} {month}: {model} model levels (blue: longs, orange: shorts), "
            f"{kind} liquidations over them", out / "heatmap.png", events=data["liquidation_events"],
            realised=realised.assign(ts=pd.to_datetime(realised["ts"], utc=True)) if len(realised) else None,
            kind=kind)
    frame = results[model].get("_hourly")
    hourly_realised = results[model]["extended"].get("per_bar_skill", {}).get("realised_bar_hours", 1) <= 1
    if frame is not None and hourly_realised and "pred_long" in frame \
            and frame[["real_long", "real_short"]].notna().any().any():
        made["Per-bar skill: predicted vs realised (1h)"] = plots.skill_scatter(
            frame, f"{symbol} {month}: {model} model, predicted vs realised liquidated USD per 1h bar",
            out / "skill.png")
    cal = results[model]["extended"].get("calibration", {})
    res = next((h for h in ("1h", "4h") if cal.get(f"{h}_long", {}).get("reliability_curve")), None)
    if res:
        made[f"Calibration: reliability by predicted decile ({res})"] = plots.reliability_png(
            {s: cal[f"{res}_{s}"] for s in ("long", "short")},
            f"{symbol} {month}: {model} model, realised vs predicted liquidated USD per {res} bar",
            out / "reliability.png")
    grid = results[model]["extended"].get("hit_rate_grid")
    if grid:
        made["Hit-rate grid"] = plots.hit_grid_png(grid, m.LOOKBACKS_MIN, m.TOLERANCES_PCT,
                                                   f"{symbol} {month}: {model} zones, hit rate", out / "hit_grid.png")
    return made
