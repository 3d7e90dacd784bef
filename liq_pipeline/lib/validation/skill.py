"""Per-bar skill (DESIGN section 7) and ground-truth comparisons (simulated source).

Per-bar skill: Spearman of predicted vs realised liquidated USD per bar and side, next to the naive
baseline (the bar's move toward that side) and the partial correlation beyond the move. The control is
flexible: ranks are residualised on the move rank plus quantile-bin dummies of it, so a function of the
move that is zero on small bars cannot pass for skill (a plain linear control would reward it).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

FLEXIBLE_BINS = 15          # DESIGN section 7: the move's rank plus ~10-20 quantile-bin dummies of it


@dataclasses.dataclass
class Skill:
    n: int
    spearman: float
    p_value: float
    naive_spearman: float
    partial_flexible: float
    partial_linear: float


def _residual(y: np.ndarray, design: np.ndarray) -> np.ndarray:
    """y (..., n, k) less its least-squares fit on design (..., n, m), for a stack of samples at once.

    The normal equations with a pseudo-inverse: the design has a few dozen columns at most, so this is exact to
    float precision, handles an empty quantile bin, and solves the bootstrap's hundreds of resamples in one call."""
    xt = np.swapaxes(design, -1, -2)
    beta = np.linalg.pinv(xt @ design) @ (xt @ y)
    return y - design @ beta


def rank_rows(a: np.ndarray) -> np.ndarray:
    """Average ranks (1..n, ties sharing their mean rank) along the last axis: scipy.stats.rankdata(a, axis=-1).

    One argsort and a pass over the tie groups: a bootstrap ranks hundreds of resamples per call, and rankdata's
    own axis handling took ~3 times as long (22 against 7 ms for 400 × 744). Rows with a NaN are left to rankdata
    (it propagates them)."""
    a = np.asarray(a, float)
    if a.shape[-1] == 0 or np.isnan(a).any():
        return stats.rankdata(a, axis=-1)
    n = a.shape[-1]
    order = np.argsort(a, axis=-1)                        # any order within a tie: they share one rank
    s = np.take_along_axis(a, order, axis=-1).reshape(-1, n)
    new = np.ones(s.shape, bool)                          # a tie group starts at each row's start and each change
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    if new.all():                                         # no ties: the ranks are the sorted positions
        sorted_rank = np.broadcast_to(np.arange(1.0, n + 1), s.shape)
    else:
        group = np.cumsum(new.ravel()) - 1                # groups never span two rows
        size = np.bincount(group)
        end = np.cumsum(size)                             # one past each group's last position (flat)
        mean_rank = (end - size + end - 1) / 2 + 1        # the mean of its flat positions, 1-based ...
        sorted_rank = mean_rank[group].reshape(s.shape) - np.arange(0, s.size, n)[:, None]   # ... within its row
    out = np.empty(s.shape)
    np.put_along_axis(out, order.reshape(s.shape), sorted_rank, axis=-1)
    return out.reshape(a.shape)


def _rank_bins(x: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """x's rank in (0, 1] and its quantile bin (0..bins-1), per sample (last axis)."""
    r = rank_rows(x) / x.shape[-1]
    edges = np.moveaxis(np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1], axis=-1), 0, -1)
    which = np.zeros(r.shape, np.intp)                   # searchsorted(edges, r, side="right"), row by row
    for j in range(bins - 1):                            # an edge at a time: no (..., n, bins) temporary
        which += r >= edges[..., j:j + 1]
    return r, which


def _move_rank_bins(move: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The move's rank in (0, 1] and its quantile-bin one-hot (..., n, bins), per sample (last axis)."""
    r, which = _rank_bins(move, bins)
    return r, (which[..., None] == np.arange(bins)).astype(float)


def controls_design(controls: list[np.ndarray], bins: int) -> np.ndarray:
    """The flexible control's design (one intercept; each control's rank and quantile-bin dummies), of one control
    (the move) or several at once (the path baseline's: the bar's move, the path's moves toward
    the side and the sub-bars' ranges)."""
    parts = [np.ones_like(np.asarray(controls[0], float))[..., None]]
    for c in controls:
        r, onehot = _move_rank_bins(c, bins)
        parts += [r[..., None], onehot[..., 1:]]
    return np.concatenate(parts, axis=-1)


def piecewise_design(move: np.ndarray, bins: int = 10) -> np.ndarray:
    """A stricter control than DESIGN's (a robustness check): each quantile bin of the move rank gets its own
    intercept and slope, so a function of the move whose slope changes with the move (zero below a threshold,
    steep above) is removed too, not only on average."""
    r, onehot = _move_rank_bins(move, bins)
    return np.concatenate([onehot, onehot * r[..., None]], axis=-1)


def controls_bins(n: int, k: int) -> int:
    """Quantile bins per control. One control (the move): ~4 bars a bin, 2 to DESIGN's 15, so every sample of 60
    bars or more (a month at 1h or 4h) has the 15. A day's 24 hourly bars get 6: in 15 bins (16 columns for 24 bars)
    three quarters of the real days' intervals were [-1, 1], and in 2 a function of the move scored 0.21 beyond it
    on average, where 6 bins leave it what 15 do (0.11). Several controls (the path baseline's three): ~10 bars a
    column, 2 to 8 each (a month's 744 bars are solved hundreds of times for a bootstrap)."""
    if k == 1:
        return int(np.clip(n // 4, 2, FLEXIBLE_BINS))
    return int(np.clip(n // (10 * k), 2, 8))


def rank_residuals(pred: np.ndarray, real: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ranks of pred and real, each less its least-squares fit on the control design (one solve for both)."""
    res = _residual(np.stack([rank_rows(pred), rank_rows(real)], axis=-1), design)
    return res[..., 0], res[..., 1]


def partial_beyond_rows(pred: np.ndarray, real: np.ndarray, *controls: np.ndarray) -> np.ndarray:
    """The partial rank correlation of pred and real beyond every control at once (flexible in each): the
    correlation of their ranks' residuals on controls_design, from the normal equations' sums alone."""
    bins = controls_bins(pred.shape[-1], len(controls))
    return _flexible_partial(rank_rows(pred), rank_rows(real), [_rank_bins(c, bins) for c in controls], bins)


def _flexible_partial(pred_rank: np.ndarray, real_rank: np.ndarray, controls: list[tuple[np.ndarray, np.ndarray]],
                      bins: int) -> np.ndarray:
    """pearson_rows(*rank_residuals(pred_rank, real_rank, controls_design(...))) without the design.

    The design's column space is spanned by the first control's bin dummies (they sum to the intercept), every
    control's rank, and the other controls' dummies but the first. Its Gram matrix XᵀX and Xᵀy are bin counts and
    per-bin sums, so a bootstrap's (resamples × bars × columns) design is never built: the residuals' cross products
    are yᵀy less the fitted part, _within_bins_fit's for one control, _gram_fit's for several."""
    lead = pred_rank.shape[:-1]
    n = pred_rank.shape[-1]
    rows = int(np.prod(lead, dtype=int))

    def centred(v):                      # the intercept is in the span: centring changes no residual
        return (v - v.mean(-1, keepdims=True)).reshape(rows, n)

    y = np.stack([centred(pred_rank), centred(real_rank)], axis=-1)        # (rows, n, 2)
    ranks = np.stack([centred(r) for r, _ in controls], axis=-1)           # (rows, n, k)
    offset = np.arange(rows)[:, None] * bins
    which = [(w.reshape(rows, n) + offset).ravel() for _, w in controls]   # each bar's (row, bin), flat
    yty = y.swapaxes(1, 2) @ y
    fit = _within_bins_fit if len(controls) == 1 else _gram_fit
    s = yty - fit(y, ranks, which, bins)                                   # (rows, 2, 2): the residuals' sums
    sp, sr, spr = s[:, 0, 0], s[:, 1, 1], s[:, 0, 1]
    # a residual below a millionth of its ranks' spread is a constant left by rounding (pearson_rows' NaN)
    ok = (sp > 1e-12 * yty[:, 0, 0]) & (sr > 1e-12 * yty[:, 1, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ok, np.clip(spr / np.sqrt(np.abs(sp * sr)), -1.0, 1.0), np.nan)
    return out.reshape(lead) if lead else out[0]


def _bin_sums(flat_bin: np.ndarray, values: np.ndarray, bins: int) -> np.ndarray:
    """(rows, bins, j): the sums of values' (rows, n, j) columns over each bin (flat_bin: each bar's row × bins +
    bin)."""
    rows, _, j = values.shape
    v = values.reshape(-1, j)
    return np.stack([np.bincount(flat_bin, v[:, c], rows * bins) for c in range(j)], -1).reshape(rows, bins, j)


def _within_bins_fit(y: np.ndarray, ranks: np.ndarray, which: list[np.ndarray], bins: int) -> np.ndarray:
    """(rows, 2, 2): the part of yᵀy one control's bin dummies and rank fit, by Frisch–Waugh: the dummies take each
    bin's mean, the rank then what it explains within the bins. No inverse: a day's bootstraps solved hundreds of
    16 × 16 pseudo-inverses, most of their time. A rank constant within every bin explains nothing (the direction
    the pseudo-inverse drops)."""
    rows = y.shape[0]
    inv = 1.0 / np.maximum(np.bincount(which[0], minlength=rows * bins), 1).reshape(rows, bins, 1)  # empty: sums 0
    y_bin, r_bin = _bin_sums(which[0], y, bins), _bin_sums(which[0], ranks, bins)
    yr = y.swapaxes(1, 2) @ ranks - y_bin.swapaxes(1, 2) @ (r_bin * inv)          # (rows, 2, 1), within bins
    rr_all = (ranks.swapaxes(1, 2) @ ranks)[:, 0, 0]
    rr = rr_all - (r_bin.swapaxes(1, 2) @ (r_bin * inv))[:, 0, 0]
    left = rr > 1e-12 * rr_all
    slope = np.where(left, 1.0 / np.where(left, rr, 1.0), 0.0)[:, None, None] * (yr @ yr.swapaxes(1, 2))
    return y_bin.swapaxes(1, 2) @ (y_bin * inv) + slope


def _gram_fit(y: np.ndarray, ranks: np.ndarray, which: list[np.ndarray], bins: int) -> np.ndarray:
    """(rows, 2, 2): the part of yᵀy several controls' design fits, (Xᵀy)ᵀ (XᵀX)⁺ Xᵀy, with the pseudo-inverse
    _residual uses (an empty bin is a zero row), XᵀX and Xᵀy from bin counts and sums."""
    rows = y.shape[0]
    size = rows * bins

    def joint(a, b):                     # (rows, bins, bins): bars in bin i of one control and bin j of another
        return np.bincount(a * bins + (b % bins), minlength=size * bins).reshape(rows, bins, bins)

    counts = np.eye(bins)[None] * np.bincount(which[0], minlength=size).reshape(rows, 1, bins)   # D1ᵀD1
    cols_r = _bin_sums(which[0], ranks, bins)                              # D1ᵀR (rows, bins, k)
    cols_d = [joint(which[0], w)[:, :, 1:] for w in which[1:]]             # D1ᵀDc (rows, bins, bins-1)
    r_d = [_bin_sums(w, ranks, bins)[:, 1:, :].swapaxes(1, 2) for w in which[1:]]   # RᵀDc (rows, k, bins-1)
    low = [np.concatenate([cols_d[i].swapaxes(1, 2), r_d[i].swapaxes(1, 2),
                           *[joint(wi, wj)[:, 1:, 1:] for wj in which[1:]]], axis=-1)   # DiᵀDj
           for i, wi in enumerate(which[1:])]
    gram = np.concatenate([np.concatenate([counts, cols_r, *cols_d], axis=-1),
                           np.concatenate([cols_r.swapaxes(1, 2), ranks.swapaxes(1, 2) @ ranks, *r_d], axis=-1),
                           *low], axis=1)
    xty = np.concatenate([_bin_sums(which[0], y, bins), ranks.swapaxes(1, 2) @ y,
                          *[_bin_sums(w, y, bins)[:, 1:, :] for w in which[1:]]], axis=1)
    return xty.swapaxes(1, 2) @ np.linalg.pinv(gram) @ xty


def linear_design(move: np.ndarray) -> np.ndarray:
    r = rank_rows(move)
    return np.stack([np.ones_like(r), r], axis=-1)


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis; NaN where either side is constant."""
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    sa, sb = np.sqrt((a * a).sum(-1)), np.sqrt((b * b).sum(-1))
    ok = (sa > 1e-12 * np.abs(a).max(-1, initial=1)) & (sb > 1e-12 * np.abs(b).max(-1, initial=1))
    with np.errstate(invalid="ignore", divide="ignore"):       # clipped as np.corrcoef: rounding can pass ±1
        return np.where(ok, np.clip((a * b).sum(-1) / (sa * sb), -1.0, 1.0), np.nan)


def spearman_rows(pred: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Spearman's rho along the last axis (average ranks for ties, as scipy.stats.spearmanr)."""
    return pearson_rows(rank_rows(pred), rank_rows(real))


def partial_spearman_rows(pred: np.ndarray, real: np.ndarray, move: np.ndarray, flexible: bool = True,
                          piecewise: bool = False) -> np.ndarray:
    """The partial rank correlation of pred and real beyond the move, along the last axis: both ranks are
    residualised on the control design of the move (flexible: its rank and controls_bins' quantile-bin dummies, the
    same control as every other partial beyond the move; or piecewise, or linear)."""
    if flexible and not piecewise:
        return partial_beyond_rows(pred, real, move)
    design = piecewise_design(move) if piecewise else linear_design(move)
    return pearson_rows(*rank_residuals(pred, real, design))


def partial_spearman(pred: np.ndarray, real: np.ndarray, move: np.ndarray, flexible: bool = True,
                     piecewise: bool = False) -> float:
    arrays = (np.asarray(x, float) for x in (pred, real, move))
    return float(partial_spearman_rows(*arrays, flexible=flexible, piecewise=piecewise))


def bar_skill(pred: np.ndarray, real: np.ndarray, move: np.ndarray) -> Skill:
    pred, real, move = (np.asarray(x, float) for x in (pred, real, move))
    rho, p = stats.spearmanr(pred, real)
    naive = stats.spearmanr(move, real).statistic
    return Skill(len(pred), float(rho), float(p), float(naive), partial_spearman(pred, real, move, True),
                 partial_spearman(pred, real, move, False))


def block_bootstrap_ci(stat, arrays: list[np.ndarray], block: int, reps: int = 400, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Moving-block bootstrap percentile interval of stat(*arrays) over consecutive bars: resampling whole blocks
    of `block` bars keeps the autocorrelation (liquidation cascades, volatility clusters) that a bar-by-bar
    resample would destroy and so make the interval too narrow.

    `stat` is vectorised: it gets every resample at once, as arrays of shape (reps, n), and returns one value
    per row (`spearman_rows`, `partial_spearman_rows`, `lambda a: a.mean(axis=-1)`)."""
    n = len(arrays[0])
    block = max(1, min(block, n))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, (reps, int(np.ceil(n / block))))
    idx = (starts[:, :, None] + np.arange(block)).reshape(reps, -1)[:, :n]
    values = np.asarray(stat(*(np.asarray(a)[idx] for a in arrays)), float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def partial_ci(pred, real, move, block: int, reps: int = 400, seed: int = 0) -> tuple[float, float]:
    """95% moving-block bootstrap interval of the flexible partial correlation."""
    arrays = [np.asarray(x, float) for x in (pred, real, move)]
    return block_bootstrap_ci(partial_spearman_rows, arrays, block, reps, seed)


def coarser_bars(bars: pd.DataFrame, hours: int) -> pd.DataFrame:
    """Hourly rows (index: bar start; open, high, low and any summed columns, e.g. predicted and realised USD)
    as bars of `hours` hours aligned to UTC midnight: first open, max high, min low, sums of the rest. Only
    whole bars are kept."""
    # In numpy over the runs of one bar (the hours come sorted): pandas' groupby took ~6-15 ms a call, and a period's
    # validation coarsens its frames dozens of times. NaN-skipping as pandas' first/max/min/sum(min_count=1).
    sums = [c for c in bars.columns if c not in ("open", "high", "low", "close")]
    if bars.empty:
        return bars[["open", "high", "low", *sums]].astype(float)
    bars = bars if bars.index.is_monotonic_increasing else bars.sort_index()
    key = bars.index.floor(f"{hours}h").asi8
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    cols = {"open": _first_valid(bars["open"].to_numpy(float), starts),
            "high": np.fmax.reduceat(bars["high"].to_numpy(float), starts),
            "low": np.fmin.reduceat(bars["low"].to_numpy(float), starts)}
    for c in sums:
        v = bars[c].to_numpy(float)
        cols[c] = np.where(np.add.reduceat(~np.isnan(v), starts) > 0, np.add.reduceat(np.nan_to_num(v), starts), np.nan)
    whole = np.diff(np.r_[starts, len(key)]) == hours
    return pd.DataFrame(cols, index=bars.index[starts].floor(f"{hours}h"))[whole]


def _first_valid(v: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per run (runs start at `starts`), its first non-NaN value (NaN if none), as pandas' groupby first()."""
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(v)]))
    valid = np.flatnonzero(~np.isnan(v))
    out = np.full(len(starts), np.nan)
    first = np.unique(run[valid], return_index=True)
    out[first[0]] = v[valid[first[1]]]
    return out


def bars_of(hourly: pd.DataFrame, hours: int) -> pd.DataFrame:
    """An hourly frame as `hours`-hour bars (coarser_bars; the frame itself at 1h, and an empty frame as it is)."""
    return hourly if hours == 1 or hourly.empty else coarser_bars(hourly, hours)


def block_bars(n: int, hours: int, block_hours: int = 24) -> int:
    """The moving-block bootstrap's block, in bars: a day's, but at least ~6 blocks in the sample (a day's 24 bars
    in one block resample to themselves)."""
    return max(1, min(block_hours // hours, n // 6))


def side_moves(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    """The naive baseline: how far the bar went toward each side's liquidations."""
    return {"long": ((bars["open"] - bars["low"]) / bars["open"]).to_numpy(),
            "short": ((bars["high"] - bars["open"]) / bars["open"]).to_numpy()}


def weighted_distance(est_prices, est_weights, true_prices, true_weights, price: float) -> float:
    """1-Wasserstein distance between two notional-weighted distributions of liquidation price, in % of price."""
    if np.sum(est_weights) <= 0 or np.sum(true_weights) <= 0:
        return float("nan")
    return 100 * stats.wasserstein_distance(np.asarray(est_prices) / price, np.asarray(true_prices) / price,
                                            est_weights, true_weights)


def top_decile_share(snapshots: pd.DataFrame, liquidations: pd.DataFrame) -> float:
    """Share of true liquidated notional whose liquidation price lay in a top-decile bin of the latest
    estimated snapshot before it (same side). snapshots: ts, side, price_low, price_high, notional_usd."""
    if liquidations.empty or snapshots.empty:
        return float("nan")
    hit = np.zeros(len(liquidations), bool)
    times = np.sort(snapshots["ts"].unique())
    at = np.searchsorted(times, liquidations["ts"].to_numpy(), side="right") - 1
    groups = {k: g for k, g in snapshots.groupby(["ts", "side"])}
    for i, (t_i, side, lp) in enumerate(zip(at, liquidations["side"], liquidations["liq_price"])):
        if t_i < 0 or (times[t_i], side) not in groups:
            continue
        g = groups[(times[t_i], side)]
        top = g[g["notional_usd"] >= g["notional_usd"].quantile(0.9)]
        hit[i] = ((top["price_low"] <= lp) & (lp < top["price_high"])).any()
    w = liquidations["notional_usd"].to_numpy()
    return float(w[hit].sum() / w.sum())


PLACEBO_THRESHOLD = 0.004          # DESIGN section 7: max(0, move − 0.4%), a pure function of the move


PATH_COLUMNS = ("path_long", "path_short", "path_range")


def path_moves(bars: pd.DataFrame) -> dict[str, pd.Series]:
    """Each bar's move toward each side and its range, as fractions of its open: summed over the sub-bars of a
    longer bar, the path baseline sees what a prediction made bar by bar on those sub-bars sees."""
    o = bars["open"]
    return {"path_long": (o - bars["low"]) / o, "path_short": (bars["high"] - o) / o,
            "path_range": (bars["high"] - bars["low"]) / o}


def hourly_frame(klines: pd.DataFrame, realised: pd.DataFrame) -> pd.DataFrame:
    """One row per hour (index: bar start, UTC): open, high, low of the klines (one interval: profile.finest_klines
    picks it), the path's sums over those sub-bars (PATH_COLUMNS: the path baseline), and realised liquidated USD (real_long, real_short: liquidation bars or simulated liquidations summed
    per hour; NaN where none were reported). with_predicted adds a model's predictions."""
    if klines.empty:
        return pd.DataFrame(columns=["open", "high", "low", *PATH_COLUMNS, "real_long", "real_short"])
    k = klines.set_index("open_time").sort_index()
    k = k.assign(**path_moves(k))
    g = k.groupby(pd.Grouper(freq="1h"))
    frame = pd.concat([g["open"].first(), g["high"].max(), g["low"].min(), g[list(PATH_COLUMNS)].sum()],
                      axis=1).dropna()
    if len(realised):
        real = realised.assign(hour=realised["ts"].dt.floor("1h")).groupby("hour")[["long_usd", "short_usd"]] \
            .sum(min_count=1).rename(columns={"long_usd": "real_long", "short_usd": "real_short"})
        frame = frame.join(real)
    else:
        frame = frame.assign(real_long=np.nan, real_short=np.nan)
    return frame


def with_predicted(frame: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """An hourly_frame with one model's predictions (ts, side, notional_usd) as pred_long / pred_short: the
    klines and realised part is the same for every model, so a period computes it once. No hours, no rows: the
    frame as it is."""
    if frame.empty:
        return frame
    if predicted.empty:
        return frame.assign(pred_long=np.nan, pred_short=np.nan)
    pred = predicted.assign(hour=predicted["ts"].dt.floor("1h")).pivot_table(
        index="hour", columns="side", values="notional_usd", aggfunc="sum")
    pred = pred.reindex(columns=["long", "short"]).rename(columns=lambda s: f"pred_{s}")
    return frame.join(pred)


def side_scores(frame: pd.DataFrame, hours: int, side: str, pred_col: str | None, block_hours: int = 24,
                min_bars: int = 20, reps: int = 400) -> dict:
    """The per-bar skill protocol (the benchmark's and the validation suite's): on `hours`-hour bars, Spearman of
    a prediction column (None: the naive rule itself) vs realised USD of one side, the naive move-size baseline,
    the flexible partial beyond the move with its moving-block bootstrap 95% CI, and the placebo's partial (a
    pure function of the move: near zero when the control works)."""
    bars = bars_of(frame, hours)
    bars = bars[bars[f"real_{side}"].notna().to_numpy()]        # a mask: dropna(subset=) took 5 times as long
    n = len(bars)
    if n < min_bars:
        return {"value": None, "n": n, "ci95": None,
                "reason": f"{n} {hours}h bar(s) with realised liquidations: at least {min_bars} are needed"}
    move = side_moves(bars)[side]
    real = bars[f"real_{side}"].to_numpy(float)
    pred = move if pred_col is None else bars[pred_col].fillna(0.0).to_numpy(float)
    if np.ptp(real) == 0 or np.ptp(pred) == 0:
        return {"value": None, "n": n, "ci95": None, "reason": "constant prediction or realised series: no ranks"}
    block = block_bars(n, hours, block_hours)
    out = {"value": float(spearman_rows(pred, real)), "n": n,
           "ci95": [float(x) for x in block_bootstrap_ci(spearman_rows, [pred, real], block, reps=reps // 2)],
           "naive": float(stats.spearmanr(move, real).statistic)}
    if pred_col is not None:
        out["partial"] = partial_spearman(pred, real, move)
        out["partial_ci95"] = [float(x) for x in partial_ci(pred, real, move, block=block, reps=reps)]
        out["piecewise"] = partial_spearman(pred, real, move, piecewise=True)
        out["placebo_partial"] = partial_spearman(np.maximum(0.0, move - PLACEBO_THRESHOLD), real, move)
        out.update(path_scores(bars, side, pred, real, move, block, reps))
    return out


def path_scores(bars: pd.DataFrame, side: str, pred: np.ndarray, real: np.ndarray, move: np.ndarray, block: int,
                reps: int) -> dict:
    """The path baseline: what a prediction made on the sub-bars sees without any book. `path_naive` is the rank
    correlation of the path's summed moves toward the side with the realised USD; `partial_beyond_path` the
    prediction's partial beyond the bar's move, the path's moves and the sub-bars' ranges together (flexible in
    each), with its block-bootstrap interval; `path_placebo_partial` the same for a pure function of the path
    (near zero when the control holds)."""
    if not set(PATH_COLUMNS) <= set(bars.columns):
        return {}
    path, ranges = bars[f"path_{side}"].to_numpy(float), bars["path_range"].to_numpy(float)
    controls = [move, path, ranges]
    placebo = np.maximum(0.0, path - np.median(path)) ** 2
    return {"path_naive": float(stats.spearmanr(path, real).statistic),
            "partial_beyond_path": float(partial_beyond_rows(pred, real, *controls)),
            "partial_beyond_path_ci95": [float(x) for x in block_bootstrap_ci(
                partial_beyond_rows, [pred, real, *controls], block, reps // 2)],
            "path_placebo_partial": float(partial_beyond_rows(placebo, real, *controls))}
