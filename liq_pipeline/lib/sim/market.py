"""The agent-based market. Leveraged takers open and close isolated positions against passive makers
(never liquidated); the exchange liquidates a taker when price crosses its exact liquidation price;
liquidation orders move price, which can liquidate more (cascades); funding settles every 8 h from the
long/short imbalance. Everything it emits is what Binance emits, plus the truth.

One bar at a time (a Python loop over bars, numpy inside); each bar's path has SUBSTEPS points so a
liquidation gets a time inside the bar.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from ..market import brackets as brackets_mod
from ..market.liqprice import BracketArrays, bankruptcy_price, liquidation_price, max_leverage
from ..io.schemas import labels
from .scenario import REGIME_PARAMS, Scenario

SUBSTEPS = 6
SLIPPAGE = 0.0003  # a liquidation order fills a little past its trigger
# The loop's every-bar reductions call the ufuncs' reduce itself: ndarray.sum() / .any() / .max() pass through two
# layers of Python (~1.5 µs a call), more than the reduction of a bar's few positions costs. Same results.
_sum, _any, _max, _min = np.add.reduce, np.logical_or.reduce, np.maximum.reduce, np.minimum.reduce


@dataclasses.dataclass
class SimResult:
    scenario: Scenario
    regimes: list[str]
    leverage_mix: np.ndarray
    klines: pd.DataFrame          # open_time ms, OHLCV, taker buy, trades
    open_interest: pd.DataFrame   # ts ms (interval end), oi_contracts, oi_usd, book sides
    funding: pd.DataFrame         # calc_time ms (with jitter), funding_rate, interval_hours
    liquidations: pd.DataFrame    # every liquidation, unthrottled, with the position's truth
    positions: pd.DataFrame       # open positions at each snapshot
    agg_trades: pd.DataFrame | None = None   # every position flow as a taker trade (scenario.agg_trades)


class _Book:
    """Open taker positions in preallocated parallel arrays (slots, in arrival order) with an `alive` mask;
    compacted at snapshots.

    A position's id is its arrival number, and what it brings whatever the price (leverage, stop, planned close)
    is known for every arrival before the first bar: it is read by id (`lev_of`, `has_stop_of`), not copied into
    the slots. The planned closes due at a bar are likewise a precomputed run of ids (`by_close`), mapped to slots
    through `slot_of` (-1: no longer in the book), so no bar scans the book for them.
    """

    # trig: where the position leaves the book by price: its stop-loss if it has one, else its liquidation
    FIELDS = {"pid": np.int64, "is_long": bool, "entry": float, "qty": float, "liq": float, "trig": float}

    def __init__(self, lev_of: np.ndarray, has_stop_of: np.ndarray, close_bar_of: np.ndarray, n_bars: int,
                 capacity: int = 1024):
        self.lev_of, self.has_stop_of = lev_of, has_stop_of
        self.by_close = np.argsort(close_bar_of, kind="stable")     # ids ascending within a bar: slot order
        self.close_start = np.searchsorted(close_bar_of[self.by_close], np.arange(n_bars + 1)).tolist()
        self.slot_of = np.full(len(close_bar_of), -1, np.int64)
        self.n = 0
        # one slot more than the fields: the last is never alive, the sentinel slot_of's -1 reads
        self.alive = np.zeros(capacity + 1, bool)
        for k, t in self.FIELDS.items():
            setattr(self, "_" + k, np.zeros(capacity, dtype=t))

    def __getattr__(self, k):  # book.qty etc.: the used part of the array
        if k in _Book.FIELDS:
            return getattr(self, "_" + k)[: self.n]
        raise AttributeError(k)

    def add(self, **cols):
        k = len(cols["pid"])
        if self.n + k > len(self._pid):
            cap = max(2 * len(self._pid), self.n + k)
            self.alive = np.concatenate([self.alive, np.zeros(cap + 1 - len(self.alive), bool)])
            for f, t in self.FIELDS.items():
                arr = getattr(self, "_" + f)
                setattr(self, "_" + f, np.concatenate([arr, np.zeros(cap - len(arr), dtype=t)]))
        for f in self.FIELDS:
            getattr(self, "_" + f)[self.n: self.n + k] = cols[f]
        self.alive[self.n: self.n + k] = True
        self.slot_of[cols["pid"]] = np.arange(self.n, self.n + k)
        self.n += k

    def live(self) -> np.ndarray:
        return self.alive[: self.n]

    def compact(self):
        live = self.alive[: self.n]
        self.slot_of[self._pid[: self.n][~live]] = -1
        keep = np.flatnonzero(live)
        for f in self.FIELDS:
            arr = getattr(self, "_" + f)
            arr[: len(keep)] = arr[keep]
        self.alive[:] = False
        self.alive[: len(keep)] = True
        self.n = len(keep)
        self.slot_of[self._pid[: self.n]] = np.arange(self.n)

    def closing_at(self, t: int) -> np.ndarray:
        """Slots of the positions whose planned close is bar t and that are still open (ascending)."""
        slots = self.slot_of[self.by_close[self.close_start[t]: self.close_start[t + 1]]]
        return slots[self.alive[slots]]


def simulate(sc: Scenario) -> SimResult:
    rng = np.random.default_rng([sc.seed, sc.stream] if sc.stream else sc.seed)
    regimes, mix = sc.resolved(rng)
    # the simulated exchange's tiers: the symbol's table, else the fallback (scenario.json names which)
    br = BracketArrays.of(brackets_mod.load(sc.symbol, sc.start_date, fallback=True))
    bars_per_day = 86_400 // sc.interval_s
    n_bars = sc.bars
    bar_ms = sc.interval_s * 1000
    t0_ms = int(pd.Timestamp(sc.start_date, tz="UTC").value // 10**6)
    sig_bar = sc.sigma_minute * math.sqrt(sc.interval_s / 60)
    levs = np.asarray(sc.leverages, float)
    mean_size = sc.size_median_usd * math.exp(sc.size_sigma ** 2 / 2) * float(mix @ (10 / levs) ** sc.leverage_size_exponent)
    mean_hold = sc.hold_mean_minutes * float(mix @ (5 / levs) ** sc.leverage_hold_exponent)
    arrivals_per_bar = sc.target_oi_usd / (mean_size * mean_hold) * (sc.interval_s / 60)
    day_of = np.arange(n_bars) // bars_per_day
    activity = np.array([REGIME_PARAMS[r][2] for r in regimes])[day_of]
    n_new = rng.poisson(arrivals_per_bar * activity)
    n0 = int(arrivals_per_bar * mean_hold / (sc.interval_s / 60))

    # What a position brings with it whatever the price (leverage, size, holding time, stop, and its liquidation
    # price as a fraction of its entry) is drawn for every arrival of the scenario at once, from its own stream:
    # drawn ~7 at a time, bar by bar, through a dozen numpy calls, it was a third of the simulation's time. Only
    # the side (momentum and funding lean it) and the entry (inside the bar's range) are drawn bar by bar.
    terms = _position_terms(rng.spawn(1)[0], n0 + int(n_new.sum()), sc, levs, mix, br)
    taken = 0
    # the exchange takes no position below its lot step: the size distribution's far left tail (~1 in a million
    # draws, a handful a year) would otherwise emit liquidation orders of quantity 0.000, which the clean gate refuses
    lot = 10.0 ** -sc.qty_decimals

    def draw_positions(n, is_long, prices):
        """The next n arrivals at these sides and entries. The terms are fractions of the entry (stop and
        liquidation), so a price-dependent term is one multiplication."""
        nonlocal taken
        k = slice(taken, taken + n)
        taken += n
        return dict(pid=np.arange(k.start, k.stop), is_long=is_long, entry=prices,
                    qty=np.maximum(terms["notional"][k] / prices, lot),
                    liq=prices * np.where(is_long, terms["liq_long"][k], terms["liq_short"][k]),
                    trig=prices * np.where(is_long, terms["trig_long"][k], terms["trig_short"][k]))

    # -- the book at the start: positions opened over the past days, those already crossed removed --
    # a position's id is its arrival number: those of the starting book (opened "at bar 0"), then each bar's
    arrival_bar = np.r_[np.zeros(n0, np.int64), np.repeat(np.arange(n_bars), n_new)]
    book = _Book(terms["lev"], terms["has_stop"], arrival_bar + terms["hold_bars"], n_bars)
    p0 = sc.initial_price
    age_h = rng.exponential(mean_hold / 60, n0)
    entry0 = p0 * np.exp(sc.sigma_minute * math.sqrt(60) * np.sqrt(age_h) * rng.standard_normal(n0))
    init = draw_positions(n0, rng.random(n0) < 0.5, entry0)
    ok = np.where(init["is_long"], init["trig"] < p0 * 0.999, init["trig"] > p0 * 1.001)
    book.add(**{k: v[ok] for k, v in init.items()})
    book.compact()
    maker_long = float(book.qty[~book.is_long].sum())   # makers hold the other side of every taker
    maker_short = float(book.qty[book.is_long].sum())

    # -- pre-drawn randomness, per bar --
    shocks = rng.standard_t(sc.tail_df, size=(n_bars, SUBSTEPS)) * math.sqrt((sc.tail_df - 2) / sc.tail_df)
    vol_mult = np.array([REGIME_PARAMS[r][0] for r in regimes])[day_of]
    drift_sign = rng.choice([-1.0, 1.0], size=sc.days)
    drift = (np.array([REGIME_PARAMS[r][1] for r in regimes]) * drift_sign)[day_of] / bars_per_day
    crash_bar = {d * bars_per_day + int(rng.integers(bars_per_day // 4, bars_per_day * 3 // 4))
                 for d, r in enumerate(regimes) if r == "crash"}
    # Every bar's steps and the growth they compound to inside the bar, at once (the same arithmetic, row by row).
    # The bar's low and high are those of the growth scaled (scaling by a positive number keeps the order, rounding
    # included), so a bar without liquidations never builds its path: per bar, numpy calls on six numbers cost
    # more than the numbers.
    step_all = shocks * (sig_bar * vol_mult / math.sqrt(SUBSTEPS))[:, None] + (drift / SUBSTEPS)[:, None]
    growth = np.exp(np.cumsum(step_all, axis=1))
    g_min, g_max, g_end = growth.min(axis=1).tolist(), growth.max(axis=1).tolist(), growth[:, -1].tolist()
    vol_mult, activity, n_new = vol_mult.tolist(), activity.tolist(), n_new.tolist()   # read one at a time

    kl = np.zeros((n_bars, 9))
    funding_now, imbalances = sc.funding_base, []
    # aggTrades, when asked for: one aggregated trade per open, close, stop and liquidation. Their times are
    # placed without drawing random numbers, so the rest of the market is the same with or without them.
    # Call sites test `trades is not None` first: off, this hot loop builds none of the arguments.
    trades = [] if sc.agg_trades else None

    def trade(ts, price, qty, buyer_is_maker):
        if len(qty):
            trades.append((np.broadcast_to(np.int64(ts), qty.shape) if np.ndim(ts) == 0 else ts,
                           np.broadcast_to(price, qty.shape), qty, np.broadcast_to(buyer_is_maker, qty.shape)))
    liq_rows, snaps, oi_rows, fund_rows = [], [], [], []
    closes = np.empty(n_bars)
    # Price = a fundamental random walk × exp(dev): liquidation impact moves dev, which decays back, so a
    # cascade leaves a wick and part of its move, not a permanent ratchet.
    anchor, dev, dev_decay = p0, 0.0, 0.5 ** (sc.interval_s / 60 / sc.impact_half_life_minutes)
    price = p0
    max_long_trig = book.trig[book.is_long].max(initial=0.0)
    min_short_trig = book.trig[~book.is_long].min(initial=np.inf)

    # the archive's metrics day runs 00:00..23:55: the first stamp is the book the scenario starts with
    tl0, ts0 = maker_short, maker_long     # the takers' open quantities, as every later stamp reads them
    oi_rows.append((t0_ms, tl0 + ts0, (tl0 + ts0) * p0, tl0, ts0, maker_long, maker_short))
    imbalances.append((tl0 - ts0) / max(tl0 + ts0, 1e-12))
    if (t0_ms // 1000) % (8 * 3600) == 0:   # and the settlement at 00:00 of the first day
        fund_rows.append((t0_ms + int(rng.integers(0, 20)), funding_now))

    for t in range(n_bars):
        bar_start = t0_ms + t * bar_ms
        if t % (sc.snapshot_minutes * 60 // sc.interval_s) == 0:
            book.compact()
            snaps.append((bar_start, book.pid.copy(), book.is_long.copy(), book.lev_of[book.pid], book.entry.copy(),
                          book.liq.copy(), book.qty.copy()))
        # 1. the bar's path before liquidations: t-distributed shocks, regime volatility and drift. The path is
        # (anchor at the bar's open) × growth × exp(dev): `bar_path()` builds it when a liquidation needs its times
        if t in crash_bar:   # a crash day's shock: a sharp drop inside one bar, cascades do the rest
            steps = step_all[t].copy()
            steps[1] -= rng.uniform(0.01, 0.025)
            g = np.exp(np.cumsum(steps))
            gl, gh, ge = g.min(), g.max(), g[-1]
        else:
            g, gl, gh, ge = growth[t], g_min[t], g_max[t], g_end[t]
        base = anchor
        anchor = base * ge
        dev *= dev_decay
        e_dev = math.exp(dev)
        open_ = price
        lo, hi, close = min(open_, base * gl * e_dev), max(open_, base * gh * e_dev), anchor * e_dev

        def bar_path():
            return base * g * e_dev
        buys = sells = 0.0
        # 2. stops and liquidations, and the cascade liquidation orders set off
        if lo <= max_long_trig or hi >= min_short_trig:
            trig, is_long_all = book.trig, book.is_long
            live = book.live()
            # The cascade only reaches triggers near the bar's range: it works on those within `reach` of it
            # (indices ascending, so every sum adds the same values in the same order as over the whole book),
            # and widens the reach in the rare bar whose cascade carries price beyond it.
            reach = 0.005
            while True:
                near = np.flatnonzero(live & np.where(is_long_all, trig >= lo * math.exp(-reach),
                                                      trig <= hi * math.exp(reach)))
                n_trig, n_long, n_stop = trig[near], is_long_all[near], book.has_stop_of[book.pid[near]]
                gone = np.zeros(len(near), bool)
                down = up = 0.0
                for _ in range(100):
                    newly = ~gone & np.where(n_long, n_trig >= lo * math.exp(-down), n_trig <= hi * math.exp(up))
                    if not newly.any():
                        break
                    gone |= newly
                    liquidated = near[newly & ~n_stop]
                    usd = book.qty[liquidated] * book.liq[liquidated]
                    down += sc.liq_impact_per_musd * usd[is_long_all[liquidated]].sum() / 1e6
                    up += sc.liq_impact_per_musd * usd[~is_long_all[liquidated]].sum() / 1e6
                if down <= reach and up <= reach:    # it never looked past the near triggers
                    break
                reach *= 4
            near_long, near_short = ~gone & n_long, ~gone & ~n_long     # the near triggers left
            stopped, dead, gone = near[gone & n_stop], near[gone & ~n_stop], near[gone]
            lo, hi = lo * math.exp(-down), hi * math.exp(up)
            dev += sc.impact_permanence * (up - down)
            close = min(max(anchor * math.exp(dev), lo), hi)
            if len(stopped):
                if trades is not None:
                    trade(bar_start + bar_ms // 2, np.clip(trig[stopped], lo, hi), book.qty[stopped], is_long_all[stopped])
                q, lg = book.qty[stopped], is_long_all[stopped]
                sl, ss = q[lg].sum(), q[~lg].sum()
                sells += sl
                buys += ss
                maker_short -= sl
                maker_long -= ss
            if len(dead):
                liq_rows.append(_liquidated(book, dead, open_, bar_path(), bar_start, bar_ms, lo, hi, rng))
                if trades is not None:
                    trade(liq_rows[-1]["ts"], liq_rows[-1]["avg_price"], liq_rows[-1]["qty"],
                          liq_rows[-1]["side"] == "long")
                q, lg = book.qty[dead], is_long_all[dead]
                ql, qs = q[lg].sum(), q[~lg].sum()
                sells += ql
                buys += qs
                maker_short -= ql
                maker_long -= qs
            book.alive[gone] = False
            # the nearest triggers left are among the near ones if any is left there (every other lies beyond)
            live = book.live()
            max_long_trig = n_trig[near_long].max() if near_long.any() else trig[live & is_long_all].max(initial=0.0)
            min_short_trig = n_trig[near_short].min() if near_short.any() else \
                trig[live & ~is_long_all].min(initial=np.inf)
        # 3. planned closes at the bar's close
        closing = book.closing_at(t)
        if len(closing):
            q, lg = book.qty[closing], book.is_long[closing]
            if trades is not None:
                trade(bar_start + bar_ms - 1, close, q, lg)
            cl, cs = _sum(q[lg]), _sum(q[~lg])
            sells += cl
            buys += cs
            maker_short -= cl
            maker_long -= cs
            book.alive[closing] = False
        # 4. new positions, side biased by momentum and by funding (the crowd that pays leans less)
        n = n_new[t]
        if n:
            mom = math.log(close / closes[t - 60]) / (sig_bar * math.sqrt(60)) if t >= 60 else 0.0
            p_long = min(max(0.5 + sc.momentum_bias * math.tanh(mom) - sc.funding_bias * funding_now / 0.0005, 0.1), 0.9)
            is_long = rng.random(n) < p_long
            new = draw_positions(n, is_long, lo + rng.random(n) * (hi - lo))
            qty, liq = new["qty"], new["liq"]
            if trades is not None:
                trade(bar_start + bar_ms // 3, new["entry"], qty, ~is_long)
            is_short = ~is_long
            ql, qs = _sum(qty[is_long]), _sum(qty[is_short])
            buys += ql
            sells += qs
            # opened and liquidated in the same bar (a stop would be crossed first: those just go on). They are
            # in the book only to leave it at once (not alive), so their stop does not matter.
            instant = np.where(is_long, liq >= close, liq <= close)
            any_instant = _any(instant)
            if any_instant:
                new["trig"] = np.where(instant, liq, new["trig"])
            book.add(**new)
            maker_short += ql
            maker_long += qs
            if any_instant:
                dead = np.zeros(book.n, bool)
                dead[book.n - n:] = instant
                liq_rows.append(_liquidated(book, dead, open_, bar_path(), bar_start, bar_ms, lo, hi, rng))
                if trades is not None:
                    trade(liq_rows[-1]["ts"], liq_rows[-1]["avg_price"], liq_rows[-1]["qty"],
                          liq_rows[-1]["side"] == "long")
                ql, qs = qty[instant & is_long].sum(), qty[instant & ~is_long].sum()
                sells += ql
                buys += qs
                maker_short -= ql
                maker_long -= qs
                book.alive[: book.n] &= ~dead
                is_long, is_short = is_long & ~instant, is_short & ~instant     # the new positions still open
            max_long_trig = max(max_long_trig, _max(new["trig"][is_long], initial=0.0))
            min_short_trig = min(min_short_trig, _min(new["trig"][is_short], initial=np.inf))
        # 5. the kline: background churn plus every position flow; order flow follows the move
        r = math.log(close / open_)
        s = sig_bar * vol_mult[t]
        bg_usd = sc.background_usd_per_minute * (sc.interval_s / 60) * activity[t] * math.exp(0.35 * rng.standard_normal()) \
            * (1 + 1.5 * abs(r) / s)
        vwap = (open_ + hi + lo + close) / 4
        bg_qty = bg_usd / vwap
        share = min(max(0.5 + 0.35 * math.tanh(r / (1.5 * s)) + 0.03 * rng.standard_normal(), 0.05), 0.95)
        volume = bg_qty + buys + sells
        taker_buy = bg_qty * share + buys
        kl[t] = (open_, hi, lo, close, volume, volume * vwap, taker_buy, taker_buy * vwap,
                 max(1, rng.poisson(volume / sc.trade_size_btc)))
        closes[t] = price = close
        # 6. open interest every oi_minutes (stamped at interval end), funding every 8 h
        bar_end = bar_start + bar_ms
        if (bar_end // 1000) % (sc.oi_minutes * 60) == 0:
            # the takers' open long (short) quantity is what the makers hold short (long): their running sums,
            # not a pass over the book (a tenth of the loop; the two differ by float rounding, ~1e-14 of OI)
            tl, ts_ = maker_short, maker_long
            imbalances.append((tl - ts_) / max(tl + ts_, 1e-12))
            oi_rows.append((bar_end, tl + ts_, (tl + ts_) * close, tl, ts_, maker_long, maker_short))
        if (bar_end // 1000) % (8 * 3600) == 0:
            window = imbalances[-(8 * 60 // sc.oi_minutes):] or [0.0]
            funding_now = float(np.clip(sc.funding_base + sc.funding_slope * np.mean(window)
                                        + 0.00001 * rng.standard_normal(), -sc.funding_cap, sc.funding_cap))
            fund_rows.append((bar_end + int(rng.integers(0, 20)), funding_now))   # the archive's ms jitter

    klines = pd.DataFrame(kl, columns=["open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume",
                                       "taker_buy_quote_volume", "trades"])
    klines.insert(0, "open_time", t0_ms + np.arange(n_bars, dtype=np.int64) * bar_ms)
    klines["trades"] = klines["trades"].astype(np.int64)
    oi = pd.DataFrame(oi_rows, columns=["ts", "oi_contracts", "oi_usd", "taker_long_qty", "taker_short_qty",
                                        "maker_long_qty", "maker_short_qty"])
    funding = pd.DataFrame(fund_rows, columns=["calc_time", "funding_rate"]).assign(interval_hours=8)
    if not liq_rows:
        liq_rows = [_liquidated(book, np.zeros(book.n, bool), p0, np.array([p0]), t0_ms, bar_ms, p0, p0, rng)]
    liqs = pd.DataFrame({c: np.concatenate([r[c] for r in liq_rows]) for c in liq_rows[0]})
    liqs = liqs.sort_values(["ts", "position_id"], kind="stable").reset_index(drop=True)
    positions = _positions(snaps)
    agg = None
    if trades is not None:
        cols = [np.concatenate([t[i] for t in trades]) if trades else np.empty(0) for i in range(4)]
        agg = pd.DataFrame({"transact_time": cols[0].astype(np.int64), "price": cols[1].astype(float),
                            "quantity": cols[2].astype(float), "is_buyer_maker": cols[3].astype(bool)})
        agg = agg.sort_values("transact_time", kind="stable").reset_index(drop=True)
        agg.insert(0, "agg_trade_id", np.arange(1, len(agg) + 1, dtype=np.int64))
    return SimResult(sc, regimes, mix, klines, oi, funding, liqs, positions, agg)


def _position_terms(rng: np.random.Generator, n: int, sc: Scenario, levs: np.ndarray, mix: np.ndarray,
                    br: BracketArrays) -> dict[str, np.ndarray]:
    """The price-free terms of n positions, in arrival order. The liquidation price is a fixed fraction of the
    entry at a given notional (the bracket follows the notional), so it is computed once per side, at entry 1; so is
    the trigger (`trig_*`: the stop, never beyond the liquidation, where it would never fire; else the liquidation).
    Scaling the fraction by the entry rounds as scaling each candidate would (max(p·a, p·b) = p·max(a, b))."""
    cdf = mix.cumsum()
    cdf /= cdf[-1]                        # rng.choice(levs, p=mix)'s draws, without its checks
    lev = levs[cdf.searchsorted(rng.random(n), side="right")]
    size = np.exp(rng.normal(math.log(sc.size_median_usd), sc.size_sigma, n)) * (10 / lev) ** sc.leverage_size_exponent
    notional = np.minimum(size, sc.size_cap_usd)
    lev = np.minimum(lev, max_leverage(br, notional))
    hold_mu = math.log(sc.hold_mean_minutes) - sc.hold_sigma ** 2 / 2
    hold = np.exp(rng.normal(hold_mu, sc.hold_sigma, n)) * (5 / lev) ** sc.leverage_hold_exponent
    has_stop = rng.random(n) < sc.stop_share
    stop_loss = rng.uniform(*sc.stop_margin_loss, n) / lev
    liq_long = liquidation_price(np.ones(n, bool), np.ones(n), notional, lev, br)
    liq_short = liquidation_price(np.zeros(n, bool), np.ones(n), notional, lev, br)
    return {
        "notional": notional, "lev": lev, "has_stop": has_stop,
        "hold_bars": np.maximum(1, np.ceil(hold / (sc.interval_s / 60))).astype(np.int64),
        "liq_long": liq_long, "liq_short": liq_short,
        "trig_long": np.where(has_stop, np.maximum(1 - stop_loss, liq_long), liq_long),
        "trig_short": np.where(has_stop, np.minimum(1 + stop_loss, liq_short), liq_short),
    }


def _liquidated(book, dead, open_, path, bar_start, bar_ms, lo, hi, rng) -> dict[str, np.ndarray]:
    """Liquidation records (columns as arrays: a DataFrame per bar cost more than the bar), the time inside the
    bar where the path first crossed (else its end: a cascade)."""
    is_long, liq, lev = book.is_long[dead], book.liq[dead], book.lev_of[book.pid[dead]]
    full = np.concatenate([[open_], path])
    crossed = np.where(is_long[:, None], full[None, :] <= liq[:, None], full[None, :] >= liq[:, None])
    step = np.where(crossed.any(axis=1), crossed.argmax(axis=1), len(full) - 1)
    frac = (np.maximum(step - 1, 0) + rng.random(len(step))) / (len(full) - 1)
    ts = bar_start + np.minimum((frac * bar_ms).astype(np.int64), bar_ms - 1)
    fill = np.clip(np.where(is_long, liq * (1 - SLIPPAGE), liq * (1 + SLIPPAGE)), lo, hi)
    qty = book.qty[dead]
    return {
        "ts": ts, "side": np.where(is_long, "long", "short"),
        "price": bankruptcy_price(is_long, book.entry[dead], lev), "avg_price": fill, "qty": qty,
        "notional_usd": fill * qty, "position_id": book.pid[dead], "leverage": lev,
        "entry_price": book.entry[dead], "liq_price": liq,
    }


def _positions(snaps) -> pd.DataFrame:
    """Snapshots: (ts, pid, is_long, lev, entry, liq, qty) per snapshot, flattened."""
    sizes = [len(s[1]) for s in snaps]
    cols = [np.concatenate([s[i] for s in snaps]) if snaps else np.empty(0) for i in range(1, 7)]
    df = pd.DataFrame({
        "ts": np.repeat([s[0] for s in snaps], sizes).astype(np.int64), "position_id": cols[0],
        "side": labels(~cols[1].astype(bool), ["long", "short"]), "leverage": cols[2], "entry_price": cols[3],
        "liq_price": cols[4], "qty": cols[5],
    })
    df["notional_usd"] = df["qty"] * df["entry_price"]
    return df
