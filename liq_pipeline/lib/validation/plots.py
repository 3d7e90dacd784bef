"""Pictures: the liquidation heatmap as traders know it (time × price, longs and shorts in their own colours,
clusters standing out, price and real liquidations over it), the per-bar skill scatter and the hit-rate grid
(PNG with matplotlib's object API: no pyplot, no process-wide backend), and an interactive page (plotly).
"""
from __future__ import annotations

import io

from pathlib import Path

import numpy as np
import pandas as pd

# Longs (below price) in blues, shorts (above) in oranges, each from dim to bright on a dark background, as the
# commercial heatmaps draw them; cells under the background level are left transparent.
SIDE_COLOURS = {"long": ["#0c2340", "#1565c0", "#4fc3f7", "#e1f5fe"], "short": ["#3e1a06", "#e65100", "#ffb74d", "#fff8e1"]}


def side_cmap(side: str):
    from matplotlib.colors import LinearSegmentedColormap
    return LinearSegmentedColormap.from_list(f"liq_{side}", SIDE_COLOURS[side]).with_extremes(under=(0, 0, 0, 0),
                                                                                            bad=(0, 0, 0, 0))


# Each picture's axes by fixed margins (figure fractions), not matplotlib's constrained layout: measuring every
# tick label to place the axes was a third of a picture's time (`liq heatmap --format png`, each month's report).
# tests/test_validation.py checks that nothing falls off a picture or under another part of it.
HEATMAP_MARGINS = {"left": 0.065, "right": 0.80, "bottom": 0.11, "top": 0.95, "hspace": 0.06}
TITLE_LINE = 0.03                       # a title line's height, as a share of the heatmap figure's
HEATMAP_COLORBARS = (0.905, 0.815)      # the heatmap's colour bars (longs, then shorts): each one's left edge
TWO_PANEL_MARGINS = {"left": 0.075, "right": 0.985, "bottom": 0.12, "top": 0.86, "wspace": 0.24}
GRID_MARGINS = {"left": 0.15, "right": 0.97, "bottom": 0.14, "top": 0.9}


def _figure(width: float, height: float, margins: dict, rows: int = 1, ratios=None, cols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=cols == 1, gridspec_kw={"height_ratios": ratios} if ratios else None)
    fig.subplots_adjust(**margins)
    return fig, axes


def _save(fig, path: Path) -> Path:
    """The PNG, written atomically (locally or to object storage)."""
    from ..io.storage import write_bytes_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())
    return path


def cluster_range(values: np.ndarray) -> tuple[float, float] | None:
    """The colour range on which clusters stand out: from the lower quartile of non-zero cells (the background) to
    the 99.5th percentile (the strongest clusters saturate instead of washing everything else out). None: no
    non-zero cell."""
    nz = values[values > 0]
    if not len(nz):
        return None
    lo, hi = np.percentile(nz, [25, 99.5])
    return max(lo, hi / 1e4, 1e-9), max(hi, lo * 10)


def cluster_norm(values: np.ndarray):
    """cluster_range as a logarithmic matplotlib norm."""
    from matplotlib.colors import LogNorm

    return LogNorm(*(cluster_range(values) or (1, 10)))


def grids(window: pd.DataFrame):
    """(times, bucket lows, bucket edges, time edges, per-side price × time grids of USD) of a window."""
    lows = np.sort(window["price_low"].unique())
    highs = window.groupby("price_low")["price_high"].first().reindex(lows).to_numpy(float)
    times = pd.to_datetime(np.sort(window["ts"].unique()), utc=True)
    step = (times[1:] - times[:-1]).median() if len(times) > 1 else pd.Timedelta(hours=1)
    t_edges = np.append(times.to_numpy(), (times[-1] + step).to_datetime64())
    y_edges = np.append(lows, highs[-1])
    out = {}
    for side in ("long", "short"):
        w = window[window["side"] == side]
        out[side] = w.pivot_table(index="price_low", columns="ts", values="usd", aggfunc="sum") \
            .reindex(index=lows, columns=times).fillna(0.0).to_numpy()
    return times, lows, y_edges, t_edges, step, out


def _utc64(ts: pd.Series) -> np.ndarray:
    """Times as naive UTC datetime64, the form matplotlib converts in one array operation (tz-aware times it
    converts one Timestamp at a time: a month's liquidation events took a third of the heatmap's time)."""
    return pd.to_datetime(ts, utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")


def heatmap_png(window: pd.DataFrame, title: str, path: Path, events: pd.DataFrame | None = None,
                realised: pd.DataFrame | None = None, kind: str = "real") -> Path:
    """window: rows (ts, side, price_low, price_high, usd, price). The price axis spans every level shown;
    `events` (ts, side, price, notional_usd) are drawn over it; `realised` (ts, long_usd, short_usd) per bar
    in a panel below."""
    return _save(heatmap_figure(window, title, events, realised, kind), path)


def heatmap_figure(window: pd.DataFrame, title: str, events: pd.DataFrame | None = None,
                   realised: pd.DataFrame | None = None, kind: str = "real"):
    """heatmap_png's figure."""
    times, lows, y_edges, t_edges, step, g = grids(window)
    panel = realised is not None and len(realised) > 0
    # the margins are fixed (a tight layout costs a second draw): a title of several lines lowers the top by a line each
    margins = {**HEATMAP_MARGINS, "top": HEATMAP_MARGINS["top"] - TITLE_LINE * title.count("\n")}
    fig, axes = _figure(13, 8 if panel else 7, margins, 2 if panel else 1, [4, 1] if panel else None)
    ax = axes[0] if panel else axes
    ax.set_facecolor("#0b0b14")
    bottom, top = margins["bottom"], margins["top"]
    for side, left in zip(("long", "short"), HEATMAP_COLORBARS):
        grid = np.ma.masked_less_equal(g[side] / 1e6, 0)
        if grid.count():
            mesh = ax.pcolormesh(t_edges, y_edges, grid, cmap=side_cmap(side), norm=cluster_norm(grid.compressed()),
                                 shading="flat")
            bar = fig.colorbar(mesh, cax=fig.add_axes((left, bottom, 0.016, top - bottom)), extend="min")
            bar.set_label(f"{side}s: liquidation notional (USD M)", fontsize=8)
    price = window.drop_duplicates("ts").sort_values("ts")
    ax.plot(_utc64(price["ts"]) + (step / 2).to_timedelta64(), price["price"], color="#f5f5f5", lw=1.3, label="price")
    if events is not None and len(events):
        for side, colour in (("long", "#00e5ff"), ("short", "#ff3d7f")):
            e = events[events["side"] == side]
            if len(e):
                size = 4 + 40 * np.sqrt(e["notional_usd"] / max(events["notional_usd"].max(), 1))
                ax.scatter(_utc64(e["ts"]), e["price"], s=size, color=colour, edgecolors="black", linewidths=0.3,
                           label=f"{kind} {side} liquidations", zorder=3)
    occupied = (g["long"] > 0).any(axis=1) | (g["short"] > 0).any(axis=1)
    lo = min(lows[occupied].min() if occupied.any() else price["price"].min(), price["price"].min())
    hi = max(y_edges[1:][occupied].max() if occupied.any() else price["price"].max(), price["price"].max())
    ax.set_ylim(lo * 0.998, hi * 1.002)
    ax.set_xlim(t_edges[0], t_edges[-1])
    ax.set_title(title)
    ax.set_ylabel("price (USDT)")
    ax.legend(loc="upper left", fontsize=8, facecolor="#222", labelcolor="white")
    if panel:
        # one filled step outline per side: a month of 5-minute bars as bar patches is thousands of artists
        r = realised.sort_values("ts")
        axes[1].fill_between(_utc64(r["ts"]), r["long_usd"].fillna(0) / 1e6, step="mid", lw=0, color="#1f77b4",
                             label="longs liquidated")
        axes[1].fill_between(_utc64(r["ts"]), -r["short_usd"].fillna(0) / 1e6, step="mid", lw=0, color="#ff7f0e",
                             label="shorts liquidated")
        axes[1].set_ylabel(f"{kind} USD M")
        axes[1].legend(loc="upper left", fontsize=8)
    # the dates slanted as autofmt_xdate slants them; it would also move the bottom margin the layout fixes
    for label in (axes[-1] if panel else ax).get_xticklabels():
        label.set(rotation=30, horizontalalignment="right")
    return fig


def usd_label(value: float, _pos=None) -> str:
    """A log axis' decade in plain USD: 1k, 10k, 1M, 100M, 1B."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:g}{unit}"
    return f"{value:g}"


def usd_log_axes(ax) -> None:
    """Both axes logarithmic, decades only, labelled in plain USD (1k, 10M). The default minor ticks and 10^n labels
    (through matplotlib's mathtext) were most of a log-log figure's time (the reliability curve: 2.2 s → 0.7 s)."""
    from matplotlib.ticker import FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(usd_label))
        axis.set_minor_locator(NullLocator())


def skill_scatter(frame: pd.DataFrame, title: str, path: Path) -> Path:
    """Predicted vs realised liquidated USD per 1h bar, by side (log axes). A bar with no liquidation, or none
    predicted, is drawn at the floor ($1k): log axes have no zero, and the column of points there is those bars."""
    fig, axes = _figure(11, 5, TWO_PANEL_MARGINS, cols=2)
    for ax, side, colour in zip(axes, ("long", "short"), ("#1f77b4", "#ff7f0e")):
        f = frame.dropna(subset=[f"real_{side}"])
        x, y = f[f"pred_{side}"].fillna(0).to_numpy(float), f[f"real_{side}"].to_numpy(float)
        floor = 1e3
        ax.scatter(np.maximum(x, floor), np.maximum(y, floor), s=6, alpha=0.5, color=colour)
        ax.axhline(floor, color="#999", lw=0.5, ls=":")
        ax.axvline(floor, color="#999", lw=0.5, ls=":")
        usd_log_axes(ax)
        ax.set_xlabel(f"predicted {side} USD per 1h bar (zero bars at the dotted 1k floor)")
        ax.set_ylabel(f"realised {side} USD per 1h bar")
        ax.set_title(f"{side} (n={len(f)})")
    fig.suptitle(title)
    return _save(fig, path)


def hit_grid_png(grid: dict, lookbacks, tolerances, title: str, path: Path) -> Path:
    """The hit-rate grid (lookback × tolerance) as a coloured table."""
    values = np.array([[grid[f"{lb}m|{tol:.2f}%"]["all"]["hit_rate"] or 0.0 for tol in tolerances] for lb in lookbacks])
    fig, ax = _figure(6, 4, GRID_MARGINS)
    im = ax.imshow(values * 100, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i in range(len(lookbacks)):
        for j in range(len(tolerances)):
            ax.text(j, i, f"{values[i, j] * 100:.1f}%", ha="center", va="center",
                    color="white" if values[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(tolerances)), [f"{t:.2f}%" for t in tolerances])
    ax.set_yticks(range(len(lookbacks)), [f"{lb}m" for lb in lookbacks])
    ax.set_xlabel("tolerance")
    ax.set_ylabel("lookback")
    ax.set_title(title)
    fig.colorbar(im, ax=ax).set_label("hit rate (%)")
    return _save(fig, path)


def _log_ticks(lo: float, hi: float) -> np.ndarray:
    """1-2-5 ticks between lo and hi (a log colour scale labelled in USD M, not in logs)."""
    decades = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    ticks = np.array([m * 10 ** d for d in decades for m in (1, 2, 5)])
    inside = ticks[(ticks >= lo) & (ticks <= hi)]
    return inside if len(inside) >= 2 else np.array([lo, hi])


def heatmap_html(window: pd.DataFrame, title: str, path: Path) -> Path:
    """One self-contained interactive page (plotly, its JavaScript inlined): zoom, and hover with time, price
    bucket, side and USD; longs and shorts in their own colour scales, the price line over them."""
    import plotly.graph_objects as go

    times, lows, y_edges, _, _, g = grids(window)
    mids = (y_edges[:-1] + y_edges[1:]) / 2
    fig = go.Figure()
    # one hover text for both layers (the top layer takes the hover even where it is empty): the sides that
    # have notional in the cell, each with its USD
    fmt = np.vectorize(lambda v, side: f"{side}s {v:,.2f} USD M" if v > 0 else "")
    long_txt, short_txt = fmt(g["long"] / 1e6, "long"), fmt(g["short"] / 1e6, "short")
    text = np.where((long_txt != "") & (short_txt != ""), np.char.add(np.char.add(long_txt, "<br>"), short_txt),
                    np.char.add(long_txt, short_txt))
    text = np.where(text == "", "no estimated positions", text)
    for side in ("long", "short"):
        scale = [[i / (len(SIDE_COLOURS[side]) - 1), c] for i, c in enumerate(SIDE_COLOURS[side])]
        z = g[side] / 1e6
        bounds = cluster_range(z)
        if bounds is None:
            continue
        lo, hi = bounds
        logz = np.where(z >= lo, np.log10(np.maximum(z, lo)), np.nan)     # the background stays transparent
        fig.add_trace(go.Heatmap(
            x=times, y=mids, z=logz, text=text, name=side, colorscale=scale, zmin=np.log10(lo), zmax=np.log10(hi),
            colorbar=dict(title=dict(text=f"{side}s<br>USD M", side="top"), x=1.0 if side == "long" else 1.09,
                          tickvals=np.log10(ticks := _log_ticks(lo, hi)), ticktext=[f"{t:g}" for t in ticks]),
            hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>price %{y:,.1f}<br>%{text}<extra></extra>"))
    price = window.drop_duplicates("ts").sort_values("ts")
    fig.add_trace(go.Scatter(x=pd.to_datetime(price["ts"]), y=price["price"], mode="lines", name="price",
                             line=dict(color="white", width=1.5),
                             hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>price %{y:,.1f}<extra></extra>"))
    fig.update_layout(title=title.replace("\n", "<br>"), template="plotly_dark", yaxis_title="price (USDT)", height=720,
                      legend=dict(x=0, y=1))
    from ..io.storage import write_bytes_atomic

    write_bytes_atomic(path, fig.to_html(include_plotlyjs=True, full_html=True).encode())
    return path


def reliability_png(cells: dict, title: str, path: Path) -> Path:
    """The calibration's reliability curve: mean realised against mean predicted USD per decile of the prediction,
    per side (log axes), with the diagonal where a calibrated map would sit. Log axes have no zero: the deciles of
    bars predicted $0 are drawn at the $1 floor (the column of points at the left), and the floor is marked."""
    fig, axes = _figure(11, 5, TWO_PANEL_MARGINS, cols=2)
    for ax, side, colour in zip(axes, ("long", "short"), ("#1f77b4", "#ff7f0e")):
        curve = (cells.get(side) or {}).get("reliability_curve") or []
        x = np.array([max(c["predicted_usd"], 1.0) for c in curve])
        y = np.array([max(c["realised_usd"], 1.0) for c in curve])
        if len(x):
            ax.plot(x, y, "o-", color=colour)
            lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
            ax.plot([lo, hi], [lo, hi], color="#999", lw=0.8, ls="--", label="calibrated")
            ax.axvline(1.0, color="#999", lw=0.5, ls=":", label="the 1 USD floor: deciles predicted 0")
            usd_log_axes(ax)
            ax.legend(loc="upper left", fontsize=8)
        ratio = (cells.get(side) or {}).get("total_ratio")
        ax.set_title(f"{side}: predicted/realised total {ratio:.2f}" if ratio else side)
        ax.set_xlabel("mean predicted USD per bar (decile; 0 drawn at the 1 USD floor)")
        ax.set_ylabel("mean realised USD per bar")
    fig.suptitle(title)
    return _save(fig, path)
