"""The validation suite for one period (a day or a month), one symbol and one model: every metric of DESIGN
section 7 from the stored tables, the graded three and the extended ones, and its flat row for the
validation_daily / validation_monthly tables."""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from . import metrics as m
from . import outcome
from ..model.config import MODELS
from ..model.profile import finest_klines
from .inputs import INPUTS
from .skill import hourly_frame, side_scores, with_predicted

SKILL_CELLS = [(h, s) for h in (1, 4) for s in ("long", "short")]


# Columns no metric reads: the symbol, and the clean tables' per-row source and file checksum. A month of simulated
# positions (2.8M rows) was read in three times the time with them. (ingest_file stays: the inventory counts files.)
UNREAD = {"symbol", "ingest_source", "ingest_sha256"}


def load(layout, symbol: str, days: list[dt.date]) -> dict[str, pd.DataFrame]:
    """The period's stored tables, without the columns UNREAD (a table with no partition in it comes back empty
    with its columns)."""
    from ..io import schemas
    frames = {t: layout.read_days(layer, t, symbol, days, [c for c in schemas.columns(t) if c not in UNREAD])
              for t, layer in INPUTS.items()}
    return {t: df if len(df.columns) else schemas.conform(df, t) for t, df in frames.items()}


def realised_per_bar(data: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, str, float]:
    """Realised liquidated USD per bar and side (ts, long_usd, short_usd), where it came from, and its bars'
    length in hours: the liquidation bars of one interval and venue (the finest; several intervals of one venue
    would count twice), else the simulated market's own liquidations (per hour)."""
    bars = data["liquidation_bars"]
    if len(bars):
        from ..params import KLINE_INTERVALS
        iv = min(bars["interval"].unique(), key=lambda i: KLINE_INTERVALS.get(i, 10**9))
        b = bars[bars["interval"] == iv]
        venue = b["venue"].value_counts().index[0]
        return (b[b["venue"] == venue][["ts", "long_usd", "short_usd"]], f"liquidation_bars {iv} {venue}",
                KLINE_INTERVALS.get(iv, 3600) / 3600)
    sim = data["sim_liquidations"]
    if len(sim):
        wide = sim.pivot_table(index=sim["ts"].dt.floor("1h"), columns="side", values="notional_usd", aggfunc="sum")
        wide = wide.reindex(columns=["long", "short"]).fillna(0.0)
        return pd.DataFrame({"ts": wide.index, "long_usd": wide["long"].to_numpy(),
                             "short_usd": wide["short"].to_numpy()}), "sim_liquidations (every liquidation)", 1.0
    return pd.DataFrame(columns=["ts", "long_usd", "short_usd"]), "", 1.0


def scorable(hours: int, realised_hours: float) -> bool:
    """Whether bars of `hours` hours can be scored against realised bars of `realised_hours`: each must be a whole
    number of them (4h bars of a vendor's 4h series sit on one hour of the hourly frame, and scoring them as 1h
    bars would set a 4h sum against one hour's move)."""
    return hours >= realised_hours and (hours / realised_hours).is_integer()


@dataclasses.dataclass(frozen=True)
class Market:
    """What every model of a period is scored against, computed once a period: the bars, the liquidation events
    in time order, the realised liquidated USD per bar (and where it came from), the hourly frame of both, and the
    share of the true liquidated USD the true book's own zones hold (simulated source; None elsewhere)."""
    bars: pd.DataFrame
    events: pd.DataFrame
    realised_from: str
    realised_hours: float
    hourly: pd.DataFrame
    true_book_zone_share: float | None

    @classmethod
    def of(cls, data: dict[str, pd.DataFrame]) -> "Market":
        bars = finest_klines(data["klines"])
        realised, realised_from, realised_hours = realised_per_bar(data)
        return cls(bars, data["liquidation_events"].sort_values("ts").reset_index(drop=True), realised_from,
                   realised_hours, hourly_frame(bars, realised),
                   m.true_book_zone_share(data["sim_positions"], data["sim_liquidations"].sort_values("ts"), bars))


# Sections only a month's report shows (audit.md and the verdict JSON): a day's row has no column for them.
REPORT_ONLY = ("gap_causes", "tier_offsets", "asymmetry", "regimes")


def validate_models(data: dict[str, pd.DataFrame], reps: int = 400, report: bool = True) -> dict[str, dict]:
    """validate() for every model, the market they share computed once."""
    market = Market.of(data)
    return {model: validate(data, model, reps, market, report) for model in MODELS}


def validate(data: dict[str, pd.DataFrame], model: str, reps: int = 400, market: Market | None = None,
             report: bool = True) -> dict:
    """Every metric for one model over the period `data` holds (`market`: Market.of(data), when already made).
    report=False leaves out the sections REPORT_ONLY (a day's validation: a fifth of its time went to them)."""
    pick = lambda t: data[t][data[t]["model"] == model].reset_index(drop=True) if len(data[t]) else data[t]  # noqa: E731
    snaps, heat, levels, pred = (pick(t) for t in ("model_snapshots", "heatmap", "heatmap_levels",
                                                  "predicted_liquidations"))
    market = market or Market.of(data)
    bars, events = market.bars, market.events
    zone_frame = m.zones(levels)
    index = m.SnapshotIndex(snaps["ts"] if len(snaps) else [], zone_frame)

    components = {"funding_correlation": m.funding_correlation(snaps, data["funding"]),
                  "oi_conservation": m.oi_conservation(snaps),
                  "directional": m.directional(heat)}
    letter, score, graded, reason = m.grade(components)

    ext: dict = {}
    if len(events):
        distances = m.event_distances(events, index)
        ext["hit_rate_grid"] = m.hit_grid(events, index, distances)
        ref = ext["hit_rate_grid"][f"{m.REFERENCE[0]}m|{m.REFERENCE[1]:.2f}%"]
        dist = distances[m.REFERENCE[0]]
        ext["hit_rate"] = {"value": ref["all"]["hit_rate"], "n": ref["all"]["n"], "ci95": ref["all"]["hit_ci95"],
                           "cell": f"lookback {m.REFERENCE[0]} min, tolerance {m.REFERENCE[1]:.2f}%",
                           "gap_rate": ref["all"]["gap_rate"],
                           "miss_rate": ref["all"]["misses"] / ref["all"]["n"] if ref["all"]["n"] else None,
                           "sampling": "forceOrder stream: at most one order per symbol per second (a sample)"}
        ext["lead_time"] = m.lead_summary(m.lead_times(events, index))
        ext["random_zone_baseline"] = m.random_zone_baseline(events, index, zone_frame)
        if ext["hit_rate"]["value"] is not None and ext["random_zone_baseline"]["value"] is not None:
            # levels nearer the price hit more events by proximity alone: the lift over chance is the skill
            ext["hit_rate"]["lift_over_random"] = ext["hit_rate"]["value"] - ext["random_zone_baseline"]["value"]
        ext["false_positives"] = m.false_positives(zone_frame, index, bars, events)
        if report:
            ext["gap_causes"] = m.gap_causes(events, index, snaps, dist)
            ext["tier_offsets"] = m.tier_offsets(events, index, heat)
            ext["asymmetry"] = {s: {"n": ref[s]["n"], "hit_rate": ref[s]["hit_rate"], "gap_rate": ref[s]["gap_rate"],
                                    "miss_distance_p50_pct": _median_pct(dist[(events["side"] == s).to_numpy()])}
                                for s in ("long", "short")}
    else:
        reason_ev = "no liquidation events (forceOrder tapes) in the period"
        for k in ("hit_rate", "lead_time", "random_zone_baseline", "false_positives"):
            ext[k] = m.missing(reason_ev)
    ext["reaction_sweep"] = m.reaction_sweep(zone_frame, bars)

    realised_from = market.realised_from
    frame = with_predicted(market.hourly, pred)
    if realised_from:
        coarse = (f"realised liquidations come in {market.realised_hours:g}h bars ({realised_from}): bars shorter "
                  f"than that, or not a whole number of them, cannot be scored")
        ext["per_bar_skill"] = {f"{h}h_{s}": side_scores(frame, h, s, f"pred_{s}", reps=reps)
                                if scorable(h, market.realised_hours) else m.missing(coarse) for h, s in SKILL_CELLS}
        ext["per_bar_skill"]["realised_from"] = realised_from
        ext["per_bar_skill"]["realised_bar_hours"] = market.realised_hours
    else:
        ext["per_bar_skill"] = {f"{h}h_{s}": m.missing("no liquidation bars and no simulated liquidations")
                                for h, s in SKILL_CELLS}
    ext["truth_distance"] = m.truth_distance(heat, data["sim_positions"])
    ext["truth_zone_share"] = m.truth_zone_share(index, data["sim_liquidations"].sort_values("ts"))
    if ext["truth_zone_share"]["value"] is not None:       # beside it, what the metric gives the true book
        ext["truth_zone_share"]["true_book"] = market.true_book_zone_share
    ext["zones"] = {"n": len(zone_frame), "snapshots": len(index.times)}

    # what really happened against the map, and the verdict made of it (lib/validation/outcome)
    can_score = lambda h: bool(realised_from) and scorable(h, market.realised_hours)  # noqa: E731
    ext["map_ahead"] = outcome.map_ahead(levels, market.hourly, can_score, reps)
    ext["calibration"] = outcome.calibration(frame, can_score, reps)
    if report:
        ext["regimes"] = outcome.regimes(frame, data["funding"], next((h for h in (1, 4) if can_score(h)), None))
    judged = outcome.verdict(ext)
    return {"model": model, "grade": judged["grade"], "score": judged["score"], "grade_reason": judged["reason"],
            "verdict": judged, "seed_grade": outcome.seed_grade(letter, score, graded, reason),
            "components": graded, "extended": ext, "_zones": zone_frame, "_hourly": frame}


def _median_pct(d: np.ndarray) -> float | None:
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d) * 100) if len(d) else None


def _v(d: dict | None, key: str = "value"):
    if not d:
        return None
    v = d.get(key)
    return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else v


def _ci(d: dict | None, i: int, key: str = "ci95"):
    ci = (d or {}).get(key)
    return None if not ci else ci[i]


def flat_row(result: dict) -> dict:
    """The result as one row of validation_daily / validation_monthly (columns: lib/io/tables.VALIDATION_COLUMNS)."""
    c, e = result["components"], result["extended"]
    fc, oi, dr = c["funding_correlation"], c["oi_conservation"], c["directional"]
    hr, rs = e.get("hit_rate"), e.get("reaction_sweep")
    seed = result["seed_grade"]
    row = {"model": result["model"], "grade": result["grade"], "score": result["score"],
           "grade_reason": result["grade_reason"], "seed_grade": seed["grade"], "seed_score": seed["score"],
           "funding_r": _v(fc), "funding_p": _v(fc, "p_value"), "funding_spearman": _v(fc, "spearman"),
           "funding_n": fc["n"], "funding_ci_low": _ci(fc, 0), "funding_ci_high": _ci(fc, 1),
           "oi_mape_pct": _v(oi), "oi_n": oi["n"], "oi_ci_low": _ci(oi, 0), "oi_ci_high": _ci(oi, 1),
           "directional_accuracy": _v(dr), "directional_n": dr["n"], "directional_ci_low": _ci(dr, 0),
           "directional_ci_high": _ci(dr, 1),
           "events_n": (hr or {}).get("n", 0), "hit_rate": _v(hr), "hit_ci_low": _ci(hr, 0), "hit_ci_high": _ci(hr, 1),
           "gap_rate": _v(hr, "gap_rate"), "miss_rate": _v(hr, "miss_rate"),
           "random_hit_rate": _v(e.get("random_zone_baseline")),
           "lead_p50_s": _v(e.get("lead_time"), "p50_s"), "lead_p90_s": _v(e.get("lead_time"), "p90_s"),
           "lead_p95_s": _v(e.get("lead_time"), "p95_s"), "lead_le0_share": _v(e.get("lead_time"), "share_le_0"),
           "false_positive_rate": _v(e.get("false_positives")), "zones_reached_n": e.get("false_positives", {}).get("n", 0),
           "zones_n": e["zones"]["n"], "touch_rate": _v((rs or {}).get("by_quartile", {}).get("all"), "touch_rate"),
           "reaction_rate": _v(rs), "sweep_rate": _v((rs or {}).get("by_quartile", {}).get("all"), "sweep_rate"),
           "truth_distance_long_pct": _v(e["truth_distance"].get("by_side", {}).get("long")),
           "truth_distance_short_pct": _v(e["truth_distance"].get("by_side", {}).get("short")),
           "truth_zone_share": _v(e["truth_zone_share"]),
           "truth_zone_share_true_book": _v(e["truth_zone_share"], "true_book")}
    for h, s in SKILL_CELLS:
        sk = e["per_bar_skill"][f"{h}h_{s}"]
        p = f"skill_{h}h_{s}"
        row.update({p: _v(sk), f"{p}_naive": _v(sk, "naive"), f"{p}_partial": _v(sk, "partial"),
                    f"{p}_partial_ci_low": _ci(sk, 0, "partial_ci95"), f"{p}_partial_ci_high": _ci(sk, 1, "partial_ci95"),
                    f"{p}_placebo": _v(sk, "placebo_partial"), f"{p}_n": sk["n"],
                    f"{p}_path_naive": _v(sk, "path_naive"), f"{p}_beyond_path": _v(sk, "partial_beyond_path"),
                    f"{p}_beyond_path_ci_low": _ci(sk, 0, "partial_beyond_path_ci95")})
        ma = e["map_ahead"].get(f"{h}h_{s}")
        row.update({f"map_ahead_{h}h_{s}": _v(ma), f"map_ahead_{h}h_{s}_naive": _v(ma, "naive"),
                    f"map_ahead_{h}h_{s}_partial": _v(ma, "partial"),
                    f"map_ahead_{h}h_{s}_partial_ci_low": _ci(ma, 0, "partial_ci95")})
        cal = e["calibration"].get(f"{h}h_{s}")
        row.update({f"calibration_{h}h_{s}_total_ratio": _v(cal, "total_ratio"),
                    f"calibration_{h}h_{s}_brier_skill": _v(cal, "brier_skill")})
    return row
