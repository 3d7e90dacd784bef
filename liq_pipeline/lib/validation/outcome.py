"""The outcome metrics and the verdict (docs/validation.md, "The verdict"): what really happened against the map.

- map_ahead: the snapshot standing at a bar's start read as that bar's forecast: the notional between the open and
  the bar's extreme on each side (prorated over each level's span). Scored like the per-bar skill: rank
  correlation, the move baseline, the flexible partial beyond the move and beyond the path, block-bootstrap CIs.
- calibration: predicted against realised liquidated USD per bar (ratio of totals, log-log slope, a reliability
  curve by predicted decile), and a probability the predictions imply, learned only from earlier bars (that a bar
  liquidates more than the median of the 30 days before it), scored by the Brier score's decomposition and its
  skill against climatology (the earlier bars' base rate).
- regimes: skill and calibration by volatility tercile, funding sign, trend direction and weekend vs weekday.
- verdict: the grade from the lower ends of those intervals (what a trader can count on), with the seed's formula
  beside it as `seed_grade`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .metrics import missing
from .skill import (PATH_COLUMNS, bars_of, block_bars, block_bootstrap_ci, partial_beyond_rows, side_moves,
                    spearman_rows)

MAP_AHEAD_HOURS = (1, 4, 24)
SNAPSHOT_MAX_AGE = pd.Timedelta(hours=24)      # an older snapshot is no map standing at the bar
SIDES = ("long", "short")


# --- map-ahead ---------------------------------------------------------------------------------------------------

class Snapshots:
    """A model's heatmap_levels as arrays per (snapshot, side), made once a period."""

    def __init__(self, levels: pd.DataFrame):
        lv = levels.sort_values(["ts", "side"], kind="stable")
        ts = lv["ts"].to_numpy(dtype="datetime64[ns]")
        side = lv["side"].to_numpy(object)
        lo, hi, usd = (lv[c].to_numpy(float) for c in ("price_low", "price_high", "notional_usd"))
        cut = np.flatnonzero((ts[1:] != ts[:-1]) | (side[1:] != side[:-1])) + 1
        starts, ends = np.r_[0, cut], np.r_[cut, len(ts)]
        self.times = np.unique(ts)
        self.groups = {(ts[a], side[a]): (lo[a:b], hi[a:b], usd[a:b]) for a, b in zip(starts, ends)} if len(ts) else {}


def map_forecasts(snaps: Snapshots, bars: pd.DataFrame) -> pd.DataFrame:
    """Per bar (index: its start) the map's forecast of each side: the notional of the latest snapshot at or before
    the bar's start (no older than a day) between the open and the bar's low (long) or high (short), each level
    counted by the share of its price span inside that range. NaN where no snapshot stands."""
    out = np.full((len(bars), 2), np.nan)          # filled as arrays: a cell set on a frame cost ~50 µs
    if len(snaps.times) and not bars.empty:
        times, groups, empty = snaps.times, snaps.groups, (np.empty(0), np.empty(0), np.empty(0))
        starts = bars.index.to_numpy(dtype="datetime64[ns]")
        at = np.searchsorted(times, starts, side="right") - 1
        opens, lows, highs = (bars[c].to_numpy(float) for c in ("open", "low", "high"))
        for i in range(len(bars)):
            if at[i] < 0 or starts[i] - times[at[i]] > SNAPSHOT_MAX_AGE.to_timedelta64():
                continue
            t = times[at[i]]
            for j, (side, lo, hi) in enumerate((("long", lows[i], opens[i]), ("short", opens[i], highs[i]))):
                pl, ph, usd = groups.get((t, side), empty)
                inside = np.clip(np.minimum(ph, hi) - np.maximum(pl, lo), 0, None) / np.maximum(ph - pl, 1e-12)
                out[i, j] = float((usd * inside).sum())
    return pd.DataFrame(out, index=bars.index, columns=["map_long", "map_short"])


def _skill_cell(pred: np.ndarray, real: np.ndarray, bars: pd.DataFrame, side: str, hours: int, reps: int) -> dict:
    """ρ, the move baseline, the partial beyond the move and beyond the path (with CIs) of one side's forecasts."""
    n = len(pred)
    move = side_moves(bars)[side]
    block = block_bars(n, hours)
    # flexible in the move as the per-bar skill is (skill.controls_bins: ~4 bars a bin, 15 from 60 bars): a month
    # has 30 daily bars, and 15 bins would leave a 24h bar's partial nothing to vary
    out = {"value": float(spearman_rows(pred, real)), "n": n, "naive": float(stats.spearmanr(move, real).statistic),
           "partial": float(partial_beyond_rows(pred, real, move)),
           "partial_ci95": [float(x) for x in block_bootstrap_ci(partial_beyond_rows, [pred, real, move], block,
                                                                  reps)]}
    if set(PATH_COLUMNS) <= set(bars.columns):
        controls = [move, bars[f"path_{side}"].to_numpy(float), bars["path_range"].to_numpy(float)]
        out["partial_beyond_path"] = float(partial_beyond_rows(pred, real, *controls))
        out["partial_beyond_path_ci95"] = [float(x) for x in block_bootstrap_ci(
            partial_beyond_rows, [pred, real, *controls], block, reps // 2)]
    return out


def map_ahead(levels: pd.DataFrame, hourly: pd.DataFrame, scorable, reps: int = 400, min_bars: int = 20) -> dict:
    """extended.map_ahead.<h>h_<side>: the map at each bar's start as that bar's forecast, at 1h, 4h and 24h."""
    out, snaps = {}, Snapshots(levels)
    for hours in MAP_AHEAD_HOURS:
        bars = bars_of(hourly, hours)
        fc = map_forecasts(snaps, bars) if scorable(hours) else None
        for side in SIDES:
            key = f"{hours}h_{side}"
            if fc is None:
                out[key] = missing(f"realised liquidations cannot be summed to {hours}h bars")
                continue
            ok = bars[f"real_{side}"].notna().to_numpy() & fc[f"map_{side}"].notna().to_numpy()
            pred, real = fc[f"map_{side}"].to_numpy(float)[ok], bars[f"real_{side}"].to_numpy(float)[ok]
            if ok.sum() < min_bars or np.ptp(pred) == 0 or np.ptp(real) == 0:
                out[key] = missing(f"{int(ok.sum())} {hours}h bar(s) with a map and realised liquidations "
                                   f"(at least {min_bars}, not constant)", n=int(ok.sum()))
                continue
            out[key] = _skill_cell(pred, real, bars[ok], side, hours, reps)
    return out


# --- calibration -------------------------------------------------------------------------------------------------

TRAILING = pd.Timedelta(days=30)
MIN_HISTORY = 20                   # earlier labelled bars a probability is learned from, at least
PROB_BINS = 5                      # predicted-value bins the probability is learned in
RELIABILITY_BINS = 10


def exceedance(real: pd.Series) -> pd.Series:
    """Whether each bar liquidated more than the median of the bars of the 30 days before it (NaN until there are
    MIN_HISTORY of them)."""
    values = real.to_numpy(float)
    times = real.index.to_numpy(dtype="datetime64[ns]").view("int64")
    order = np.argsort(times, kind="stable")
    t, v = times[order], values[order]
    # each bar's window as a slice of the sorted bars: [t − 30 days, t) (a mask over every bar per bar was a
    # month's calibration's time)
    lo = np.searchsorted(t, t - TRAILING.value, side="left")
    hi = np.searchsorted(t, t, side="left")
    out = np.full(len(v), np.nan)
    for i in np.flatnonzero(hi - lo >= MIN_HISTORY):
        out[i] = float(v[i] > np.median(v[lo[i]:hi[i]]))
    return pd.Series(out[np.argsort(order)], index=real.index)


def learned_probability(pred: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each bar, from the earlier bars only: the frequency of the event among those whose prediction fell in the
    same quantile bin (bins of the earlier predictions; add-one smoothed), and climatology, the earlier base rate.
    NaN until MIN_HISTORY labelled bars came before."""
    p, clim = np.full(len(pred), np.nan), np.full(len(pred), np.nan)
    for i in range(len(pred)):
        known = np.isfinite(event[:i])
        if known.sum() < MIN_HISTORY or not np.isfinite(event[i]):
            continue
        xs, ys = pred[:i][known], event[:i][known]
        edges = np.quantile(xs, np.linspace(0, 1, PROB_BINS + 1)[1:-1])
        same = np.searchsorted(edges, xs, side="right") == np.searchsorted(edges, pred[i], side="right")
        p[i] = (ys[same].sum() + 1) / (same.sum() + 2)
        clim[i] = (ys.sum() + 1) / (len(ys) + 2)
    return p, clim


def brier_decomposition(p: np.ndarray, y: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """Murphy's decomposition on bins of the forecast: brier ≈ reliability − resolution + uncertainty."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    base = y.mean()
    rel = res = 0.0
    for k in np.unique(which):
        m = which == k
        rel += m.sum() * (p[m].mean() - y[m].mean()) ** 2
        res += m.sum() * (y[m].mean() - base) ** 2
    return {"reliability": float(rel / len(y)), "resolution": float(res / len(y)),
            "uncertainty": float(base * (1 - base))}


def _brier_skill_rows(p: np.ndarray, clim: np.ndarray, y: np.ndarray) -> np.ndarray:
    ref = ((clim - y) ** 2).mean(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ref > 0, 1 - ((p - y) ** 2).mean(-1) / np.where(ref > 0, ref, 1), np.nan)


def _slope_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(-1) / (x * x).sum(-1)


def calibration_cell(bars: pd.DataFrame, side: str, hours: int, reps: int = 400, min_bars: int = 20) -> dict:
    """extended.calibration.<h>h_<side>: total ratio, log-log slope, reliability curve, Brier score and skill."""
    real_s = bars[f"real_{side}"]
    ok = real_s.notna().to_numpy()
    pred = bars[f"pred_{side}"].fillna(0.0).to_numpy(float)[ok]
    real = real_s.to_numpy(float)[ok]
    n = len(real)
    if n < min_bars or real.sum() <= 0:
        return missing(f"{n} {hours}h bar(s) with realised liquidations (at least {min_bars})", n=n)
    block = block_bars(n, hours)
    out = {"n": n, "total_ratio": float(pred.sum() / real.sum())}
    both = (pred > 0) & (real > 0)
    if both.sum() >= min_bars:
        lx, ly = np.log(pred[both]), np.log(real[both])
        out["loglog_slope"] = float(_slope_rows(lx, ly))
        out["loglog_slope_ci95"] = [float(v) for v in block_bootstrap_ci(_slope_rows, [lx, ly], block, reps)]
    else:
        out["loglog_slope"], out["loglog_slope_ci95"] = None, None
    deciles = pd.qcut(pd.Series(pred).rank(method="first"), RELIABILITY_BINS, labels=False)
    curve = pd.DataFrame({"d": deciles, "pred": pred, "real": real}).groupby("d").mean()
    out["reliability_curve"] = [{"decile": int(d) + 1, "predicted_usd": float(r.pred), "realised_usd": float(r.real)}
                                for d, r in curve.iterrows()]
    event = exceedance(real_s[ok]).to_numpy(float)
    p, clim = learned_probability(pred, event)
    scored = np.isfinite(p)
    out["event"] = "the bar liquidates more than the median of the 30 days before it"
    if scored.sum() < min_bars or np.ptp(event[scored]) == 0:
        out.update(brier=None, brier_skill=None, brier_skill_ci95=None, reliability=None, resolution=None,
                   uncertainty=None, n_scored=int(scored.sum()),
                   reason="too few bars with a probability learned from earlier ones")
        return out
    y, p, clim = event[scored], p[scored], clim[scored]
    out.update({"brier": float(((p - y) ** 2).mean()), "brier_climatology": float(((clim - y) ** 2).mean()),
                "brier_skill": float(_brier_skill_rows(p, clim, y)),
                "brier_skill_ci95": [float(v) for v in block_bootstrap_ci(_brier_skill_rows, [p, clim, y],
                                                                          block_bars(len(y), hours), reps)],
                "n_scored": int(len(y)), **brier_decomposition(p, y)})
    return out


def calibration(frame: pd.DataFrame, scorable, reps: int = 400) -> dict:
    out = {}
    for hours in (1, 4):
        bars = bars_of(frame, hours)
        for side in SIDES:
            key = f"{hours}h_{side}"
            out[key] = calibration_cell(bars, side, hours, reps) if scorable(hours) and len(bars) else \
                missing(f"realised liquidations cannot be summed to {hours}h bars")
    return out


# --- regimes -----------------------------------------------------------------------------------------------------

def regime_labels(bars: pd.DataFrame, funding: pd.DataFrame) -> dict[str, pd.Series]:
    """Each bar's regime on four splits, from what was known at its start (the volatility tercile is the period's
    own, of the bar's summed sub-bar ranges)."""
    rng = bars["path_range"] if "path_range" in bars else (bars["high"] - bars["low"]) / bars["open"]
    vol = pd.qcut(rng.rank(method="first"), 3, labels=["low", "mid", "high"]).astype(str)
    if len(funding):
        f = funding.sort_values("ts")
        rate = pd.merge_asof(pd.DataFrame({"t": bars.index}), f[["ts", "funding_rate"]].rename(columns={"ts": "t"}),
                             on="t", allow_exact_matches=False)["funding_rate"].to_numpy()
        fsign = pd.Series(np.where(np.isnan(rate), "unknown", np.where(rate > 0, "positive", "zero_or_negative")),
                          index=bars.index)
    else:
        fsign = pd.Series("unknown", index=bars.index)
    before = bars["open"] / bars["open"].shift(24) - 1          # the day before the bar (hourly bars)
    trend = pd.Series(np.where(before.isna(), "unknown", np.where(before > 0, "up", "down")), index=bars.index)
    weekend = pd.Series(np.where(bars.index.day_of_week >= 5, "weekend", "weekday"), index=bars.index)
    return {"volatility": vol, "funding_sign": fsign, "trend": trend, "weekend": weekend}


def regimes(frame: pd.DataFrame, funding: pd.DataFrame, hours: int | None, min_bars: int = 20) -> dict:
    """extended.regimes: per split and regime, per side: n, ρ of the per-bar prediction, the move baseline, the
    partial beyond the move, and the ratio of predicted to realised totals, at the finest scorable bars."""
    if hours is None or frame.empty:
        return missing("no realised liquidations to score regimes against")
    bars = bars_of(frame, hours)
    out = {"bar_hours": hours}
    for split, labels in regime_labels(bars, funding).items():
        out[split] = {}
        for regime in sorted(labels.unique()):
            part = bars[labels.to_numpy() == regime]
            cell = {}
            for side in SIDES:
                sub = part.dropna(subset=[f"real_{side}"])
                pred, real = sub[f"pred_{side}"].fillna(0.0).to_numpy(float), sub[f"real_{side}"].to_numpy(float)
                if len(sub) < min_bars or np.ptp(pred) == 0 or np.ptp(real) == 0:
                    cell[side] = {"n": len(sub), "value": None, "reason": f"fewer than {min_bars} bars, or constant"}
                    continue
                move = side_moves(sub)[side]
                cell[side] = {"n": len(sub), "value": float(spearman_rows(pred, real)),
                              "naive": float(stats.spearmanr(move, real).statistic),
                              "partial": float(partial_beyond_rows(pred, real, move)),
                              "total_ratio": float(pred.sum() / real.sum()) if real.sum() > 0 else None}
            out[split][regime] = cell
    return out


# --- the verdict -------------------------------------------------------------------------------------------------

SATURATION = {"map_ahead": 0.3, "per_bar": 0.3, "calibration": 0.2, "event_lift": 0.2}
WEIGHTS = {"map_ahead": 0.4, "per_bar": 0.3, "calibration": 0.3}
# The zone-hit lift is shown beside the parts, not scored: on a simulated market whose positions are known, the true
# book's top-decile zones hit none of the liquidations at 0.5% (tests/test_verdict.py, seed 3, 8 days) while its
# map-ahead and per-bar skill are the highest there is. A measure that scores the truth at zero cannot order books
# as the truth does.
UNSCORED = {"event_lift": "shown, not scored: the zone-hit rate reads the top-decile zones only, and scores the "
                          "simulated market's true book at 0% (docs/validation.md#the-verdict)"}
VERDICT_HOURS = 4


def _lower(cell: dict | None, key: str) -> float | None:
    ci = (cell or {}).get(key)
    return None if not ci or ci[0] is None or not np.isfinite(ci[0]) else float(ci[0])


def verdict(ext: dict) -> dict:
    """The outcome grade. Its parts are the lower ends of the 95% intervals of what happened, averaged over the
    sides: map-ahead skill at 4h beyond the path, per-bar skill at 4h beyond the path, calibration (Brier skill
    against climatology, at the finest scorable bars); where liquidation events exist, the hit rate's lift over
    randomly placed zones is shown beside them, not scored (UNSCORED says why). Each part scores 100 × lower end /
    its saturation, clipped to 0..100; the score is their weighted mean (0.4, 0.3, 0.3); A ≥ 90, B ≥ 80, C ≥ 70,
    else F. A map with
    no skill beyond the path (both skill parts' lower ends ≤ 0) grades F whatever its calibration. A required part
    that cannot be computed leaves the period ungraded, with the reason."""
    parts, reasons = {}, []
    cal_hours = next((h for h in (1, 4) if ext.get("calibration", {}).get(f"{h}h_long", {}).get("brier_skill")
                      is not None), None)
    sources = {"map_ahead": ("map_ahead", f"{VERDICT_HOURS}h", "partial_beyond_path_ci95"),
               "per_bar": ("per_bar_skill", f"{VERDICT_HOURS}h", "partial_beyond_path_ci95"),
               "calibration": ("calibration", f"{cal_hours or 1}h", "brier_skill_ci95")}
    for name, (section, res, key) in sources.items():
        lows = [_lower(ext.get(section, {}).get(f"{res}_{side}"), key) for side in SIDES]
        if any(v is None for v in lows):
            why = [ext.get(section, {}).get(f"{res}_{s}", {}).get("reason", "missing") for s in SIDES]
            reasons.append(f"{name}: {'; '.join(sorted(set(w for w in why if w)))}")
            parts[name] = {"value": None, "source": f"extended.{section}.{res}_<side>.{key}[0]"}
            continue
        parts[name] = {"value": float(np.mean(lows)), "by_side": dict(zip(SIDES, lows)),
                       "source": f"extended.{section}.{res}_<side>.{key}[0]"}
    hit, rnd = ext.get("hit_rate") or {}, ext.get("random_zone_baseline") or {}
    if hit.get("ci95") and rnd.get("value") is not None:
        parts["event_lift"] = {"value": float(hit["ci95"][0] - rnd["value"]),
                               "source": "extended.hit_rate.ci95[0] − extended.random_zone_baseline.value"}
    for name, part in parts.items():
        if part["value"] is not None:
            part["score"] = float(np.clip(100 * part["value"] / SATURATION[name], 0, 100))
            part["saturation"] = SATURATION[name]
        if name in UNSCORED:
            part["scored"], part["why"] = False, UNSCORED[name]
    out = {"parts": parts, "formula": "docs/validation.md#the-verdict"}
    if reasons:
        return {**out, "grade": None, "score": None, "reason": "not graded: " + "; ".join(reasons)}
    weights = {k: WEIGHTS[k] for k in parts if k in WEIGHTS}
    score = sum(parts[k]["score"] * w for k, w in weights.items()) / sum(weights.values())
    letter = "A" if score >= 90 else "B" if score >= 80 else "C" if score >= 70 else "F"
    reason = None
    if parts["map_ahead"]["value"] <= 0 and parts["per_bar"]["value"] <= 0:
        letter, reason = "F", "no skill beyond the price path: both skill parts' lower ends are at or below 0"
    return {**out, "grade": letter, "score": float(score), "reason": reason,
            "weights": {k: w / sum(weights.values()) for k, w in weights.items()}}


# The seed formula's components that hold by construction for this project's models, and why.
BY_CONSTRUCTION = {
    "oi_conservation": "both models' books are scaled to open interest at every snapshot: the error is rounding",
    "directional": "neither model can hold a long level above the price or a short one below it (crossed levels "
                   "leave the book; new ones beyond the close enter at it; the static model drops them)",
}


def seed_grade(letter: str | None, score: float | None, components: dict, reason: str | None) -> dict:
    """The seed system's grade beside the verdict, each component marked where it holds by construction."""
    marked = {}
    for name, c in components.items():
        c = dict(c)
        c["by_construction"] = name in BY_CONSTRUCTION
        if name in BY_CONSTRUCTION:
            c["by_construction_reason"] = BY_CONSTRUCTION[name]
        marked[name] = c
    return {"grade": letter, "score": score, "reason": reason, "components": marked,
            "note": "the seed's formula (0.5 funding correlation, 0.2 OI conservation, 0.3 directional): half its "
                    "weight holds by construction, so it is kept for comparison, not as the verdict"}
