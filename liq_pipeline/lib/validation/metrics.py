"""The validation metrics of DESIGN section 7, as plain functions of the pipeline's tables for one period (a day
or a month) and one model. Each returns a dict with its value, sample size `n` and 95% interval `ci95`; a metric
that cannot be computed has value None and a `reason` (never a zero, never a pass).

Inputs are the tables as stored (model_snapshots, heatmap, heatmap_levels, funding, klines, liquidation_events,
sim_positions, sim_liquidations), already filtered to one model where they carry one.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from scipy import stats

from .skill import pearson_rows, block_bootstrap_ci

LOOKBACKS_MIN = (0, 1, 5, 15)
TOLERANCES_PCT = (0.10, 0.25, 0.50, 1.00)
REFERENCE = (5, 0.50)              # the grid cell the seed audit reports counts and lead times for
SNAPSHOT_BLOCK = 24                # bootstrap block: a day of hourly snapshots (book totals are autocorrelated)
TOP_SHARE = 0.10                   # a zone's bins are in the top decile of the snapshot's side


def missing(reason: str, **extra) -> dict:
    return {"value": None, "n": extra.pop("n", 0), "ci95": None, "reason": reason, **extra}


def _ci(lo_hi) -> list | None:
    lo, hi = lo_hi
    return None if not (np.isfinite(lo) and np.isfinite(hi)) else [float(lo), float(hi)]


Z95 = float(stats.norm.ppf(0.975))


def wilson(k: int, n: int) -> list | None:
    """Wilson 95% score interval of a proportion k/n (the closed form scipy's binomtest(...).proportion_ci(
    method="wilson") computes; called thousands of times per month, where building scipy's object each time adds up)."""
    if n == 0:
        return None
    p, z2 = k / n, Z95 ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


# --- funding correlation, OI conservation, directional (the graded three) ---------------------------------

# Statistics along the last axis: the bootstrap passes every resample at once as rows.
def _row_mean(a: np.ndarray) -> np.ndarray:
    return a.mean(axis=-1)


def _row_ratio(right: np.ndarray, total: np.ndarray) -> np.ndarray:
    r, a = right.sum(axis=-1), total.sum(axis=-1)
    return np.where(a > 0, r / np.where(a > 0, a, 1.0), np.nan)


def _share_by_snapshot(snapshot: np.ndarray, w: np.ndarray, hit: np.ndarray) -> tuple[float, int, list | None]:
    """The w-weighted share of `hit`, the number of snapshots it spans, and its 95% interval: a moving-block
    bootstrap over the snapshots in time order (`snapshot`: a sortable key per row), by blocks of SNAPSHOT_BLOCK,
    of each snapshot's weight hit and in all (rows of one snapshot are not independent)."""
    _, group = np.unique(snapshot, return_inverse=True)
    part, whole = np.bincount(group, w * hit), np.bincount(group, w)
    return (float(_row_ratio(part, whole)), len(whole),
            _ci(block_bootstrap_ci(_row_ratio, [part, whole], block=SNAPSHOT_BLOCK)))


def _constant(v: np.ndarray) -> bool:
    """No spread beyond float rounding (a billionth of the values' size)."""
    return bool(np.ptp(v) <= 1e-9 * np.abs(v).max())


def funding_correlation(snapshots: pd.DataFrame, funding: pd.DataFrame) -> dict:
    """Estimated long share (long / (long + short) of the book) at each funding settlement, from the latest
    snapshot at or before it (within two hours), vs the settled rate: Pearson (graded) and Spearman with
    p-values; moving-block bootstrap CI of Pearson (funding is autocorrelated: blocks of a day of settlements)."""
    if funding.empty:
        return missing("no funding settlements in the period")
    if snapshots.empty:
        return missing("no model snapshots in the period")
    snaps = snapshots.assign(long_share=snapshots["long_usd"] / (snapshots["long_usd"] + snapshots["short_usd"]))
    snaps = snaps[np.isfinite(snaps["long_share"])].sort_values("ts")
    pts = pd.merge_asof(funding[["ts", "funding_rate"]].sort_values("ts"), snaps[["ts", "long_share"]],
                        on="ts", direction="backward", tolerance=pd.Timedelta(hours=2)).dropna()
    n = len(pts)
    if n < 3:
        return missing(f"{n} funding settlement(s) with a snapshot before them: at least 3 are needed", n=n)
    x, y = pts["long_share"].to_numpy(float), pts["funding_rate"].to_numpy(float)
    # constant up to rounding too: a long share of 0.5 ± one ulp (a book split evenly) "correlated" with funding
    # (0.13 and 0.82 in the tests) and was scored for it
    if _constant(x) or _constant(y):
        return missing("estimated long share or funding rate is constant over the period: no correlation", n=n)
    r, p = stats.pearsonr(x, y)
    rho, p_rho = stats.spearmanr(x, y)
    ci = block_bootstrap_ci(pearson_rows, [x, y], block=3)
    return {"value": float(r), "n": n, "ci95": _ci(ci), "p_value": float(p), "spearman": float(rho),
            "spearman_p_value": float(p_rho), "mean_long_share": float(x.mean())}


def oi_conservation(snapshots: pd.DataFrame) -> dict:
    """MAPE (%) of the book's total open notional (before any display filter) against OI in USD, per snapshot."""
    s = snapshots[np.isfinite(snapshots["oi_usd"]) & (snapshots["oi_usd"] > 0) & np.isfinite(snapshots["book_usd"])]
    if s.empty:
        return missing("no snapshot with open interest")
    err = (100 * (s["book_usd"] - s["oi_usd"]).abs() / s["oi_usd"]).to_numpy(float)
    ci = block_bootstrap_ci(_row_mean, [err], block=SNAPSHOT_BLOCK)
    return {"value": float(err.mean()), "n": len(err), "ci95": _ci(ci), "max_pct": float(err.max())}


def directional(heatmap: pd.DataFrame) -> dict:
    """Share of estimated notional on the right side of price at its snapshot: long levels below the price,
    short levels above it, a level's price being its bin's middle (a bin that straddles the price counts by
    which side most of it lies on). Bootstrap by blocks of snapshots."""
    heatmap = heatmap[np.isfinite(heatmap["price"].to_numpy(float))]      # a snapshot with no price has no side
    if heatmap.empty:
        return missing("no heatmap levels (with a price) in the period")
    long = (heatmap["side"] == "long").to_numpy()
    price = heatmap["price"].to_numpy(float)
    mid = (heatmap["price_low"].to_numpy(float) + heatmap["price_high"].to_numpy(float)) / 2
    right = np.where(long, mid <= price, mid >= price)
    w = heatmap["notional_usd"].to_numpy(float)
    value, n, ci = _share_by_snapshot(heatmap["ts"].to_numpy(dtype="datetime64[ns]").view("int64"), w, right)
    return {"value": value, "n": n, "ci95": ci,
            "long_below": float(w[long & right].sum() / max(w[long].sum(), 1e-12)) if long.any() else None,
            "short_above": float(w[~long & right].sum() / max(w[~long].sum(), 1e-12)) if (~long).any() else None}


# --- zones -------------------------------------------------------------------------------------------------

def zones(levels: pd.DataFrame) -> pd.DataFrame:
    """Zones (DESIGN section 7) of heatmap_levels rows: runs of adjacent buckets of one side whose notional is in
    that snapshot's top decile for the side. Columns: ts, side, price_low, price_high, strength, price."""
    cols = ["ts", "side", "price_low", "price_high", "strength", "price"]
    if levels.empty:
        return pd.DataFrame(columns=cols)
    lv = levels.sort_values(["ts", "side", "bucket"], kind="stable")
    cut = lv.groupby(["ts", "side"])["notional_usd"].transform("quantile", 1 - TOP_SHARE)
    top = lv[(lv["notional_usd"] >= cut) & (lv["notional_usd"] > 0)]
    new = (top["ts"] != top["ts"].shift()) | (top["side"] != top["side"].shift()) | (top["bucket"].diff() != 1)
    zone = new.cumsum()
    # one reduction per column: a named multi-column agg cost twice as much for the same sums
    g = top.groupby(zone)
    z = pd.DataFrame({"ts": g["ts"].first(), "side": g["side"].first(), "price_low": g["price_low"].min(),
                      "price_high": g["price_high"].max(), "strength": g["notional_usd"].sum()})
    wp = (top["notional_usd"] * (top["price_low"] + top["price_high"]) / 2).groupby(zone).sum()
    z["price"] = wp / z["strength"]
    return z[cols].reset_index(drop=True)


class SnapshotIndex:
    """Which snapshot is active at a time (the latest at or before it: a snapshot stands until the next one), and
    per (snapshot, side) the zones' arrays."""

    def __init__(self, snapshot_times, zone_frame: pd.DataFrame):
        times = pd.Series(pd.to_datetime(pd.Series(snapshot_times), utc=True).unique())
        self.times = np.sort(times.to_numpy(dtype="datetime64[ns]"))      # UTC, as every time compared with it
        self.by, self._order, self._groups = {}, np.zeros(0, int), []
        if len(zone_frame):
            key = np.searchsorted(self.times, zone_frame["ts"].to_numpy(dtype="datetime64[ns]")) * 2 + \
                (zone_frame["side"].to_numpy() == "short")
            self._order = np.argsort(key, kind="stable")
            key = key[self._order]
            starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            self._groups = [((int(key[a] // 2), "short" if key[a] % 2 else "long"), a, b)
                            for a, b in zip(starts, np.r_[starts[1:], len(key)])]
            self._place(*(zone_frame[c].to_numpy(float) for c in ("price_low", "price_high", "price")))

    def _place(self, lo: np.ndarray, hi: np.ndarray, mid: np.ndarray) -> None:
        lo, hi, mid = lo[self._order], hi[self._order], mid[self._order]
        self.by = {group: (lo[a:b], hi[a:b], mid[a:b]) for group, a, b in self._groups}

    def moved(self, lo: np.ndarray, hi: np.ndarray, mid: np.ndarray) -> "SnapshotIndex":
        """The same snapshots and zones with the zones at other prices (arrays in the zone frame's row order)."""
        out = copy.copy(self)
        out._place(lo, hi, mid)
        return out

    def active(self, t: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.times, t, side="right") - 1

    def distance(self, idx: np.ndarray, side: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Relative distance from each price to the nearest same-side zone of snapshot idx (0 inside a zone);
        NaN where that snapshot has no zone on the side (or idx < 0: no snapshot)."""
        out = np.full(len(idx), np.nan)
        rows = np.nonzero(idx >= 0)[0]
        if not len(rows):
            return out
        key = idx[rows] * 2 + (np.asarray(side)[rows] == "short")          # one group per (snapshot, side)
        order = np.argsort(key, kind="stable")
        rows, key = rows[order], key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(key)]):
            z = self.by.get((int(key[a] // 2), "short" if key[a] % 2 else "long"))
            if z is None:
                continue
            k = rows[a:b]
            p = price[k][:, None]
            d = np.maximum(np.maximum(z[0][None, :] - p, p - z[1][None, :]), 0.0)
            out[k] = d.min(axis=1) / p[:, 0]
        return out


def nearest_zone_distance(index: SnapshotIndex, t: np.ndarray, side, price, lookback_min: int) -> np.ndarray:
    """Distance to the nearest same-side zone of any snapshot active during [t - lookback, t]."""
    hi = index.active(t)
    lo = index.active(t - np.timedelta64(lookback_min, "m"))
    best = np.full(len(t), np.nan)
    for k in range(int((hi - lo).max()) + 1 if len(t) else 0):
        idx = np.where(hi - k >= np.maximum(lo, 0), hi - k, -1)
        best = np.fmin(best, index.distance(idx, side, price))
    return best


def event_distances(events: pd.DataFrame, index: SnapshotIndex) -> dict[int, np.ndarray]:
    """Per lookback (minutes), each event's distance to the nearest same-side zone (NaN: no zone stood)."""
    t = events["ts"].to_numpy(dtype="datetime64[ns]") if len(events) else np.array([], "datetime64[ns]")
    side, price = events["side"].to_numpy(), events["price"].to_numpy(float)
    return {lb: nearest_zone_distance(index, t, side, price, lb) for lb in LOOKBACKS_MIN}


def hit_grid(events: pd.DataFrame, index: SnapshotIndex, distances: dict[int, np.ndarray] | None = None) -> dict:
    """The seed audit's grid: per lookback × tolerance, hits (a same-side zone within tolerance), gaps (no zone
    at all in the lookback) and misses (zones, none near), overall and by side, with Wilson bounds.
    `distances`: event_distances(events, index), when the caller has them already."""
    side = events["side"].to_numpy()
    distances = distances if distances is not None else event_distances(events, index)
    grid = {}
    for lb in LOOKBACKS_MIN:
        d = distances[lb]
        for tol in TOLERANCES_PCT:
            cell = {}
            for name, mask in (("all", np.ones(len(d), bool)), ("long", side == "long"), ("short", side == "short")):
                dm = d[mask]
                n, gaps = len(dm), int(np.isnan(dm).sum())
                hits = int((dm <= tol / 100).sum())
                cell[name] = {"n": n, "hits": hits, "gaps": gaps, "misses": n - hits - gaps,
                              "hit_rate": hits / n if n else None, "gap_rate": gaps / n if n else None,
                              "hit_ci95": wilson(hits, n), "gap_ci95": wilson(gaps, n)}
            grid[f"{lb}m|{tol:.2f}%"] = cell
    return grid


def lead_times(events: pd.DataFrame, index: SnapshotIndex, tolerance_pct: float = REFERENCE[1],
               max_back: int = 72) -> np.ndarray:
    """Seconds from the first snapshot of the unbroken run of snapshots that had a hitting zone to each hit
    event (NaN for events that are not hits at the active snapshot). Positive: the zone existed before."""
    t = events["ts"].to_numpy(dtype="datetime64[ns]")
    side, price = events["side"].to_numpy(), events["price"].to_numpy(float)
    hi = index.active(t)
    first = np.full(len(t), -1)
    running = np.ones(len(t), bool)
    for k in range(max_back):
        idx = np.where(running & (hi - k >= 0), hi - k, -1)
        ok = index.distance(idx, side, price) <= tolerance_pct / 100
        first = np.where(ok, hi - k, first)
        running &= ok
        if not running.any():
            break
    lead = np.full(len(t), np.nan)
    has = first >= 0
    lead[has] = (t[has] - index.times[first[has]]) / np.timedelta64(1, "s")
    return lead


def lead_summary(lead: np.ndarray) -> dict:
    lead = lead[np.isfinite(lead)]
    if not len(lead):
        return missing("no hits at the reference cell")
    p50, p90, p95 = np.percentile(lead, [50, 90, 95])
    # events come in cascades: resample blocks of consecutive events (about 20 blocks) for the median's interval
    ci = block_bootstrap_ci(lambda a: np.median(a, axis=-1), [lead], block=max(1, len(lead) // 20), reps=200)
    return {"value": float(p50), "n": len(lead), "ci95": _ci(ci), "p50_s": float(p50), "p90_s": float(p90),
            "p95_s": float(p95), "share_le_0": float((lead <= 0).mean())}


def random_zone_baseline(events: pd.DataFrame, index: SnapshotIndex, zone_frame: pd.DataFrame, draws: int = 20,
                         seed: int = 0) -> dict:
    """The reference cell's hit rate with each snapshot's zones moved to random places (same count and widths)
    within the price span its zones of that side cover: what chance alone scores. `index`: the zones' own
    SnapshotIndex (each draw moves its zones)."""
    if events.empty or zone_frame.empty:
        return missing("no events or no zones")
    rng = np.random.default_rng(seed)
    g = zone_frame.groupby(["ts", "side"])
    span_lo, span_hi = g["price_low"].transform("min"), g["price_high"].transform("max")
    width = np.log(zone_frame["price_high"] / zone_frame["price_low"]).to_numpy(float)
    lo_log, hi_log = np.log(span_lo).to_numpy(float), np.log(span_hi).to_numpy(float) - width
    t = events["ts"].to_numpy(dtype="datetime64[ns]")
    side, price = events["side"].to_numpy(), events["price"].to_numpy(float)
    rates = []
    for _ in range(draws):
        start = lo_log + rng.random(len(zone_frame)) * np.maximum(hi_log - lo_log, 0)
        lo, hi = np.exp(start), np.exp(start + width)
        d = nearest_zone_distance(index.moved(lo, hi, (lo + hi) / 2), t, side, price, REFERENCE[0])
        rates.append(float((d <= REFERENCE[1] / 100).mean()))
    rates = np.array(rates, float)
    return {"value": float(rates.mean()), "n": len(events), "ci95": [float(np.quantile(rates, 0.025)),
                                                                      float(np.quantile(rates, 0.975))],
            "draws": draws}


def gap_causes(events: pd.DataFrame, index: SnapshotIndex, snapshots: pd.DataFrame, distance: np.ndarray) -> dict:
    """Why an event at the reference cell had no zone: no snapshot before it (no context), the snapshot had no
    OI, the book held nothing on that side, OI was falling into the snapshot, or the side's levels were all
    outside the display filter."""
    gap = np.isnan(distance)
    if not gap.any():
        return {}
    snaps = snapshots.drop_duplicates("ts").set_index("ts").reindex(pd.to_datetime(index.times, utc=True))
    # OI falling: below the last snapshot before it that had OI
    oi, oi_prev = snaps["oi_usd"].to_numpy(float), snaps["oi_usd"].ffill().shift(1).to_numpy(float)
    side_usd = {"long": snaps["long_usd"].to_numpy(float), "short": snaps["short_usd"].to_numpy(float)}
    causes: dict[str, int] = {}
    for i, s in zip(index.active(events["ts"].to_numpy(dtype="datetime64[ns]"))[gap], events["side"].to_numpy()[gap]):
        if i < 0:
            c = "no_context"
        elif not np.isfinite(oi[i]):
            c = "no_oi_data"
        elif not side_usd[s][i] > 0:
            c = "empty_book_side"
        elif np.isfinite(oi_prev[i]) and oi[i] < oi_prev[i]:
            c = "oi_falling"
        else:
            c = "levels_outside_display"
        causes[c] = causes.get(c, 0) + 1
    return dict(sorted(causes.items(), key=lambda kv: -kv[1]))


def false_positives(zone_frame: pd.DataFrame, index: SnapshotIndex, bars: pd.DataFrame, events: pd.DataFrame,
                    tolerance_pct: float = REFERENCE[1]) -> dict:
    """Zones price reached while they stood (until the next snapshot) with no same-side event within tolerance
    of them in that time: false positives, as a share of the zones reached."""
    if events.empty:
        return missing("no liquidation events to confirm zones with")
    if zone_frame.empty or bars.empty:
        return missing("no zones or no price bars")
    bt = bars["open_time"].to_numpy(dtype="datetime64[ns]")
    lo, hi = bars["low"].to_numpy(float), bars["high"].to_numpy(float)
    et = events["ts"].to_numpy(dtype="datetime64[ns]")
    times = index.times
    reached = fp = 0
    ends = np.append(times[1:], times[-1] + (times[-1] - times[-2] if len(times) > 1 else np.timedelta64(1, "h")))
    for z in zone_frame.itertuples(index=False):
        i = int(np.searchsorted(times, np.datetime64(z.ts.to_datetime64(), "ns")))
        a, b = np.searchsorted(bt, times[i]), np.searchsorted(bt, ends[i])
        if a == b or not ((lo[a:b] <= z.price_high).any() if z.side == "long" else (hi[a:b] >= z.price_low).any()):
            continue
        reached += 1
        ea, eb = np.searchsorted(et, times[i]), np.searchsorted(et, ends[i])
        ev = events.iloc[ea:eb]
        ev = ev[ev["side"] == z.side]
        tol = tolerance_pct / 100 * ev["price"]
        if not ((ev["price"] >= z.price_low - tol) & (ev["price"] <= z.price_high + tol)).any():
            fp += 1
    if not reached:
        return missing("price reached no zone in the period")
    return {"value": fp / reached, "n": reached, "ci95": wilson(fp, reached), "false_positives": fp}


def reaction_sweep(zone_frame: pd.DataFrame, bars: pd.DataFrame, horizon_bars: int = 240, bps: float = 20.0) -> dict:
    """For each zone: does price touch it within the horizon after its snapshot, and then reverse `bps` away
    from the zone (reaction) or continue `bps` through it (sweep) first? A bar that does both is ambiguous.
    Rates by zone-strength quartile (quartiles over the period's zones)."""
    if zone_frame.empty or bars.empty:
        return missing("no zones or no price bars")
    bt = bars["open_time"].to_numpy(dtype="datetime64[ns]")
    lo, hi, close = (bars[c].to_numpy(float) for c in ("low", "high", "close"))
    q = pd.qcut(zone_frame["strength"].rank(method="first"), 4, labels=["Q1", "Q2", "Q3", "Q4"]) \
        if len(zone_frame) >= 4 else pd.Series(["Q1"] * len(zone_frame))
    f = bps / 1e4
    rows = []
    for z, quart in zip(zone_frame.itertuples(index=False), q):
        a = int(np.searchsorted(bt, np.datetime64(z.ts.to_datetime64(), "ns")))
        b = min(a + horizon_bars, len(bt))
        long = z.side == "long"
        touch = np.nonzero(lo[a:b] <= z.price_high if long else hi[a:b] >= z.price_low)[0]
        outcome = None
        if len(touch):
            k = a + touch[0]
            away = hi[k + 1:b] >= z.price_high * (1 + f) if long else lo[k + 1:b] <= z.price_low * (1 - f)
            through = lo[k:b] <= z.price_low * (1 - f) if long else hi[k:b] >= z.price_high * (1 + f)
            if through[0]:
                outcome = "sweep"
            elif (close[k] >= z.price_high * (1 + f)) if long else (close[k] <= z.price_low * (1 - f)):
                outcome = "reaction"
            else:
                i_away = np.argmax(away) if away.any() else None
                i_thr = np.argmax(through[1:]) if through[1:].any() else None
                if i_away is not None and (i_thr is None or i_away < i_thr):
                    outcome = "reaction"
                elif i_thr is not None and (i_away is None or i_thr < i_away):
                    outcome = "sweep"
                elif i_thr is not None:
                    outcome = "ambiguous"
        rows.append((str(quart), len(touch) > 0, outcome))
    df = pd.DataFrame(rows, columns=["quartile", "touched", "outcome"])
    out = {}
    for name, g in [("all", df), *df.groupby("quartile")]:
        n, touched = len(g), int(g["touched"].sum())
        react, sweep = int((g["outcome"] == "reaction").sum()), int((g["outcome"] == "sweep").sum())
        out[name] = {"n": n, "touch_rate": touched / n if n else None,
                     "reaction_rate": react / touched if touched else None,
                     "sweep_rate": sweep / touched if touched else None,
                     "reaction_ci95": wilson(react, touched), "sweep_ci95": wilson(sweep, touched)}
    return {"value": out["all"]["reaction_rate"], "n": int(out["all"]["n"]), "ci95": out["all"]["reaction_ci95"],
            "horizon_bars": horizon_bars, "bps": bps, "by_quartile": out}


def tier_offsets(events: pd.DataFrame, index: SnapshotIndex, heatmap: pd.DataFrame) -> dict:
    """For each event, the nearest estimated level (bin centre, same side, active snapshot) and its leverage tier;
    the miss in USD (event price − level) per tier: N, median, MAD, P05, P95, by side."""
    if events.empty or heatmap.empty:
        return {}
    hm = heatmap.assign(i=np.searchsorted(index.times, heatmap["ts"].to_numpy(dtype="datetime64[ns]")),
                        mid=(heatmap["price_low"] + heatmap["price_high"]) / 2)
    groups = {k: (g["mid"].to_numpy(float), g["leverage"].to_numpy(float)) for k, g in hm.groupby(["i", "side"])}
    act = index.active(events["ts"].to_numpy(dtype="datetime64[ns]"))
    rows = []
    for i, s, p in zip(act, events["side"], events["price"].to_numpy(float)):
        g = groups.get((int(i), s))
        if i < 0 or g is None:
            continue
        j = int(np.argmin(np.abs(g[0] - p)))
        rows.append((g[1][j], s, p - g[0][j]))
    df = pd.DataFrame(rows, columns=["leverage", "side", "miss_usd"])
    out = {}
    for lev, g in df.groupby("leverage"):
        m = g["miss_usd"].to_numpy()
        med = float(np.median(m))
        out[f"{lev:g}x"] = {"n": len(m), "median_usd": med, "mad_usd": float(np.median(np.abs(m - med))),
                            "p05_usd": float(np.percentile(m, 5)), "p95_usd": float(np.percentile(m, 95)),
                            "long": int((g["side"] == "long").sum()), "short": int((g["side"] == "short").sum())}
    return out


# --- ground truth (simulated source) -------------------------------------------------------------------------

TRUTH_STRIDE_HOURS = 4           # the distance moves slowly hour to hour: every 4th hourly snapshot is scored


def _groups(ts: np.ndarray) -> dict:
    """Row slices of an array sorted by time, per time."""
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]]) if len(ts) else np.array([], int)
    return {ts[a]: slice(a, b) for a, b in zip(starts, np.r_[starts[1:], len(ts)])}


def truth_distance(heatmap: pd.DataFrame, positions: pd.DataFrame) -> dict:
    """Per side, the mean over snapshots (every TRUTH_STRIDE_HOURS) of the 1-Wasserstein distance (% of price)
    between the estimated and the true (simulated) notional-weighted distributions of liquidation price."""
    from .skill import weighted_distance

    if positions.empty:
        return missing("no ground truth (the simulated source alone has it)")
    if heatmap.empty:
        return missing("no heatmap levels in the period")

    def scored(df, cols):
        # only the scored snapshots and the columns used, as arrays: filtering whole frames (strings and all)
        # of millions of rows cost more than the distances
        t = df["ts"].to_numpy(dtype="datetime64[ns]")
        keep = (t.astype("datetime64[h]").astype(np.int64) % TRUTH_STRIDE_HOURS) == 0
        long = (df["side"] == "long").to_numpy(dtype=bool)      # compared as Arrow strings, not Python ones
        return {"ts": t[keep], "long": long[keep], **{c: df[c].to_numpy(dtype=float)[keep] for c in cols}}

    heat = scored(heatmap, ["price_low", "price_high", "notional_usd", "price"])
    pos = scored(positions, ["liq_price", "notional_usd"])
    out = {}
    for side in ("long", "short"):
        e_rows, p_rows = np.flatnonzero(heat["long"] == (side == "long")), np.flatnonzero(pos["long"] == (side == "long"))
        e_rows = e_rows[np.argsort(heat["ts"][e_rows], kind="stable")]
        p_rows = p_rows[np.argsort(pos["ts"][p_rows], kind="stable")]
        e_t, p_t = heat["ts"][e_rows], pos["ts"][p_rows]
        e_mid = (heat["price_low"][e_rows] + heat["price_high"][e_rows]) / 2
        e_w, e_price = heat["notional_usd"][e_rows], heat["price"][e_rows]
        p_liq, p_w = pos["liq_price"][p_rows], pos["notional_usd"][p_rows]
        est = _groups(e_t)
        d = []
        for t, rows in _groups(p_t).items():
            er = est.get(t)
            if er is None:
                continue
            d.append(weighted_distance(e_mid[er], e_w[er], p_liq[rows], p_w[rows], float(e_price[er][0])))
        d = np.array([x for x in d if np.isfinite(x)])
        block = max(1, SNAPSHOT_BLOCK // TRUTH_STRIDE_HOURS)
        out[side] = {"value": float(d.mean()), "n": len(d), "ci95": _ci(block_bootstrap_ci(_row_mean, [d], block))} \
            if len(d) else missing("no snapshot with both estimated and true positions on this side")
    return {"value": None if out["long"]["value"] is None or out["short"]["value"] is None
            else (out["long"]["value"] + out["short"]["value"]) / 2,
            "n": min(out["long"]["n"], out["short"]["n"]), "ci95": None, "by_side": out,
            "snapshot_stride_hours": TRUTH_STRIDE_HOURS}


def truth_zone_share(index: SnapshotIndex, liquidations: pd.DataFrame) -> dict:
    """Share of the true liquidated notional (simulated, unthrottled) whose trigger price lay in an estimated
    zone of its side in the snapshot standing when it happened."""
    if liquidations.empty:
        return missing("no ground-truth liquidations (the simulated source alone has them)")
    active = index.active(liquidations["ts"].to_numpy(dtype="datetime64[ns]"))
    d = index.distance(active, liquidations["side"].to_numpy(), liquidations["liq_price"].to_numpy(float))
    inside = d == 0
    w = liquidations["notional_usd"].to_numpy(float)
    # The interval is of the USD share itself, over the standing snapshots (a Wilson interval of the count would sit
    # beside it, not around it; cascades cluster in snapshots)
    value, _, ci = _share_by_snapshot(active, w, inside)
    return {"value": value, "n": len(w), "ci95": ci,
            "count_share": float(inside.mean()), "count_ci95": wilson(int(inside.sum()), len(w))}


def true_book_zone_share(positions: pd.DataFrame, liquidations: pd.DataFrame, bars: pd.DataFrame) -> float | None:
    """truth_zone_share of the zones the true book itself makes (true_book_levels), over the liquidations from its
    first snapshot on: what the metric gives the truth, the reading a model's share is to be set against. The same
    for every model of a period (suite.Market holds it)."""
    if positions.empty or liquidations.empty:
        return None
    truth = true_book_levels(positions, bars)
    own = SnapshotIndex(truth["ts"].unique(), zones(truth))
    later = liquidations[liquidations["ts"].to_numpy(dtype="datetime64[ns]") >= own.times[0]] if len(own.times) \
        else liquidations.head(0)
    return truth_zone_share(own, later)["value"] if len(later) else None


def true_book_levels(positions: pd.DataFrame, bars: pd.DataFrame, span: float = 0.25) -> pd.DataFrame:
    """The simulated positions at each of their snapshots as heatmap_levels rows: the map the true book draws
    (notional at the price of the bar the snapshot opens, within ±span of that price as the model's heatmap keeps),
    rolled up as the model's heatmap is (lib/model/levels.rollup: each position a level of zero width at its
    liquidation price)."""
    from ..model.levels import rollup
    opens = bars.set_index("open_time")["open"].sort_index()
    ts = positions["ts"]
    price = opens.reindex(pd.DatetimeIndex(ts), method="ffill").to_numpy(float)
    liq = positions["liq_price"].to_numpy(float)
    keep = np.isfinite(price) & (np.abs(liq / price - 1) <= span)
    # the times as their own array (tz-aware): to_numpy() would make millions of Timestamp objects, then parse them
    # back (most of a simulated month's validation)
    rows = pd.DataFrame({"model": "truth", "ts": ts.array[keep],
                         "side": positions["side"].to_numpy()[keep], "price_low": liq[keep], "price_high": liq[keep],
                         "notional_usd": positions["qty"].to_numpy(float)[keep] * price[keep], "price": price[keep]})
    return rollup(rows)


# --- the grade ---------------------------------------------------------------------------------------------

WEIGHTS = {"funding_correlation": 0.5, "oi_conservation": 0.2, "directional": 0.3}


def component_score(name: str, value: float) -> float:
    if name == "funding_correlation":
        return float(np.clip(value * 100, 0, 100))
    if name == "oi_conservation":
        return float(max(0.0, 100 - 10 * value))
    return float(value * 100)


def letter(score: float) -> str:
    return "A" if score >= 90 else "B" if score >= 80 else "C" if score >= 70 else "F"


def grade(components: dict[str, dict]) -> tuple[str | None, float | None, dict, str | None]:
    """The seed formula: weighted 0.5 / 0.2 / 0.3 scores; A ≥ 90, B ≥ 80, C ≥ 70, else F. With a component
    missing there is no grade (a reason instead): its weight is not silently given to the others.
    Returns (grade, score, graded components, reason)."""
    graded, reasons = {}, []
    for name, weight in WEIGHTS.items():
        c = dict(components[name])
        c["weight"] = weight
        if c.get("value") is None:
            c["score"] = None
            reasons.append(f"{name}: {c.get('reason', 'missing')}")
        else:
            c["score"] = component_score(name, c["value"])
        graded[name] = c
    if reasons:
        return None, None, graded, "not graded, a component is missing: " + "; ".join(reasons)
    score = sum(c["score"] * c["weight"] for c in graded.values())
    return letter(score), float(score), graded, None
