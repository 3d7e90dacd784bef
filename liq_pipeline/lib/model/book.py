"""The position book ("flow" model) and the seed system's "static" model, on a log-price grid.

Flow, bar by bar, using only data before each bar's end:
  1. price crossing a level liquidates it: long levels at or above the bar's low, short levels at or below
     its high leave the book, and their notional is the bar's predicted liquidation;
  2. positions decay (closed, to be re-opened at current prices): with the configured half-life, and with
     trading, by the bar's volume over the open interest at its start (a busy bar turns more of the book over);
     each leverage row at (L / L̄)^k times that rate (high leverage is held shorter);
  3. the book is reconciled to open interest at the bar's end: a rise opens the difference at entries
     spread over the bar's low..high, split long/short by the bar's taker flow tilted by funding and candle
     direction, across the leverage mix and size classes; a fall closes proportionally.
The book is held in contracts, so its total equals OI (contracts) after every bar with OI.

The exact liquidation price scales with entry for a position of fixed USD size (cum/Q = cum·EP/size):
LP = EP·ratio(side, leverage, size), computed once with the tiered formula (bracket at the liquidation
notional) and reused for every entry.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from ..market.liqprice import BracketArrays, liquidation_price, max_leverage
from ..io.schemas import labels
from .config import ModelConfig

LONG, SHORT = 0, 1


@dataclasses.dataclass
class Grid:
    anchor: float
    step: float
    n: int

    @classmethod
    def around(cls, price: float, cfg: ModelConfig) -> "Grid":
        half = int(math.ceil(math.log(cfg.grid_span) / cfg.bin_step))
        return cls(price * math.exp(-half * cfg.bin_step), cfg.bin_step, 2 * half)

    def index(self, price) -> np.ndarray:
        i = np.floor(np.log(np.asarray(price, float) / self.anchor) / self.step).astype(np.int64)
        if not isinstance(i, np.ndarray):      # one price
            return np.clip(i, 0, self.n - 1)
        # an array is clipped in place: np.clip's checks cost as much as the rest (once a bar in the flow model)
        np.maximum(i, 0, out=i)
        return np.minimum(i, self.n - 1, out=i)

    def index_of(self, price: float) -> int:
        """index() of one price, without the array machinery (the same numpy log, so the same bin)."""
        return min(max(int(np.floor(np.log(price / self.anchor) / self.step)), 0), self.n - 1)

    def lower(self, i) -> np.ndarray:
        return self.anchor * np.exp(np.asarray(i) * self.step)

    def centers(self) -> np.ndarray:
        return self.anchor * np.exp((np.arange(self.n) + 0.5) * self.step)


def ratio_table(cfg: ModelConfig, brackets: BracketArrays) -> tuple[np.ndarray, np.ndarray]:
    """LP/EP for [side, leverage, size], and the weight of each cell (mix × size weights)."""
    levs = np.asarray(cfg.leverages, float)
    sizes = np.asarray(cfg.sizes_usd, float)
    lev = np.minimum(levs[:, None], max_leverage(brackets, sizes)[None, :])        # the exchange caps it
    ratios = np.empty((2, len(levs), len(sizes)))
    for side, is_long in ((LONG, True), (SHORT, False)):
        # entry 1 and qty = size: the bracket is then picked at size·LP/EP, the true liquidation notional
        lp = liquidation_price(np.full(lev.size, is_long), np.ones(lev.size), sizes[None, :].repeat(len(levs), 0).ravel(),
                               lev.ravel(), brackets)
        ratios[side] = lp.reshape(lev.shape)
    weights = np.asarray(cfg.leverage_mix, float)[:, None] * np.asarray(cfg.size_weights, float)[None, :]
    return ratios, weights / weights.sum()


@dataclasses.dataclass
class FlowState:
    """What carries from one day to the next: the book (contracts per side, leverage, bin) and its grid."""
    grid: Grid
    qty: np.ndarray                 # [2, n_leverages, n_bins]
    last_close: float
    last_bar_end_ms: int
    # the last bars' starts, lows and highs ([3, n]) inside the entry window, so that a run split in parts (the
    # nowcast's, bar by bar) enters new notional as the whole run does; not stored: the window restarts each day
    recent: np.ndarray | None = None

    def total(self) -> float:
        return float(self.qty.sum())


def long_shares(bars: pd.DataFrame, funding: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """Each bar's long share of new notional: its taker buy share tilted by `funding` (the rate standing at its end;
    NaN: none) and by its candle's direction, within 2..98%."""
    volume = bars["volume"].to_numpy(float)
    tb = np.where(volume > 0, bars["taker_buy_volume"].to_numpy(float) / np.where(volume > 0, volume, 1.0), 0.5)
    candle = np.sign(bars["close"].to_numpy(float) - bars["open"].to_numpy(float))
    s = 0.5 + cfg.flow_weight * (tb - 0.5) + cfg.funding_tilt_per_bp * (np.nan_to_num(funding) / 1e-4) \
        + cfg.candle_tilt * candle
    return np.clip(s, 0.02, 0.98)


def asof_many(times: np.ndarray, values: np.ndarray, t: np.ndarray, strict: bool) -> np.ndarray:
    """asof() of many times at once (NaN where none)."""
    i = np.searchsorted(times, t, side="left" if strict else "right") - 1
    return np.where(i >= 0, values[np.maximum(i, 0)] if len(values) else np.nan, np.nan)


def asof(times: np.ndarray, values: np.ndarray, t: int, strict: bool) -> float:
    """The last value stamped at or before t (strictly before, if strict); NaN if none."""
    i = np.searchsorted(times, t, side="left" if strict else "right") - 1
    return float(values[i]) if i >= 0 else float("nan")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The book at a snapshot time, held as the bins that hold a level: `part` is bins [first, first + its width)
    of the book (contracts [side, leverage, bin]). A whole grid an hour was most of a long run's memory, and writing
    it (the OS zeroing fresh pages first) a fifth of its time; a book holds levels in a seventh of its grid."""
    ts: int                         # ms
    price: float                    # the reference price (the last close)
    first: int
    part: np.ndarray

    @classmethod
    def of(cls, ts: int, price: float, q: np.ndarray, scale: np.ndarray | None = None) -> "Snapshot":
        """q (× scale, a factor per leverage row) over its occupied bins."""
        held = np.flatnonzero(q.any(axis=(0, 1)))
        a, b = (int(held[0]), int(held[-1]) + 1) if len(held) else (0, 0)
        part = q[:, :, a:b] * scale[:, None] if scale is not None else q[:, :, a:b].copy()
        return cls(ts, price, a, part)

    def book(self, n_bins: int) -> np.ndarray:
        """The whole book on the grid of n_bins (zero outside the part)."""
        out = np.zeros(self.part.shape[:2] + (n_bins,))
        out[:, :, self.first: self.first + self.part.shape[2]] = self.part
        return out


@dataclasses.dataclass
class FlowRun:
    state: FlowState
    predicted: pd.DataFrame         # ts (bar start, ms), side, notional_usd
    snapshots: list[Snapshot]
    bars_without_oi: int


def init_state(price: float, bar_end_ms: int, cfg: ModelConfig, n_lev: int) -> FlowState:
    grid = Grid.around(price, cfg)
    return FlowState(grid, np.zeros((2, n_lev, grid.n)), price, bar_end_ms)


def seed_at_close(prior: np.ndarray, grid: Grid, close: float) -> np.ndarray | None:
    """The prior as shares of the book, without the levels the price has already crossed: the seed lands at a
    bar's close, which may be far from the price the prior was made at (a first day whose first bars have no
    OI), and a long level at or above the close (a short at or below) would already have been liquidated."""
    seed = prior.copy()
    at = int(grid.index(close))
    seed[LONG, :, at:] = 0.0
    seed[SHORT, :, : at + 1] = 0.0
    total = seed.sum()
    return seed / total if total > 0 else None


DAY_MS = 86_400_000


def entry_ranges(starts: np.ndarray, lows: np.ndarray, highs: np.ndarray,
                 window_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """The low..high each bar's new notional enters over: that of the bars that started less than `window_ms` before
    it (itself included) on its own UTC day (a day's run sees its own bars only, so a range run and a day's run
    agree). A bar as long as the window keeps its own range. `starts` in ms, whole numbers (int or float)."""
    lo, hi = lows.copy(), highs.copy()
    day = starts // DAY_MS
    for k in range(1, len(starts)):
        back = (starts[k:] - starts[:-k] < window_ms) & (day[k:] == day[:-k])
        if not back.any():
            break
        lo[k:] = np.where(back, np.minimum(lo[k:], lows[:-k]), lo[k:])
        hi[k:] = np.where(back, np.maximum(hi[k:], highs[:-k]), hi[k:])
    return lo, hi


def _bounds(qty: np.ndarray) -> tuple[int, int]:
    """The highest bin holding a long level (−1: none) and the lowest holding a short one (the grid's size: none)."""
    longs, shorts = np.flatnonzero(qty[LONG].any(axis=0)), np.flatnonzero(qty[SHORT].any(axis=0))
    return (int(longs[-1]) if len(longs) else -1), (int(shorts[0]) if len(shorts) else qty.shape[-1])


def run_flow(bars: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame, cfg: ModelConfig,
             brackets: BracketArrays, state: FlowState | None, interval_ms: int,
             prior: np.ndarray | None = None, grid: Grid | None = None, keep_snapshots: bool = True,
             snapshot_at_end: bool = False) -> FlowRun:
    """bars: klines (open_time ms sorted); oi: ts ms (interval end), oi_contracts; funding: ts ms, funding_rate.

    `prior` (same shape as the book) seeds an empty book with a distribution (the static model's) on the
    first bar that has OI: the volume-profile baseline where there is no history yet. `snapshot_at_end` adds the
    book after the last bar, stamped at its end (the nowcast's map, current to the last closed bar: what a day's
    run takes at that time when it is a snapshot time). Without `keep_snapshots`
    (a replay that only wants the final book) no snapshot is copied: a copy of the whole book an hour was the
    larger part of a replay's time.
    """
    ratios, weights = ratio_table(cfg, brackets)
    n_lev = len(cfg.leverages)
    o_t, o_v = oi["ts"].to_numpy(np.int64), oi["oi_contracts"].to_numpy(float)
    f_t, f_v = funding["ts"].to_numpy(np.int64), funding["funding_rate"].to_numpy(float)
    snap_ms = cfg.snapshot_minutes * 60_000
    k = np.arange(cfg.entry_points)
    frac = (k + 0.5) / cfg.entry_points
    # how fast each leverage row closes relative to the book's average (1 for all without the exponent)
    levs = np.asarray(cfg.leverages, float)
    lev_rate = (levs / math.exp(np.dot(cfg.leverage_mix, np.log(levs)))) ** cfg.leverage_turnover_exponent
    # the cells new notional opens in ([side, lev, size, entry] flattened), made once, not per bar: each cell's
    # side and leverage row, its liquidation price per unit of entry, and its share of a side's notional
    cells = ratios.shape[1] * ratios.shape[2] * cfg.entry_points          # per side
    side_rows = np.repeat([LONG, SHORT], cells)
    lev_rows = np.tile(np.repeat(np.arange(n_lev), ratios.shape[2] * cfg.entry_points), 2)
    ratio_cells = np.repeat(ratios[..., None], cfg.entry_points, axis=-1)
    side_sign = np.array([1.0, -1.0])[:, None, None, None]         # long: at/above the close is crossed; short: below
    cell_share = np.repeat((weights / cfg.entry_points).ravel(), cfg.entry_points)
    preds, snaps, no_oi = [], [], 0
    # what each bar reads of OI and funding, looked up for all bars at once (a lookup per bar cost a tenth of the run)
    starts = bars["open_time"].to_numpy(np.int64)
    lows, highs, closes = (bars[k].to_numpy(float) for k in ("low", "high", "close"))
    # 3.'s entry points of every bar (over its entry window's low..high: an hourly bar's own), at once: the same
    # arithmetic as bar by bar; and whether any level of the bar's entries lies beyond its close (its highest long
    # level is its highest entry times the highest long ratio, rounding included: scaling keeps the order)
    window_ms = cfg.entry_window_minutes * 60_000
    recent = state.recent if state is not None and state.recent is not None else np.empty((3, 0))
    seen = np.concatenate([recent, np.stack([starts, lows, highs])], axis=1)     # starts in ms: exact as floats
    entry_lo, entry_hi = (r[recent.shape[1]:] for r in entry_ranges(*seen, window_ms))
    entries_all = entry_lo[:, None] + frac[None, :] * (entry_hi - entry_lo)[:, None]
    past_close = ((entries_all[:, -1] * ratios[LONG].max() >= closes) |
                  (entries_all[:, 0] * ratios[SHORT].min() <= closes)).tolist()
    oi_at_start = asof_many(o_t, o_v, starts, strict=False)
    oi_at_end = asof_many(o_t, o_v, starts + interval_ms, strict=False)
    shares = long_shares(bars, asof_many(f_t, f_v, starts + interval_ms, strict=True), cfg).tolist()
    # 2.'s decay, each bar's factor per leverage row, for all bars at once (small arrays made per bar cost a fifth of
    # the run): with time, and with the bar's turnover (its volume over the OI at its start, both in contracts)
    log_shrink = np.full(len(bars), 0.0 if not cfg.decay_half_life_hours else
                         math.log(0.5) * interval_ms / 3.6e6 / cfg.decay_half_life_hours)
    if cfg.turnover_decay:
        volume = bars["volume"].to_numpy(float)
        busy = (volume > 0) & (oi_at_start > 0)
        log_shrink -= cfg.turnover_decay * np.where(busy, volume / np.where(busy, oi_at_start, 1.0), 0.0)
    decays = log_shrink < 0.0
    shrinks = np.exp(log_shrink[:, None] * lev_rate[None, :])
    fastest = int(np.argmax(lev_rate))
    row_share = weights.sum(axis=1)             # each leverage row's share of new notional (either side)
    c = None                      # the bin centres, computed once: the grid is fixed once the run has a book
    # The book is held as `q × scale` (a scale per leverage row): a decay multiplies the scales, not every cell (a
    # pass over the whole book every bar was a quarter of the run), and `held` (contracts per row) and the occupied
    # bins' bounds (long levels lie at or below `long_top`, short ones at or above `short_bottom`) are kept as the
    # book changes, so a bar touches only the bins the price crossed. The book is multiplied out where it leaves:
    # snapshots, and the state returned.
    scale_held = np.zeros((2, n_lev))           # per leverage row: the scale, and the contracts held
    scale, held = scale_held                    # views: a decay multiplies both at once
    scale[:] = 1.0
    long_top, short_bottom = -1, 0
    if state is not None:
        held[:], (long_top, short_bottom) = state.qty.sum(axis=(0, 2)), _bounds(state.qty)
    for i, (start, close) in enumerate(zip(starts.tolist(), closes.tolist())):
        end = start + interval_ms
        if state is None:
            state = init_state(float(bars["open"].iloc[0]), start, cfg, n_lev)
            if grid is not None:
                state.grid = grid
                state.qty = np.zeros((2, n_lev, grid.n))
            long_top, short_bottom = -1, state.grid.n
        g, q = state.grid, state.qty
        if keep_snapshots and start % snap_ms == 0:
            snaps.append(Snapshot.of(start, state.last_close, q, scale))
        # 1. liquidations by the bar's range: long levels in bins at/above the low's bin, short ones at/below the high's
        if c is None:             # the grid is fixed from here: what every bar reads of it, made once
            c = np.column_stack([g.centers(), np.ones(g.n)])      # per bin: USD per contract, and 1 (contracts)
            low_bins, high_bins = g.index(lows).tolist(), g.index(highs).tolist()
            flat_rows = (side_rows * n_lev + lev_rows) * g.n      # each cell's row in the flattened book
            if not q.flags.c_contiguous:      # (it is, as made here or read back): q.reshape(-1) must be a view
                state.qty = q = np.ascontiguousarray(q)
        lo, hi = low_bins[i], high_bins[i]
        long_usd = short_usd = 0.0
        if long_top >= lo:
            crossed = q[LONG, :, lo: long_top + 1]
            usd, contracts = (crossed @ c[lo: long_top + 1]).T
            long_usd = float(scale @ usd)
            held -= scale * contracts
            crossed[:] = 0.0
            long_top = lo - 1
        if short_bottom <= hi:
            crossed = q[SHORT, :, short_bottom: hi + 1]
            usd, contracts = (crossed @ c[short_bottom: hi + 1]).T
            short_usd = float(scale @ usd)
            held -= scale * contracts
            crossed[:] = 0.0
            short_bottom = hi + 1
        preds.append((start, long_usd, short_usd))
        # 2. decay (the factors made above)
        if decays[i]:
            scale_held *= shrinks[i]
            if scale[fastest] < 1e-100:     # multiplied out now and then, long before the stored cells could overflow
                q *= scale[:, None]
                scale[:] = 1.0
        # 3. reconcile to OI at the bar's end
        target = float(oi_at_end[i])
        if math.isnan(target):
            no_oi += 1
        else:
            have = sum(held.tolist()) if long_top >= 0 or short_bottom < g.n else 0.0
            seed = seed_at_close(prior, g, close) if have <= 0 and prior is not None else None
            if seed is not None:
                q[:] = seed * target
                scale[:], held[:] = 1.0, q.sum(axis=(0, 2))
                long_top, short_bottom = _bounds(q)
            elif target > have:
                share = shares[i]
                lp = entries_all[i] * ratio_cells                                  # [side, lev, size, entry]
                # a level beyond the close would have been crossed inside the bar: enter it at the close (a bar
                # that closed far below its high, or above its low: few)
                if past_close[i]:
                    lp = np.where((lp - close) * side_sign >= 0, close * ratio_cells, lp)
                bins = g.index(lp.ravel())
                # each cell's contracts (stored ÷ scale), both sides in one call, longs first, into the flat book
                amount = np.concatenate([cell_share * share, cell_share * (1 - share)]) * (target - have)
                np.add.at(q.reshape(-1), flat_rows + bins, (amount.reshape(2, n_lev, -1) / scale[:, None]).ravel())
                held += row_share * (target - have)
                long_top = max(long_top, int(np.maximum.reduce(bins[:cells])))
                short_bottom = min(short_bottom, int(np.minimum.reduce(bins[cells:])))
            elif target < have:
                scale_held *= target / have
        state.last_close, state.last_bar_end_ms = close, end
    if state is not None and (scale != 1.0).any():
        state.qty *= scale[:, None]
    if state is not None and seen.shape[1]:
        state.recent = seen[:, seen[0] > seen[0, -1] - window_ms]
    if snapshot_at_end and keep_snapshots and state is not None and len(bars):
        snaps.append(Snapshot.of(state.last_bar_end_ms, state.last_close, state.qty))
    pred = pd.DataFrame(preds, columns=["ts", "long", "short"]).melt(id_vars="ts", var_name="side",
                                                                     value_name="notional_usd")
    return FlowRun(state, pred.sort_values(["ts", "side"], kind="stable").reset_index(drop=True), snaps, no_oi)


def static_book(mid: np.ndarray, volume: np.ndarray, oi_contracts: float, price: float, oi_change_24h: float,
                funding: float, cfg: ModelConfig, brackets: BracketArrays, grid: Grid) -> np.ndarray:
    """The seed system's model: today's OI spread over the 30-day volume profile (bin middles and volumes), fixed
    leverage mix, split 50/50 tilted by funding, with OI-delta boost near price (seeds/001 section 10). Levels on the wrong side
    of the current price are dropped (already liquidated); the rest is scaled to the OI."""
    ratios, weights = ratio_table(cfg, brackets)
    q = np.zeros((2, len(cfg.leverages), grid.n))
    if not len(mid) or not oi_contracts > 0:
        return q
    near = np.abs(mid / price - 1) <= cfg.static_near_price
    w = np.where(near, volume * (1 + cfg.static_oi_boost * max(0.0, oi_change_24h)), volume)
    w = w / w.sum()
    share = min(max(0.5 + cfg.funding_tilt_per_bp * (funding / 1e-4), 0.02), 0.98)
    for side, sh in ((LONG, share), (SHORT, 1 - share)):
        lp = mid[None, None, :] * ratios[side][:, :, None]
        ok = lp < price if side == LONG else lp > price
        amount = np.where(ok, sh * weights[:, :, None] * w[None, None, :], 0.0)
        idx = grid.index(lp)
        for li in range(len(cfg.leverages)):
            np.add.at(q[side, li], idx[li].ravel(), amount[li].ravel())
    total = q.sum()
    return q * (oi_contracts / total) if total > 0 else q


def snapshot_rows(ts_ms: int, price: float, q: np.ndarray, grid: Grid, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """Heatmap rows of one snapshot: bins within ±heatmap_range of price with notional above the floor, as column
    arrays with the side as its LONG/SHORT code (a day's snapshots become one frame at once: a frame for each
    snapshot cost more than the model)."""
    lo, hi = grid.index(price * (1 - cfg.heatmap_range)), grid.index(price * (1 + cfg.heatmap_range))
    part = q[:, :, lo: hi + 1] * price
    side, lev, b = np.nonzero(part >= cfg.heatmap_min_usd)
    bins = b + lo
    return {"ts": np.full(len(b), ts_ms, np.int64), "side": side,
            "leverage": np.asarray(cfg.leverages, float)[lev],
            "price_low": grid.lower(bins), "price_high": grid.lower(bins + 1), "notional_usd": part[side, lev, b],
            "price": np.full(len(b), price, float)}


def rows_frame(parts: list[dict[str, np.ndarray]], models) -> pd.DataFrame:
    """One frame of many snapshot_rows (each with a "model": its index in `models`), models and sides spelled out."""
    if not parts:
        return pd.DataFrame()
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    df = pd.DataFrame({k: v for k, v in cols.items() if k not in ("model", "side")})
    for col, names in (("side", ["long", "short"]), ("model", models)):
        df[col] = labels(cols[col], names)
    return df[list(cols)]


def state_frame(state: FlowState, leverages) -> pd.DataFrame:
    """The book as the `book_state` table's rows: one per non-empty (side, leverage, bin) cell, with the grid on
    every row (a parquet column of one value costs nothing), so state_from_frame gives the same book back, bit for
    bit (the cells' float64 contracts are stored as they are)."""
    side, lev, b = np.nonzero(state.qty > 0)
    g = state.grid
    contracts = state.qty[side, lev, b]
    ts = pd.Timestamp(state.last_bar_end_ms, unit="ms", tz="UTC")
    df = pd.DataFrame({"ts": pd.Series(ts, index=range(len(b)), dtype="datetime64[ms, UTC]"),
                       "leverage": np.asarray(leverages, float)[lev], "bin": b.astype(np.int64),
                       "price_low": g.lower(b), "price_high": g.lower(b + 1), "contracts": contracts,
                       "notional_usd": contracts * state.last_close, "grid_anchor": g.anchor, "grid_step": g.step,
                       "grid_bins": g.n, "last_close": state.last_close})
    df.insert(1, "side", labels(side, ["long", "short"]))
    return df


def state_from_frame(df: pd.DataFrame, leverages) -> FlowState | None:
    """The book a `book_state` partition holds (None if it holds none): the inverse of state_frame for a book made
    with the same leverages (the caller checks the rows' config key)."""
    if df is None or df.empty:
        return None
    first = df.iloc[0]
    grid = Grid(float(first["grid_anchor"]), float(first["grid_step"]), int(first["grid_bins"]))
    lev_index = {float(v): i for i, v in enumerate(leverages)}
    qty = np.zeros((2, len(leverages), grid.n))
    side = np.where(df["side"].to_numpy(object) == "long", LONG, SHORT)
    lev = np.array([lev_index[float(v)] for v in df["leverage"]], np.int64)
    qty[side, lev, df["bin"].to_numpy(np.int64)] = df["contracts"].to_numpy(float)
    end = first["ts"]
    end_ms = int(end.value // 1_000_000) if isinstance(end, pd.Timestamp) else int(end)
    return FlowState(grid, qty, float(first["last_close"]), end_ms)
