"""Pictures: the liquidation heatmap as traders know it (time × price, colour = notional, price over it)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import PowerNorm  # noqa: E402


def heatmap_png(window: pd.DataFrame, title: str, path: Path) -> Path:
    """window: rows (ts, price_low, price_high, usd, price) for both sides; colour is their sum per cell."""
    grid = window.pivot_table(index="price_low", columns="ts", values="usd", aggfunc="sum", fill_value=0.0).sort_index()
    times = pd.to_datetime(grid.columns)
    step = np.median(np.diff(times.values)) if len(times) > 1 else np.timedelta64(1, "h")
    x = np.append(times.values, times.values[-1] + step)
    lows = grid.index.to_numpy(float)
    y = np.append(lows, lows[-1] * (lows[-1] / lows[-2]) if len(lows) > 1 else lows[-1] * 1.0025)
    fig, ax = plt.subplots(figsize=(13, 7), dpi=110)
    mesh = ax.pcolormesh(x, y, grid.to_numpy() / 1e6, cmap="inferno", norm=PowerNorm(0.45), shading="flat")
    price = window.drop_duplicates("ts").sort_values("ts")
    ax.plot(pd.to_datetime(price["ts"]) + step / 2, price["price"], color="#39d0ff", lw=1.6, label="price")
    fig.colorbar(mesh, ax=ax, pad=0.01).set_label("estimated liquidation notional (USD M)")
    ax.set_title(title)
    ax.set_ylabel("price (USDT)")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
