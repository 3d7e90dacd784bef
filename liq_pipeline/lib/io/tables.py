"""The table registry: every table the pipeline writes is declared once, here.

Its name (the warehouse view), layer, column types, key, time column, great-expectations suite and
description, and for tables fed from a source, how that source holds it (`RawSpec`). The raw, clean and
model assets, their gates, the warehouse views, the sources' fetch strategy and docs/pipeline.md's table of
tables are all made from these entries: adding a table is one entry (plus its suite file).
"""
from __future__ import annotations

import dataclasses

TS = "datetime64[ms, UTC]"
PROVENANCE = {"ingest_source": "str", "ingest_file": "str", "ingest_sha256": "str"}
MODEL_PROVENANCE = {"config_key": "str"}


@dataclasses.dataclass(frozen=True)
class RawSpec:
    """Where a source-fed table's raw files come from. `kind` picks one of the sources' fetch strategies:
    archive (a daily/monthly zip of the Binance archive), tape (forceOrder JSONL per day), bars (vendor
    liquidation-bar CSVs), truth (the simulated market's ground truth)."""
    kind: str
    archive: str | None = None         # the archive's own dataset name (klines, metrics, fundingRate, aggTrades)
    per_interval: bool = False         # one file per kline interval
    required: bool = False             # a day without it is an error, not an absence
    parser: str | None = None          # lib/io/parse function for the archive CSV
    rest_path: str | None = None       # Binance REST endpoint that serves it, if any
    # REST JSON keys in the archive CSV's column order ("key:time": epoch ms written as the archive's text
    # time; "=V": a constant the REST rows lack); rows of lists (klines) are already in that order.
    rest_fields: tuple[str, ...] = ()
    truth_file: str | None = None      # simulated truth: the file's kind (positions, liquidations)
    # Expected rows per day, for the gap report: one per bar of each `interval`, one per 5 minutes ("5m"),
    # one per settlement every `interval_hours`; None: events, no cadence.
    cadence: str | None = None


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    layer: str                         # clean | model | validation
    columns: dict[str, str]            # the public contract (DESIGN section 4) and types
    key: tuple[str, ...]               # what identifies a row within a (date, symbol) partition; its sort order
    time_col: str
    description: str
    raw: RawSpec | None = None         # source-fed (clean) tables only
    sort: str | None = None            # warehouse: materialise as a table sorted by this (latency targets)
    period: str = "day"                # partitions: (day, symbol), or (month, symbol) stored under its first day

    @property
    def suite(self) -> str:
        """The great-expectations suite's name: expectations/<suite>.json."""
        return self.name if self.name.startswith(self.layer) else f"{self.layer}_{self.name}"

    @property
    def all_columns(self) -> dict[str, str]:
        """Columns as written: the contract plus provenance (ingest file and checksum, or model config key)."""
        return {**self.columns, **(PROVENANCE if self.layer == "clean" else MODEL_PROVENANCE)}


def _t(name, layer, key, time_col, description, raw=None, sort=None, period="day", **columns) -> Table:
    return Table(name, layer, columns, tuple(key), time_col, description, raw, sort, period)


F, S, I = "float64", "str", "int64"
_TABLES = [
    _t("klines", "clean", ["interval", "open_time"], "open_time",
       "Candles per interval: OHLC, volumes, taker-buy volume (the archive's klines, or REST).",
       RawSpec("archive", "klines", per_interval=True, required=True, parser="parse_klines", rest_path="/fapi/v1/klines",
               cadence="interval"),
       symbol=S, open_time=TS, interval=S, open=F, high=F, low=F, close=F, volume=F, close_time=TS,
       quote_volume=F, trades=I, taker_buy_volume=F, taker_buy_quote_volume=F),
    _t("open_interest", "clean", ["ts"], "ts", "Open interest every 5 minutes, stamped at the interval's end.",
       RawSpec("archive", "metrics", required=True, parser="parse_metrics", rest_path="/futures/data/openInterestHist",
               cadence="5m",
               rest_fields=("timestamp:time", "symbol", "sumOpenInterest", "sumOpenInterestValue")),
       symbol=S, ts=TS, oi_contracts=F, oi_usd=F),
    _t("funding", "clean", ["ts"], "ts", "Settled funding rates (ts rounded to the minute; calc_time as published).",
       RawSpec("archive", "fundingRate", required=True, parser="parse_funding", rest_path="/fapi/v1/fundingRate",
               cadence="interval_hours",
               rest_fields=("fundingTime", "=8", "fundingRate")),   # REST gives no interval: 8 h
       symbol=S, ts=TS, funding_rate=F, interval_hours=I, calc_time=TS),
    _t("agg_trades", "clean", ["agg_trade_id"], "ts", "Aggregated taker trades (optional: where the source has them).",
       RawSpec("archive", "aggTrades", parser="parse_agg_trades", rest_path="/fapi/v1/aggTrades",
               rest_fields=("a", "p", "q", "f", "l", "T", "m")),
       symbol=S, agg_trade_id=I, ts=TS, price=F, qty=F, notional_usd=F, is_buyer_maker="bool",
       first_trade_id="Int64", last_trade_id="Int64"),
    _t("liquidation_events", "clean", ["ts", "side", "price", "qty"], "ts",
       "Liquidation orders from forceOrder tapes (a sample: at most one per symbol per second); side = side liquidated.",
       RawSpec("tape"),
       symbol=S, ts=TS, side=S, price=F, avg_price=F, qty=F, notional_usd=F, source=S, order_status=S),
    _t("liquidation_bars", "clean", ["interval", "venue", "ts"], "ts",
       "Liquidated USD per bar and side, from vendor exports (the main real ground truth).",
       RawSpec("bars"),
       symbol=S, ts=TS, interval=S, long_usd=F, short_usd=F, venue=S),
    _t("sim_positions", "clean", ["ts", "position_id"], "ts",
       "Ground truth (simulated source only): every open taker position at each 4-hourly snapshot.",
       RawSpec("truth", truth_file="positions"),
       symbol=S, ts=TS, position_id=I, side=S, leverage=F, entry_price=F, liq_price=F, qty=F, notional_usd=F),
    _t("sim_liquidations", "clean", ["ts", "position_id"], "ts",
       "Ground truth (simulated source only): every liquidation, unthrottled.",
       RawSpec("truth", truth_file="liquidations"),
       symbol=S, ts=TS, side=S, price=F, avg_price=F, qty=F, notional_usd=F, source=S, position_id=I,
       leverage=F, entry_price=F, liq_price=F),
    _t("volume_profile", "model", ["price_low"], "date",
       "Volume per price bin (~0.1% of price) over the 30 days before the day: each bar's quote volume spread "
       "over its low..high. Missing days are skipped and counted.",
       symbol=S, date=S, price_low=F, price_high=F, volume_usd=F, taker_buy_usd=F, interval=S, days_used=I),
    _t("heatmap", "model", ["model", "ts", "side", "leverage", "price_low"], "ts",
       "Liquidation levels per (model, snapshot, side, leverage, price bin), from data strictly before each snapshot.",
       symbol=S, model=S, ts=TS, side=S, leverage=F, price_low=F, price_high=F, notional_usd=F, price=F),
    _t("heatmap_levels", "model", ["model", "ts", "side", "bucket"], "ts",
       "The heatmap as traders read it: leverage summed, 0.25% log-price buckets stable across days "
       "(what `liq heatmap` queries).", sort="symbol, model, ts",
       symbol=S, model=S, ts=TS, side=S, bucket=I, price_low=F, price_high=F, notional_usd=F, price=F),
    _t("predicted_liquidations", "model", ["model", "ts", "side"], "ts",
       "Notional each model says was liquidated in each bar, by side.",
       symbol=S, model=S, ts=TS, interval=S, side=S, notional_usd=F),
    _t("book_state", "model", ["ts", "side", "leverage", "bin"], "ts",
       "The flow book at the day's close (ts: the end of its last bar): contracts per side, leverage and bin of "
       "the book's log-price grid (grid_anchor·exp(bin·grid_step)). What the next day, a rerun and `liq serve`'s "
       "nowcast start from.",
       symbol=S, ts=TS, side=S, leverage=F, bin=I, price_low=F, price_high=F, contracts=F, notional_usd=F,
       grid_anchor=F, grid_step=F, grid_bins=I, last_close=F),
    _t("model_snapshots", "model", ["model", "ts"], "ts",
       "Per snapshot and model: price, OI, book totals (conservation: book_to_oi).",
       symbol=S, model=S, ts=TS, price=F, oi_contracts=F, oi_usd=F, book_usd=F, long_usd=F, short_usd=F,
       book_to_oi=F),
]


def _validation_columns() -> dict[str, str]:
    """Every metric of DESIGN section 7 as a column (lib/validation/suite.flat_row makes the row): value, sample
    size and 95% interval; the per-bar skill per horizon and side with its path baseline; map-ahead skill and
    calibration per horizon and side; the verdict's grade and the seed formula's beside it."""
    cols = {"model": S, "grade": S, "score": F, "grade_reason": S, "seed_grade": S, "seed_score": F}
    cols.update(funding_r=F, funding_p=F, funding_spearman=F, funding_n=I, funding_ci_low=F, funding_ci_high=F, oi_mape_pct=F, oi_n=I, oi_ci_low=F, oi_ci_high=F,
                directional_accuracy=F, directional_n=I, directional_ci_low=F, directional_ci_high=F,
                events_n=I, hit_rate=F, hit_ci_low=F, hit_ci_high=F, gap_rate=F, miss_rate=F, random_hit_rate=F,
                lead_p50_s=F, lead_p90_s=F, lead_p95_s=F, lead_le0_share=F, false_positive_rate=F,
                zones_reached_n=I, zones_n=I, touch_rate=F, reaction_rate=F, sweep_rate=F,
                truth_distance_long_pct=F, truth_distance_short_pct=F, truth_zone_share=F,
                truth_zone_share_true_book=F)
    for h in ("1h", "4h"):
        for side in ("long", "short"):
            p = f"skill_{h}_{side}"
            cols.update({p: F, f"{p}_naive": F, f"{p}_partial": F, f"{p}_partial_ci_low": F,
                         f"{p}_partial_ci_high": F, f"{p}_placebo": F, f"{p}_n": I, f"{p}_path_naive": F,
                         f"{p}_beyond_path": F, f"{p}_beyond_path_ci_low": F})
            a = f"map_ahead_{h}_{side}"
            cols.update({a: F, f"{a}_naive": F, f"{a}_partial": F, f"{a}_partial_ci_low": F,
                         f"calibration_{h}_{side}_total_ratio": F, f"calibration_{h}_{side}_brier_skill": F})
    return cols


VALIDATION_COLUMNS = _validation_columns()
_TABLES += [
    _t("validation_daily", "validation", ["model"], "date",
       "The validation suite per day and model (DESIGN section 7): the graded three (funding correlation, OI "
       "conservation, directional) and the day's grade, hit rates against liquidation events, per-bar skill, "
       "reaction/sweep, ground truth; each with its sample size and 95% interval.",
       symbol=S, date=S, **VALIDATION_COLUMNS),
    _t("validation_monthly", "validation", ["model"], "month",
       "The validation suite over a month (stored under the month's first day), with its grade: what "
       "data/reports/SYM/YYYY-MM/validation.json and audit.md report.", period="month",
       symbol=S, month=S, **VALIDATION_COLUMNS),
]
TABLES: dict[str, Table] = {t.name: t for t in _TABLES}
# Tables a source feeds (raw -> clean), in the registry's order; and those the simulated source alone has.
SOURCED = tuple(t.name for t in _TABLES if t.raw is not None)
REQUIRED = frozenset(t.name for t in _TABLES if t.raw is not None and t.raw.required)
TRUTH = tuple(t.name for t in _TABLES if t.raw is not None and t.raw.kind == "truth")


def get(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"table {name!r} is not registered (lib/io/tables.py): {', '.join(TABLES)}") from None


def markdown() -> str:
    """docs/pipeline.md's table of tables, made from the registry."""
    rows = ["| table | layer | key | columns | what it holds |", "|---|---|---|---|---|"]
    for t in _TABLES:
        rows.append(f"| `{t.name}` | {t.layer} | {', '.join(t.key)} | {', '.join(t.columns)} | {t.description} |")
    return "\n".join(rows)
