"""Does inferring the leverage mix online from past realised liquidations add skill? (issue 8, item 3)

Each leverage of the flow model's book sits at its own distance from price, so its share of a bar's predicted
liquidation is known: the book's levels crossed by the bar's range, by leverage (from the heatmap snapshot at
the bar's start; the heatmap's $1,000 floor leaves out a negligible part, printed as "check"). Before each day,
the mix is re-fitted as non-negative weights w (one per leverage and side) by least squares of the realised
liquidated USD on the per-leverage predictions over the W hours before the day, ridge-shrunk toward w = 1 (the
configured mix) with strength λ; the day's prediction is Σ w·prediction. Only bars before the day enter a fit.

Same data and scoring as bench/walk_forward.py (the default flow configuration; 24 h bootstrap blocks): (W, λ) is
to be chosen on the fit window 2026-04-12..05-09 and only then read on the test window 2026-05-10..06-08. A
variant that does not beat the fixed mix on the fit window is not adopted, whatever the test window says.

    python bench/leverage_mix_online.py [--real ../shared/data/real]
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls

import realdata
import walk_forward as wf
from feedback_calibration import print_windows
from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.market.liqprice import BracketArrays
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_days

WINDOWS_HOURS = (72, 168, 336, None)        # None: every bar before the day
STRENGTHS = (0.1, 0.5)


def crossed_by_leverage(data: dict, hourly: pd.DataFrame, cfg: ModelConfig) -> pd.DataFrame:
    """USD the bar's range liquidates from the book at its start, per side and leverage (columns long_5, ...)."""
    br = BracketArrays.of(brackets.load("BTCUSDT"))
    days = [wf.START + dt.timedelta(days=i) for i in range((wf.END - wf.START).days + 1)]
    heat = pd.concat([est.heatmap for _, est in estimate_days(data["klines"], data["oi"], data["funding"], days, cfg, br)])
    heat = heat[heat.model == "flow"].join(hourly[["low", "high"]], on="ts")
    centre = np.sqrt(heat.price_low * heat.price_high)            # the grid's bins are log bins
    usd = heat.notional_usd / heat.price * centre
    crossed = np.where(heat.side == "long", heat.price_high > heat.low, heat.price_low <= heat.high)
    out = heat.assign(usd=np.where(crossed, usd, 0.0), col=heat.side + "_" + heat.leverage.map("{:g}".format))
    return out.pivot_table(index="ts", columns="col", values="usd", aggfunc="sum", fill_value=0.0)


def refitted(frame: pd.DataFrame, per: pd.DataFrame, hours: int | None, strength: float) -> pd.DataFrame:
    """pred_* from the per-leverage predictions weighted by the mix fitted on the bars before each day."""
    out = frame.copy()
    idx = frame.index
    for side in ("long", "short"):
        X = per.reindex(idx).filter(like=f"{side}_").fillna(0.0).to_numpy()
        y = frame[f"real_{side}"].fillna(0.0).to_numpy()
        pred = np.full(len(idx), np.nan)
        for day in sorted(set(idx.floor("1D"))):
            past = (idx < day) & ((idx >= day - pd.Timedelta(hours=hours)) if hours else True)
            w = np.ones(X.shape[1])
            if past.sum() >= 24:
                # ridge toward the configured mix, scaled to the data so λ means the same for every window
                scale = strength * np.sqrt((X[past] ** 2).sum())
                w, _ = nnls(np.vstack([X[past], scale * np.eye(X.shape[1])]),
                            np.concatenate([y[past], scale * np.ones(X.shape[1])]))
            today = (idx >= day) & (idx < day + pd.Timedelta(days=1))
            pred[today] = X[today] @ w
        out[f"pred_{side}"] = pred
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(realdata.DEFAULT))
    a = ap.parse_args(argv)
    data = realdata.load(Path(a.real))
    cfg = ModelConfig()
    frame = wf.hourly_frame(data).join(wf.predictions(data, cfg)["flow"])
    per = crossed_by_leverage(data, frame, cfg)
    for side in ("long", "short"):
        whole = frame[f"pred_{side}"].sum()
        print(f"check: the per-leverage {side} predictions sum to {per.filter(like=f'{side}_').sum().sum() / whole:.4f} "
              f"of the model's")
    variants = {"fixed mix": frame}
    for hours in WINDOWS_HOURS:
        for strength in STRENGTHS:
            variants[f"W {hours or 'all'} h, λ {strength}"] = refitted(frame, per, hours, strength)
    print_windows(variants)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
