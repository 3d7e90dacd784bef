"""One day of estimates for one symbol, both models: heatmap snapshots, predicted liquidations per bar,
and per-snapshot totals (book vs OI). Uses only data from before each snapshot / bar end."""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from ..market.liqprice import BracketArrays
from ..params import KLINE_INTERVALS
from .book import LONG, SHORT, FlowState, Grid, asof, rows_frame, run_flow, snapshot_rows, static_book
from .config import MODELS, ModelConfig
from .profile import ProfileWindow, finest_interval, nice_width, spread_volume


@dataclasses.dataclass
class DayEstimate:
    heatmap: pd.DataFrame
    predicted: pd.DataFrame
    snapshots: pd.DataFrame
    state: FlowState | None
    interval: str | None
    cold_start: bool
    bars_without_oi: int
    snapshots_without_history: dict = dataclasses.field(default_factory=dict)


def _ms(series: pd.Series) -> np.ndarray:
    return series.astype("datetime64[ms, UTC]").astype("int64").to_numpy()


def _named(rows: dict, model: str) -> dict:
    return {**rows, "model": np.full(len(rows["ts"]), MODELS.index(model), np.int8)}


def replay_history(klines: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame, cfg: ModelConfig,
                   brackets: BracketArrays) -> tuple[FlowState | None, int]:
    """The book a day starts from when no earlier run left one: the flow model replayed, from an empty book,
    over the clean history before the day (its caller passes up to PROFILE_DAYS days of klines, OI and funding,
    all stamped before the day). Returns the state (None when the history has no bars with OI) and the number
    of days of bars replayed: how warm the start is."""
    interval = finest_interval(klines)
    if interval is None or oi.empty:
        return None, 0
    bars = klines[klines["interval"] == interval].sort_values("open_time")
    days = int(bars["open_time"].dt.date.nunique())
    bars = bars.assign(open_time=_ms(bars["open_time"]))
    run = run_flow(bars, pd.DataFrame({"ts": _ms(oi["ts"]), "oi_contracts": oi["oi_contracts"].to_numpy(float)}),
                   pd.DataFrame({"ts": _ms(funding["ts"]), "funding_rate": funding["funding_rate"].to_numpy(float)}),
                   cfg, brackets, None, KLINE_INTERVALS[interval] * 1000, keep_snapshots=False)
    return (run.state, days) if run.state.total() > 0 else (None, 0)


def estimate_day(day: dt.date, klines: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame, profile: pd.DataFrame,
                 prev: FlowState | None, cfg: ModelConfig, brackets: BracketArrays,
                 through_last_bar: bool = False) -> DayEstimate:
    """klines: the day's clean klines; oi and funding: clean rows from the day before through this day.
    `through_last_bar` (the nowcast of a day not yet over) adds both models' snapshot at the last bar's end."""
    empty = DayEstimate(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), prev, None, prev is None, 0, {})
    interval = finest_interval(klines)
    if interval is None:
        return empty
    bars = klines[klines["interval"] == interval].sort_values("open_time")
    bars = bars.assign(open_time=_ms(bars["open_time"]))
    interval_ms = KLINE_INTERVALS[interval] * 1000
    oi_t, oi_v = _ms(oi["ts"]), oi["oi_contracts"].to_numpy(float)
    fu_t, fu_v = _ms(funding["ts"]), funding["funding_rate"].to_numpy(float)
    oi_ms = pd.DataFrame({"ts": oi_t, "oi_contracts": oi_v})
    fu_ms = pd.DataFrame({"ts": fu_t, "funding_rate": fu_v})
    first = bars.iloc[0]
    grid = prev.grid if prev is not None else Grid.around(float(first.open), cfg)
    width = nice_width(float(first.open))

    # the 30-day profile as arrays, and the ends of this day's bars: a snapshot takes the bars ended by it
    base_mid = ((profile["price_low"] + profile["price_high"]) / 2).to_numpy(float)
    base_volume = profile["volume_usd"].to_numpy(float)
    bar_ends = bars["open_time"].to_numpy(np.int64) + interval_ms
    low, high, quote = (bars[c].to_numpy(float) for c in ("low", "high", "quote_volume"))

    def static_at(t: int, price: float) -> np.ndarray:
        # the 30-day profile of the days before, plus this day's bars that ended by t (never later ones)
        ended = int(np.searchsorted(bar_ends, t, side="right"))
        mid, volume = base_mid, base_volume
        if ended:
            edges, (today,) = spread_volume(low[:ended], high[:ended], [quote[:ended]], width)
            keep = today > 0
            mid = np.concatenate([base_mid, ((edges[:-1] + edges[1:]) / 2)[keep]])
            volume = np.concatenate([base_volume, today[keep]])
        oi_now = asof(oi_t, oi_v, t, strict=False)
        oi_before = asof(oi_t, oi_v, t - 86_400_000, strict=False)
        change = oi_now / oi_before - 1 if oi_before > 0 else 0.0
        fund = asof(fu_t, fu_v, t, strict=True)
        return static_book(mid, volume, oi_now, price, change, 0.0 if np.isnan(fund) else fund, cfg, brackets, grid)

    if prev is not None:
        # The OI stamped at 00:00 lives in this day's partition, so yesterday's last bar was reconciled to
        # 23:55: bring the carried book to the OI known at the day's start (a proportional adjustment).
        oi0 = asof(oi_t, oi_v, int(first.open_time), strict=False)
        prev = dataclasses.replace(prev, qty=prev.qty * (oi0 / prev.total()) if oi0 > 0 and prev.total() > 0 else prev.qty.copy())
    prior = None
    if prev is None:   # no history: the volume-profile baseline seeds the book
        prior = static_at(int(first.open_time) + interval_ms, float(first.open))
    run = run_flow(bars, oi_ms, fu_ms, cfg, brackets, prev, interval_ms, prior=prior, grid=grid,
                   snapshot_at_end=through_last_bar)

    heat, preds, totals = [], [], []
    static_cache, no_history = {}, {"flow": 0, "static": 0}
    for ts, price, q in run.snapshots:
        heat.append(_named(snapshot_rows(ts, price, q, grid, cfg), "flow"))
        sq = static_at(ts, price)
        static_cache[ts] = sq
        heat.append(_named(snapshot_rows(ts, price, sq, grid, cfg), "static"))
        oi_now = asof(oi_t, oi_v, ts, strict=False)
        for model, book in (("flow", q), ("static", sq)):
            if book.sum() <= 0:      # nothing known yet (first instant of history): no estimate, not a zero one
                no_history[model] += 1
                continue
            totals.append((model, ts, price, oi_now, oi_now * price, book.sum() * price,
                           book[LONG].sum() * price, book[SHORT].sum() * price))
    # static predicted liquidations: the levels of the latest snapshot crossed by the bar's range (not removed)
    snap_ms = cfg.snapshot_minutes * 60_000
    centers = grid.centers()
    # each snapshot's book summed over leverages once, not per bar (a column's sum is the same either way)
    per_bin = {ts: (sq[LONG].sum(axis=0), sq[SHORT].sum(axis=0)) for ts, sq in static_cache.items()}
    for bar in bars.itertuples(index=False):
        book = per_bin.get(int(bar.open_time) // snap_ms * snap_ms)
        if book is None:
            continue
        lo, hi = grid.index_of(bar.low), grid.index_of(bar.high)
        preds.append((int(bar.open_time), "long", float((book[LONG][lo:] * centers[lo:]).sum())))
        preds.append((int(bar.open_time), "short", float((book[SHORT][: hi + 1] * centers[: hi + 1]).sum())))
    static_pred = pd.DataFrame(preds, columns=["ts", "side", "notional_usd"]).assign(model="static")
    predicted = pd.concat([run.predicted.assign(model="flow"), static_pred], ignore_index=True)
    predicted["interval"] = interval
    to_ts = lambda s: pd.to_datetime(s, unit="ms", utc=True).astype("datetime64[ms, UTC]")
    predicted["ts"] = to_ts(predicted["ts"])
    heatmap = rows_frame(heat, MODELS)
    if len(heatmap):
        heatmap["ts"] = to_ts(heatmap["ts"])
    snapshots = pd.DataFrame(totals, columns=["model", "ts", "price", "oi_contracts", "oi_usd", "book_usd",
                                              "long_usd", "short_usd"])
    snapshots["ts"] = to_ts(snapshots["ts"])
    snapshots["book_to_oi"] = snapshots["book_usd"] / snapshots["oi_usd"]
    return DayEstimate(heatmap, predicted.sort_values(["model", "ts", "side"]).reset_index(drop=True), snapshots,
                       run.state, interval, prev is None, run.bars_without_oi, no_history)


def estimate_days(klines: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame, days: list[dt.date],
                  cfg: ModelConfig, brackets: BracketArrays):
    """Run the estimator day by day over in-memory frames exactly as the pipeline's partitions do: each day
    gets its own klines, OI and funding from the day before through the day, and the volume profile of
    the 30 days before it; the flow state carries over. Yields (day, DayEstimate)."""
    between = lambda a, b: klines[(klines["open_time"] >= pd.Timestamp(a, tz="UTC"))  # noqa: E731
                                  & (klines["open_time"] < pd.Timestamp(b, tz="UTC"))]
    state, window = None, None
    for day in days:
        lo = pd.Timestamp(day, tz="UTC")
        hi = lo + pd.Timedelta(days=1)
        window, _ = ProfileWindow.for_day(day, window, between)     # carried on by a day, as the pipeline's asset
        est = estimate_day(day, klines[(klines["open_time"] >= lo) & (klines["open_time"] < hi)],
                           oi[(oi["ts"] >= lo - pd.Timedelta(days=1)) & (oi["ts"] < hi)],
                           funding[(funding["ts"] >= lo - pd.Timedelta(days=1)) & (funding["ts"] < hi)],
                           window.profile(), state, cfg, brackets)
        state = est.state
        yield day, est


def sim_frames(res) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A simulation's klines, OI and funding shaped as the clean tables (what the estimator reads)."""
    ms = lambda s: pd.to_datetime(s, unit="ms", utc=True).astype("datetime64[ms, UTC]")
    kl = res.klines.assign(open_time=ms(res.klines.open_time), interval=res.scenario.interval)
    oi = res.open_interest.assign(ts=ms(res.open_interest.ts))
    fu = res.funding.assign(ts=ms(res.funding.calc_time).dt.round("min"))
    return kl, oi, fu
