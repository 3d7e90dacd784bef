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


@dataclasses.dataclass
class DayBars:
    """A day's bars at its finest interval (open_time in epoch ms), and the OI and funding as arrays: what both
    models read, in the daily run and in the nowcast alike."""
    bars: pd.DataFrame
    interval: str
    interval_ms: int
    oi_t: np.ndarray
    oi_v: np.ndarray
    fu_t: np.ndarray
    fu_v: np.ndarray

    @classmethod
    def of(cls, klines: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame) -> "DayBars | None":
        interval = finest_interval(klines)
        if interval is None:
            return None
        bars = klines[klines["interval"] == interval].sort_values("open_time")
        return cls(bars.assign(open_time=_ms(bars["open_time"])), interval, KLINE_INTERVALS[interval] * 1000,
                   _ms(oi["ts"]), oi["oi_contracts"].to_numpy(float), _ms(funding["ts"]),
                   funding["funding_rate"].to_numpy(float))

    def oi_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"ts": self.oi_t, "oi_contracts": self.oi_v})

    def funding_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"ts": self.fu_t, "funding_rate": self.fu_v})


def start_book(prev: FlowState | None, d: DayBars, cfg: ModelConfig) -> tuple[FlowState | None, Grid]:
    """The book the day starts from and its grid. The OI stamped at 00:00 lives in the day's own partition, so the
    day before's last bar was reconciled to 23:55: the carried book is brought to the OI known at the day's start
    (a proportional adjustment, on a copy)."""
    first = d.bars.iloc[0]
    if prev is None:
        return None, Grid.around(float(first.open), cfg)
    oi0 = asof(d.oi_t, d.oi_v, int(first.open_time), strict=False)
    qty = prev.qty * (oi0 / prev.total()) if oi0 > 0 and prev.total() > 0 else prev.qty.copy()
    return dataclasses.replace(prev, qty=qty), prev.grid


def static_model(d: DayBars, profile: pd.DataFrame, cfg: ModelConfig, brackets: BracketArrays, grid: Grid):
    """The static model's book at a time t and price: static_at(t, price). It reads the 30-day profile of the days
    before plus this day's bars that ended by t (never later ones), and the OI and funding known at t."""
    width = nice_width(float(d.bars.iloc[0].open))
    base_mid = ((profile["price_low"] + profile["price_high"]) / 2).to_numpy(float)
    base_volume = profile["volume_usd"].to_numpy(float)
    bar_ends = d.bars["open_time"].to_numpy(np.int64) + d.interval_ms
    low, high, quote = (d.bars[c].to_numpy(float) for c in ("low", "high", "quote_volume"))

    def static_at(t: int, price: float) -> np.ndarray:
        ended = int(np.searchsorted(bar_ends, t, side="right"))
        mid, volume = base_mid, base_volume
        if ended:
            edges, (today,) = spread_volume(low[:ended], high[:ended], [quote[:ended]], width)
            keep = today > 0
            mid = np.concatenate([base_mid, ((edges[:-1] + edges[1:]) / 2)[keep]])
            volume = np.concatenate([base_volume, today[keep]])
        oi_now = asof(d.oi_t, d.oi_v, t, strict=False)
        oi_before = asof(d.oi_t, d.oi_v, t - 86_400_000, strict=False)
        change = oi_now / oi_before - 1 if oi_before > 0 else 0.0
        fund = asof(d.fu_t, d.fu_v, t, strict=True)
        return static_book(mid, volume, oi_now, price, change, 0.0 if np.isnan(fund) else fund, cfg, brackets, grid)

    return static_at


def snapshot_heatmap(ts: int, price: float, flow_q: np.ndarray, static_q: np.ndarray, grid: Grid,
                     cfg: ModelConfig) -> list[dict]:
    """Both models' heatmap rows of one snapshot (rows_frame makes a frame of many)."""
    return [_named(snapshot_rows(ts, price, flow_q, grid, cfg), "flow"),
            _named(snapshot_rows(ts, price, static_q, grid, cfg), "static")]


def estimate_day(day: dt.date, klines: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame, profile: pd.DataFrame,
                 prev: FlowState | None, cfg: ModelConfig, brackets: BracketArrays) -> DayEstimate:
    """klines: the day's clean klines; oi and funding: clean rows from the day before through this day."""
    empty = DayEstimate(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), prev, None, prev is None, 0, {})
    d = DayBars.of(klines, oi, funding)
    if d is None:
        return empty
    bars, interval, interval_ms = d.bars, d.interval, d.interval_ms
    oi_t, oi_v = d.oi_t, d.oi_v
    cold = prev is None
    prev, grid = start_book(prev, d, cfg)
    static_at = static_model(d, profile, cfg, brackets, grid)
    prior = first_prior(prev, d, static_at)
    run = run_flow(bars, d.oi_frame(), d.funding_frame(), cfg, brackets, prev, interval_ms, prior=prior, grid=grid)

    heat, preds, totals = [], [], []
    static_cache, no_history = {}, {"flow": 0, "static": 0}
    for snap in run.snapshots:
        ts, price, q = snap.ts, snap.price, snap.book(grid.n)
        sq = static_at(ts, price)
        static_cache[ts] = sq
        heat += snapshot_heatmap(ts, price, q, sq, grid, cfg)
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
    heatmap = heatmap_frame(heat)
    snapshots = pd.DataFrame(totals, columns=["model", "ts", "price", "oi_contracts", "oi_usd", "book_usd",
                                              "long_usd", "short_usd"])
    snapshots["ts"] = to_ts(snapshots["ts"])
    snapshots["book_to_oi"] = snapshots["book_usd"] / snapshots["oi_usd"]
    return DayEstimate(heatmap, predicted.sort_values(["model", "ts", "side"]).reset_index(drop=True), snapshots,
                       run.state, interval, cold, run.bars_without_oi, no_history)


def heatmap_frame(rows: list[dict]) -> pd.DataFrame:
    """snapshot_heatmap's rows as the heatmap table's frame (times as timestamps)."""
    heatmap = rows_frame(rows, MODELS)
    if len(heatmap):
        heatmap["ts"] = pd.to_datetime(heatmap["ts"], unit="ms", utc=True).astype("datetime64[ms, UTC]")
    return heatmap


def first_prior(prev: FlowState | None, d: DayBars, static_at) -> np.ndarray | None:
    """What seeds an empty book (a day without history): the static model at the first bar's end."""
    if prev is not None:
        return None
    first = d.bars.iloc[0]
    return static_at(int(first.open_time) + d.interval_ms, float(first.open))


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
