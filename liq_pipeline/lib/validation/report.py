"""The monthly verdict: validation.json (its top-level keys are the contract of DESIGN section 7) and audit.md
in the sections of the seed audit (../shared/seeds/000_…), from the suite's results for each model."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics as m

CONTRACT_KEYS = ("symbol", "month", "model", "grade", "score", "verdict", "seed_grade", "components", "extended",
                 "inventory", "config")
PRIMARY_MODEL = "flow"


def verdict_file(model: str) -> str:
    """validation.json is the primary (flow) model's verdict; another model's is validation-MODEL.json."""
    return "validation.json" if model == PRIMARY_MODEL else f"validation-{model}.json"


def verdict_path(reports: Path, month: str, model: str) -> Path:
    """Where a month's verdict of `model` is, under a symbol's reports folder (DataLayout.reports)."""
    return reports / month / verdict_file(model)


def code_version() -> dict:
    """The package version and, in a git checkout, the commit (a wheel has none: null)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        ver = version("liq-pipeline")
    except PackageNotFoundError:
        ver = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"package": ver, "commit": commit}


def inventory(data: dict[str, pd.DataFrame], days: list[dt.date]) -> dict:
    """What the period's validation read: per table, days with a partition, rows, time range, record types."""
    out = {"days_in_period": len(days), "first_day": days[0].isoformat(), "last_day": days[-1].isoformat(),
           "tables": {}}
    for name, df in data.items():
        tcol = "open_time" if name == "klines" else "ts"
        entry = {"rows": int(len(df))}
        if len(df):
            t = pd.to_datetime(df[tcol], utc=True)
            days = t.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")    # UTC days, no date objects
            entry.update(days_with_data=len(np.unique(days)), first=t.min().isoformat(), last=t.max().isoformat())
            if "ingest_file" in df.columns:              # clean tables: the source files ingested
                entry["files"] = int(df["ingest_file"].nunique())
            for col in ("model", "interval", "side", "venue", "source"):
                if col in df.columns:
                    entry[f"by_{col}"] = {str(k): int(v) for k, v in df[col].value_counts().sort_index().items()}
        else:
            entry["days_with_data"] = 0
        out["tables"][name] = entry
    return out


def _clean(obj):
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def document(symbol: str, month: str, result: dict, inv: dict, config: dict, others: dict[str, dict]) -> dict:
    """validation.json for one model; `others` are the other models' results, compared in extended."""
    ext = dict(result["extended"])
    ext["comparison"] = {name: {"grade": r["grade"], "score": r["score"]} for name, r in others.items()}
    if result["grade_reason"]:
        ext["grade_reason"] = result["grade_reason"]
    doc = {"symbol": symbol, "month": month, "model": result["model"], "grade": result["grade"],
           "score": result["score"], "verdict": result["verdict"], "seed_grade": result["seed_grade"],
           "components": result["components"], "extended": ext, "inventory": inv, "config": config}
    return _clean(doc)


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n"


# --- audit.md ------------------------------------------------------------------------------------------------

def _pct(x, digits=1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{100 * x:.{digits}f}%"


def _num(x, fmt="{:.3f}") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else fmt.format(x)


def _ci(c) -> str:
    return "" if not c else f" [{_num(c[0])}, {_num(c[1])}]"


def _dur(s) -> str:
    if s is None:
        return "n/a"
    return f"{s / 60:.1f}m" if abs(s) < 3600 else f"{s / 3600:.1f}h"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(map(str, r)) + " |" for r in rows]


def audit_markdown(symbol: str, month: str, results: dict[str, dict], inv: dict, config: dict,
                   plots: dict[str, str]) -> str:
    """The audit in the seed audit's sections; `plots` maps a title to a PNG file name beside audit.md."""
    kl = inv["tables"].get("klines", {})
    present = (f"{kl.get('days_with_data', 0)} of the period's {inv['days_in_period']} days have data"
               + (f" ({kl['first'][:10]} .. {kl['last'][:10]})" if kl.get("first") else ""))
    L = [f"# Liquidation map audit: {symbol} {month}", "",
         f"Models: {', '.join(results)}. {present}. Code "
         f"{config.get('code', {}).get('package')} ({(config.get('code', {}).get('commit') or 'no git commit')[:12]}), "
         f"model config `{config.get('config_key')}`.", ""]
    L += verdict_section(results) + seed_section(results) + fix_first(results)
    L += ["## A. Data Inventory", ""]
    inv_rows = []
    for name, e in inv["tables"].items():
        kinds = "; ".join(f"{k[3:]}: " + ", ".join(f"{a} {b}" for a, b in v.items())
                          for k, v in e.items() if k.startswith("by_"))
        inv_rows.append([name, e.get("files", "—"), e["days_with_data"], e["rows"], e.get("first", "—"),
                         e.get("last", "—"), kinds or "—"])
    L += _table(["table", "source files", "days", "rows", "first", "last", "record types"], inv_rows) + [""]

    L += ["## B. Metric Definitions", "",
          "- **Zone**: a run of adjacent 0.25% price buckets of one side whose notional is in that snapshot's top "
          "decile for the side; strength = its notional, price = the notional-weighted mean. A snapshot (hourly, "
          "from data strictly before its time) stands until the next one.",
          "- **Hit rate** = hits / (hits + gaps + misses): hit if a same-side zone of a snapshot standing within the "
          "lookback before the event lies within the tolerance of the event price (distance to the zone's span, "
          "relative to the event price); gap if no same-side zone stood at all; miss otherwise. Wilson 95% bounds.",
          "- **Lead time** = event time − the first snapshot of the unbroken run of snapshots that held a hitting "
          "zone (positive: the zone existed before the event).",
          "- **False positive**: a zone price reached while it stood, with no same-side event within tolerance.",
          "- **Reaction / sweep**: after price touches a zone (within 240 bars), it reverses 20 bps away from it / "
          "continues 20 bps through it first.",
          "- **Per-bar skill**: Spearman of predicted vs realised liquidated USD per bar and side, the naive baseline "
          "(the bar's move toward the side), the partial correlation beyond the move with the flexible control "
          "(move rank plus quantile-bin dummies: 15 from 60 bars, ~4 bars a bin below), its moving-block bootstrap 95% "
          "CI (blocks of a day), and a "
          "placebo (max(0, move − 0.4%)) that must score near zero.",
          "- Liquidation events come from the forceOrder stream, which pushes at most one order per symbol per "
          "second: a sample, never a census.", ""]

    L += ["## C. Hit Rate Analysis", ""]
    for name, r in results.items():
        grid = r["extended"].get("hit_rate_grid")
        if not grid:
            L += [f"### {name}", "", f"Not computed: {r['extended']['hit_rate'].get('reason')}.", ""]
            continue
        for title, key in (("Hit Rate Grid", "hit_rate"), ("Gap Rate (no zone available)", "gap_rate")):
            rows = [[f"{lb}m"] + [_pct(grid[f"{lb}m|{tol:.2f}%"]["all"][key]) for tol in m.TOLERANCES_PCT]
                    for lb in m.LOOKBACKS_MIN]
            L += [f"### {name}: {title} (%)", ""] + _table(["Lookback"] + [f"{t:.2f}%" for t in m.TOLERANCES_PCT], rows) + [""]
        ref = grid[f"{m.REFERENCE[0]}m|{m.REFERENCE[1]:.2f}%"]["all"]
        base = r["extended"]["random_zone_baseline"]
        L += [f"**Sample ({m.REFERENCE[0]}m lookback, {m.REFERENCE[1]:.2f}% tolerance):** hits {ref['hits']}, gaps "
              f"{ref['gaps']}, misses {ref['misses']}, total {ref['n']}; hit rate {_pct(ref['hit_rate'])}"
              f"{_ci(ref['hit_ci95'])}; random-zone baseline {_pct(base.get('value'))} (the same zones at random places "
              "in their span: what proximity alone scores); false positives "
              f"{_pct(r['extended']['false_positives'].get('value'))} of {r['extended']['false_positives'].get('n', 0)} "
              "zones reached.", ""]

    L += ["## D. Lead-Time Analysis", ""]
    rows = []
    for name, r in results.items():
        lt = r["extended"]["lead_time"]
        rows.append([name, lt.get("n", 0), _dur(lt.get("p50_s")), _dur(lt.get("p90_s")), _dur(lt.get("p95_s")),
                     _pct(lt.get("share_le_0")) if lt.get("value") is not None else lt.get("reason", "")])
    L += _table(["model", "N", "P50", "P90", "P95", "% lead ≤ 0"], rows) + [""]

    L += ["## E. Reaction/SR Validity Metrics", ""]
    for name, r in results.items():
        rs = r["extended"]["reaction_sweep"]
        if rs.get("value") is None and "by_quartile" not in rs:
            L += [f"{name}: not computed ({rs.get('reason')}).", ""]
            continue
        rows = [[q, v["n"], _pct(v["touch_rate"]), _pct(v["reaction_rate"]), _pct(v["sweep_rate"])]
                for q, v in rs["by_quartile"].items()]
        L += [f"### {name}: by strength quartile", ""] + _table(["Quartile", "N", "Touch %", "React %", "Sweep %"], rows) + [""]

    L += ["## F. Long/Short Asymmetry Diagnostics", ""]
    rows = []
    for name, r in results.items():
        for s in ("long", "short"):
            a = r["extended"].get("asymmetry", {}).get(s, {})
            sk1, sk4 = r["extended"]["per_bar_skill"][f"1h_{s}"], r["extended"]["per_bar_skill"][f"4h_{s}"]
            rows.append([name, s, a.get("n", 0), _pct(a.get("gap_rate")), _pct(a.get("hit_rate")),
                         _num(a.get("miss_distance_p50_pct"), "{:.3f}%"),
                         f"{_num(sk1.get('value'))} / {_num(sk1.get('naive'))} / {_num(sk1.get('partial'))}"
                         f"{_ci(sk1.get('partial_ci95'))}",
                         f"{_num(sk4.get('value'))} / {_num(sk4.get('naive'))} / {_num(sk4.get('partial'))}"
                         f"{_ci(sk4.get('partial_ci95'))}"])
    L += _table(["model", "side", "events", "gap rate", "hit rate (0.5%)", "miss dist P50",
                 "1h skill ρ / naive ρ / partial [CI]", "4h skill ρ / naive ρ / partial [CI]"], rows)
    src = next(iter(results.values()))["extended"]["per_bar_skill"].get("realised_from")
    placebo = [f"{name} {k}: {_num(v.get('placebo_partial'))}" for name, r in results.items()
               for k, v in r["extended"]["per_bar_skill"].items() if isinstance(v, dict) and "placebo_partial" in v][:4]
    L += ["", f"Realised liquidations per bar from: {src or 'none'}. Placebo partials (must be near 0): "
          f"{'; '.join(placebo) or 'n/a'}.", ""]

    L += outcome_section(results)

    L += ["## H. Inference Gap Audit", ""]
    for name, r in results.items():
        causes = r["extended"].get("gap_causes")
        if causes is None:
            L += [f"{name}: no events, no gaps to explain.", ""]
            continue
        total = sum(causes.values())
        rows = [[c, n, _pct(n / total)] for c, n in causes.items()]
        L += [f"### {name}: gap root causes ({m.REFERENCE[0]}m lookback)", ""] + \
            (_table(["Cause", "Count", "% of Gaps"], rows) if rows else ["No gaps."]) + [""]

    L += ["## I. Offsets by Leverage Tier", "",
          "For each event, the nearest estimated level of its side in the snapshot standing then; miss = event "
          "price − level (USD). Tiers with N < 30 are shown but not to be read.", ""]
    for name, r in results.items():
        off = r["extended"].get("tier_offsets") or {}
        if not off:
            L += [f"{name}: no events.", ""]
            continue
        rows = [[t + (" (N<30)" if v["n"] < 30 else ""), v["n"], f"${v['median_usd']:.0f}", f"${v['mad_usd']:.0f}",
                 f"${v['p05_usd']:.0f}", f"${v['p95_usd']:.0f}", v["long"], v["short"]] for t, v in off.items()]
        L += [f"### {name}", ""] + _table(["Leverage", "N", "Median", "MAD", "P05", "P95", "Long", "Short"], rows) + [""]

    truth = {name: r["extended"] for name, r in results.items()}
    if any(e["truth_distance"].get("value") is not None for e in truth.values()):
        L += ["## J. Ground Truth (simulated market)", ""]
        rows = [[name, _num(e["truth_distance"]["by_side"]["long"].get("value"), "{:.2f}%"),
                 _num(e["truth_distance"]["by_side"]["short"].get("value"), "{:.2f}%"),
                 _pct(e["truth_zone_share"].get("value")), _pct(e["truth_zone_share"].get("true_book"))]
                for name, e in truth.items()]
        L += _table(["model", "distance long (W1, % of price)", "distance short", "true liquidated USD in zones",
                     "… in the true book's own zones"], rows) + [""]
        L += ["A zone is a run of the snapshot's top-decile buckets: the true book's heaviest buckets lie far from the "
              "price (old low-leverage positions), where an hour's move seldom reaches, so the share rewards a map "
              "that piles notional next to the price more than one that is right. The distance and the verdict's "
              "map-ahead (section G) measure the map against the truth.", ""]

    if plots:
        L += ["## Plots", ""] + [f"![{title}]({file})" for title, file in plots.items()] + [""]
    return "\n".join(L)


def _part(v: dict, name: str) -> str:
    p = v["parts"].get(name)
    if not p:
        return "—"
    if p["value"] is None:
        return "missing"
    return f"{_num(p['value'])} → {_num(p.get('score'), '{:.0f}')}" + ("" if p.get("scored", True) else " (shown)")


def verdict_section(results: dict[str, dict]) -> list[str]:
    """The verdict leads: per model the outcome grade and its parts (the lower ends of the intervals)."""
    L = ["## Verdict", ""]
    rows = [[name, r["grade"] or "not graded", _num(r["score"], "{:.1f}"), _part(r["verdict"], "map_ahead"),
             _part(r["verdict"], "per_bar"), _part(r["verdict"], "calibration"), _part(r["verdict"], "event_lift"),
             f"{r['seed_grade']['grade'] or '—'} {_num(r['seed_grade']['score'], '{:.1f}')}"]
            for name, r in results.items()]
    L += _table(["model", "verdict", "score", "map-ahead 4h beyond path (low end → score)", "per-bar 4h beyond path",
                 "calibration: Brier skill (low end)", "event hit lift over random", "seed grade"], rows)
    for name, r in results.items():
        if r["grade_reason"]:
            L += ["", f"- {name}: {r['grade_reason']}"]
    L += ["", "The verdict is made of what happened: each part is the lower end of a 95% interval (what a trader can "
          "count on), averaged over the sides. Map-ahead: the snapshot standing at each 4h bar's start read as that "
          "bar's forecast (the notional between the open and the extreme), its partial rank correlation with the "
          "realised liquidations beyond the bar's move, the path's moves and the sub-bars' ranges. Per-bar: the "
          "model's own predictions, beyond the same. Calibration: the Brier skill, against climatology, of the "
          "probability the predictions imply (learned from earlier bars only) that a bar liquidates more than the "
          "median of the 30 days before it. A part scores 100 × its lower end / 0.3 (calibration: / 0.2), 0..100; "
          "the score is 0.4 / 0.3 / 0.3 of them; A ≥ 90, B ≥ 80, C ≥ 70, else F; no skill beyond the path on "
          "either skill part is F. The zone-hit lift is shown, not scored (docs/validation.md, the verdict).", ""]
    return L


def seed_section(results: dict[str, dict]) -> list[str]:
    L = ["### The seed formula, beside it", ""]
    rows = []
    for name, r in results.items():
        c = r["seed_grade"]["components"]
        mark = lambda k: " (by construction)" if c[k].get("by_construction") else ""  # noqa: E731
        rows.append([name, r["seed_grade"]["grade"] or "not graded", _num(r["seed_grade"]["score"], "{:.1f}"),
                     _num(c["funding_correlation"]["value"]) + _ci(c["funding_correlation"]["ci95"]),
                     _num(c["oi_conservation"]["value"], "{:.3f}%") + mark("oi_conservation"),
                     _pct(c["directional"]["value"], 2) + mark("directional")])
    L += _table(["model", "seed grade", "score", "funding r [95% CI]", "OI MAPE", "directional"], rows)
    L += ["", "Seed grade: funding score = clamp(r·100, 0, 100), OI score = max(0, 100 − 10·MAPE%), directional "
          "score = accuracy·100, weighted 0.5 / 0.2 / 0.3. OI conservation and directional accuracy hold by "
          "construction for these models (the book is scaled to OI at every snapshot; no long level can stand above "
          "the price): half the seed formula's weight scores 100 whatever the map says, so it is not the verdict.", ""]
    return L


def fix_first(results: dict[str, dict]) -> list[str]:
    """The seed audit's "top fixes": the weakest scored parts of the primary model, and any leaking baseline."""
    r = results.get(PRIMARY_MODEL) or next(iter(results.values()))
    L = ["### Fix first", ""]
    parts = [(p.get("score"), name, p) for name, p in r["verdict"]["parts"].items() if p.get("scored", True)]
    missing_parts = [name for s, name, _ in parts if s is None]
    weak = sorted((s, name) for s, name, _ in parts if s is not None and s < 100)
    for name in missing_parts:
        L.append(f"- **{name}** cannot be computed: the month is not graded until it can.")
    for score, name in weak:
        L.append(f"- **{name}**: scores {score:.0f} of 100 (lower end {_num(r['verdict']['parts'][name]['value'])}).")
    leaks = []
    for section in ("per_bar_skill", "map_ahead"):
        for key, cell in r["extended"].get(section, {}).items():
            if isinstance(cell, dict):
                for field in ("placebo_partial", "path_placebo_partial"):
                    if cell.get(field) is not None and cell[field] > 0.1:     # skill a pure baseline function shows
                        leaks.append(f"{section}.{key}.{field} = {cell[field]:.3f}")
    if leaks:
        L.append("- **Leaking baseline**: a placebo that is a pure function of the move or the path scores above 0.1 "
                 "beyond its control, so the control lets some of the path through: " + "; ".join(leaks) + ".")
    if len(L) == 2:
        L.append(f"- Nothing: every scored part of the {r['model']} model is at its ceiling and no placebo leaks.")
    return L + [""]


def outcome_section(results: dict[str, dict]) -> list[str]:
    """G. What happened against the map: map-ahead skill, the path baseline, calibration, regimes."""
    L = ["## G. Outcome: map-ahead, the path baseline, calibration", ""]
    rows = []
    for name, r in results.items():
        e = r["extended"]
        for key in ("1h_long", "1h_short", "4h_long", "4h_short", "24h_long", "24h_short"):
            ma, pb = e["map_ahead"].get(key, {}), e["per_bar_skill"].get(key, {})
            rows.append([name, key, ma.get("n", 0), f"{_num(ma.get('value'))} / {_num(ma.get('naive'))}",
                         _num(ma.get("partial")) + _ci(ma.get("partial_ci95")),
                         f"{_num(pb.get('value'))} / {_num(pb.get('path_naive'))}",
                         _num(pb.get("partial_beyond_path")) + _ci(pb.get("partial_beyond_path_ci95"))])
    L += _table(["model", "bars", "n", "map-ahead ρ / naive ρ", "map-ahead partial [CI]", "per-bar ρ / path ρ",
                 "per-bar partial beyond path [CI]"], rows) + [""]
    rows = []
    for name, r in results.items():
        for key, c in r["extended"]["calibration"].items():
            rows.append([name, key, c.get("n", 0), _num(c.get("total_ratio")), _num(c.get("loglog_slope"))
                         + _ci(c.get("loglog_slope_ci95")), _num(c.get("brier")), _num(c.get("brier_skill"))
                         + _ci(c.get("brier_skill_ci95")), _num(c.get("reliability"), "{:.4f}"),
                         _num(c.get("resolution"), "{:.4f}")])
    L += _table(["model", "bars", "n", "predicted/realised", "log-log slope [CI]", "Brier", "Brier skill [CI]",
                 "reliability", "resolution"], rows)
    L += ["", "Map-ahead: the snapshot standing at a bar's start, read as that bar's forecast (its notional between the "
          "open and the bar's extreme). The path baseline sums each sub-bar's move toward the side: what a prediction "
          "made sub-bar by sub-bar sees without any book. Calibration's probability: that a bar liquidates more than "
          "the median of the 30 days before it, learned from earlier bars only; Brier skill against the earlier "
          "bars' base rate.", ""]
    r = results.get(PRIMARY_MODEL) or next(iter(results.values()))
    reg = r["extended"].get("regimes", {})
    if reg.get("bar_hours"):
        rows = [[split, regime, *(f"{_num(c[s].get('value'))} / {_num(c[s].get('partial'))} (n={c[s]['n']})"
                                  for s in ("long", "short"))]
                for split, cells in reg.items() if isinstance(cells, dict) for regime, c in cells.items()]
        L += [f"### Regimes ({r['model']} model, {reg['bar_hours']}h bars): ρ / partial beyond the move", ""] + \
            _table(["split", "regime", "long", "short"], rows) + [""]
    return L


def render_grade(doc: dict, path: Path) -> str:
    """What `liq grade` prints: the verdict and the seed formula's grade side by side, the verdict's parts, then
    each seed component with its score, sample and interval."""
    seed = doc.get("seed_grade") or {}
    head = f"{doc['symbol']} {doc['month']} ({doc['model']} model): "
    head += f"verdict {doc['grade']}, score {doc['score']:.1f}" if doc["grade"] else "verdict: not graded"
    head += (f"   |   seed formula {seed['grade']}, score {seed['score']:.1f}" if seed.get("grade") else
             "   |   seed formula: not graded")
    lines = [head]
    v = doc.get("verdict") or {}
    if not doc["grade"]:
        lines.append(f"  {v.get('reason') or doc['extended'].get('grade_reason', '')}")
    for name, p in (v.get("parts") or {}).items():
        if p.get("value") is None:
            lines.append(f"  {name:<24s} missing")
            continue
        how = "" if p.get("scored", True) else "  (shown, not scored)"
        lines.append(f"  {name:<24s} {p['value']:.3f} (lower end)  score {p.get('score', 0):.1f}{how}")
    lines.append("  seed formula components:")
    labels = {"funding_correlation": ("funding correlation r", "{:.3f}"), "oi_conservation": ("OI conservation MAPE",
                                                                                          "{:.3f}%"),
              "directional": ("directional accuracy", "{:.4f}")}
    for name, c in doc["components"].items():
        label, fmt = labels[name]
        if c["value"] is None:
            lines.append(f"    {label:<22s} missing: {c.get('reason')}  (weight {c['weight']})")
            continue
        ci = f" [{fmt.format(c['ci95'][0])}, {fmt.format(c['ci95'][1])}]" if c.get("ci95") else ""
        built = "  by construction" if seed.get("components", {}).get(name, {}).get("by_construction") else ""
        lines.append(f"    {label:<22s} {fmt.format(c['value'])}{ci}  n={c['n']}  score {c['score']:.1f} × "
                     f"{c['weight']}{built}")
    other = doc["extended"].get("comparison", {})
    for name, o in other.items():
        lines.append(f"  {name} model: verdict {o['grade'] or 'none'}" +
                     (f", score {o['score']:.1f}" if o["score"] is not None else ""))
    lines.append(f"  report: {path} (audit.md beside it)")
    return "\n".join(lines)
