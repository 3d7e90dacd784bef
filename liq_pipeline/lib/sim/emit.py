"""Write a simulation in the exact shapes the real sources have, in the archive's layout, plus the truth.

    futures/um/daily/klines/SYM/1m/SYM-1m-D.zip (+ .CHECKSUM)    12-column kline CSV with header
    futures/um/daily/metrics/SYM/SYM-metrics-D.zip              OI every 5 min, text create_time, interval end
    futures/um/monthly/fundingRate/SYM/SYM-fundingRate-M.zip    calc_time with ms jitter (the simulated days)
    futures/um/daily/aggTrades/SYM/SYM-aggTrades-D.zip          only if the scenario asks (agg_trades)
    forceOrder/forceOrder-D.jsonl                               throttled: ≤ 1 order per symbol per second
    liquidationBars/SYM/30m/SYM-liquidations-simulated-30m.csv  every liquidation summed per 30 min
    truth/positions/SYM/SYM-positions-D.parquet, truth/liquidations/SYM/SYM-liquidations-D.parquet

Zips carry a fixed timestamp and Parquet no creation time, so the same scenario gives the same bytes.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..market import brackets
from ..io import layout
from ..io.parse import AGG_TRADE_COLS, KLINE_COLS, METRICS_COLS
from ..io.rawfiles import sha256_of
from ..io.storage import write_bytes_atomic
from .market import SimResult

ZIP_TIME = (2020, 1, 1, 0, 0, 0)
DAY_MS = 86_400_000


def _zip(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, text)
    return buf.getvalue()


def _write_zip(root: Path, rel, csv_text: str) -> None:
    rel = Path(rel)
    data = _zip(rel.name[:-4] + ".csv", csv_text)
    write_bytes_atomic(root / rel, data)
    write_bytes_atomic(root / rel.with_name(rel.name + ".CHECKSUM"), f"{sha256_of(data)}  {rel.name}\n".encode())


def _parquet(df: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()        # Arrow's own buffer, not a BytesIO (see storage.parquet_source)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def throttle(liqs: pd.DataFrame) -> pd.DataFrame:
    """What the !forceOrder@arr stream pushes: the latest liquidation per symbol in each 1000 ms window."""
    if liqs.empty:
        return liqs
    sec = liqs["ts"] // 1000
    return liqs.loc[liqs.groupby(sec)["ts"].idxmax().to_numpy()].sort_values("ts", kind="stable")


def _force_order_lines(liqs: pd.DataFrame, symbol: str, price_decimals: int = 2, qty_decimals: int = 3) -> str:
    lines = []
    for r in liqs.itertuples(index=False):
        qty = f"{r.qty:.{qty_decimals}f}"
        lines.append(json.dumps({"e": "forceOrder", "E": int(r.ts) + 3, "o": {
            "s": symbol, "S": "SELL" if r.side == "long" else "BUY", "o": "LIMIT", "f": "IOC", "q": qty,
            "p": f"{r.price:.{price_decimals}f}", "ap": f"{r.avg_price:.{price_decimals}f}", "X": "FILLED", "l": qty, "z": qty, "T": int(r.ts)}},
            separators=(",", ":")))
    return "\n".join(lines) + ("\n" if lines else "")


def write_mirror(res: SimResult, root: Path) -> None:
    sc, sym = res.scenario, res.scenario.symbol
    t0 = int(pd.Timestamp(sc.start_date, tz="UTC").value // 10**6)
    k, pd_, qd = res.klines, sc.price_decimals, sc.qty_decimals
    kl = pd.DataFrame({
        "open_time": k.open_time, "open": k.open.round(pd_), "high": k.high.round(pd_), "low": k.low.round(pd_),
        "close": k.close.round(pd_), "volume": k.volume.round(qd), "close_time": k.open_time + sc.interval_s * 1000 - 1,
        "quote_volume": k.quote_volume.round(4), "count": k.trades, "taker_buy_volume": k.taker_buy_volume.round(qd),
        "taker_buy_quote_volume": k.taker_buy_quote_volume.round(4), "ignore": 0})
    # rounding to the tick can put open/close a hair outside high/low: widen high/low, as the exchange's would be
    kl["high"] = kl[["open", "high", "close"]].max(axis=1)
    kl["low"] = kl[["open", "low", "close"]].min(axis=1)
    kl["taker_buy_volume"] = np.minimum(kl.taker_buy_volume, kl.volume)
    kl["taker_buy_quote_volume"] = np.minimum(kl.taker_buy_quote_volume, kl.quote_volume)
    interval = sc.interval
    oi, liqs, pos = res.open_interest, res.liquidations, res.positions
    forced = throttle(liqs)
    edges = t0 + np.arange(sc.days + 1, dtype=np.int64) * DAY_MS

    def days_of(frame: pd.DataFrame, col: str):
        """Each day's rows of a frame sorted by `col`, as slices: masking a year of position snapshots
        (33M rows) once per day cost more than writing them."""
        at = np.searchsorted(frame[col].to_numpy(), edges)
        return [frame.iloc[at[d]:at[d + 1]] for d in range(sc.days)]

    kl_days, oi_days, forced_days, liq_days, pos_days = (
        days_of(kl, "open_time"), days_of(oi, "ts"), days_of(forced, "ts"), days_of(liqs, "ts"), days_of(pos, "ts"))
    agg_days = days_of(res.agg_trades, "transact_time") if res.agg_trades is not None else None
    for d in range(sc.days):
        day = sc.start_date + dt.timedelta(days=d)
        part = kl_days[d]
        _write_zip(root, layout.archive_file("klines", sym, "daily", day, interval),
                   part.to_csv(index=False, header=KLINE_COLS, float_format="%.10g"))
        o = oi_days[d]
        metrics = pd.DataFrame({"create_time": pd.to_datetime(o.ts, unit="ms").dt.strftime("%Y-%m-%d %H:%M:%S"),
                                "symbol": sym, "sum_open_interest": o.oi_contracts.round(qd),
                                "sum_open_interest_value": o.oi_usd.round(2)})
        for c in METRICS_COLS[4:]:
            metrics[c] = ""
        _write_zip(root, layout.archive_file("metrics", sym, "daily", day), metrics.to_csv(index=False))
        f = forced_days[d]
        write_bytes_atomic(root / layout.force_order_tape(day), _force_order_lines(f, sym, max(2, pd_), qd).encode())
        lq = liq_days[d]
        truth = lq.assign(ts=pd.to_datetime(lq.ts, unit="ms", utc=True).astype("datetime64[ms, UTC]"), symbol=sym)
        write_bytes_atomic(root / "truth" / "liquidations" / sym / f"{sym}-liquidations-{day}.parquet", _parquet(truth))
        if agg_days is not None:
            a = agg_days[d]
            out = pd.DataFrame({"agg_trade_id": a.agg_trade_id, "price": a.price.round(pd_), "quantity": a.quantity.round(qd),
                                "first_trade_id": a.agg_trade_id, "last_trade_id": a.agg_trade_id,
                                "transact_time": a.transact_time,
                                "is_buyer_maker": np.where(a.is_buyer_maker, "true", "false")})
            out = out[out.quantity > 0]
            _write_zip(root, layout.archive_file("aggTrades", sym, "daily", day), out.to_csv(index=False, header=AGG_TRADE_COLS))
        ps = pos_days[d]
        ps = ps.assign(ts=pd.to_datetime(ps.ts, unit="ms", utc=True).astype("datetime64[ms, UTC]"), symbol=sym)
        write_bytes_atomic(root / "truth" / "positions" / sym / f"{sym}-positions-{day}.parquet", _parquet(ps))
    fu = res.funding
    months = pd.to_datetime(fu.calc_time, unit="ms").dt.strftime("%Y-%m")
    for month, g in fu.groupby(months):
        _write_zip(root, layout.archive_file("fundingRate", sym, "monthly", dt.date.fromisoformat(month + "-01")),
                   g[["calc_time"]].assign(funding_interval_hours=g.interval_hours, last_funding_rate=g.funding_rate.round(8))
                   .to_csv(index=False, float_format="%.8g"))
    bars = liqs.assign(bar=(liqs.ts // 1_800_000) * 1_800_000)
    agg = bars.pivot_table(index="bar", columns="side", values="notional_usd", aggfunc="sum", fill_value=0.0)
    grid = pd.DataFrame(index=pd.RangeIndex(t0, t0 + sc.days * DAY_MS, 1_800_000))
    agg = grid.join(agg).fillna(0.0)
    out = pd.DataFrame({"timestamp": pd.to_datetime(agg.index, unit="ms").strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "long_usd": agg.get("long", 0.0).round(2), "short_usd": agg.get("short", 0.0).round(2)})
    write_bytes_atomic(root / layout.liquidation_bars_dir(sym) / "30m" / f"{sym}-liquidations-simulated-30m.csv",
                       out.to_csv(index=False).encode())
    write_bytes_atomic(root / "scenario.json", json.dumps({
        "scenario": {k: v for k, v in res.scenario.__dict__.items()}, "regimes": [str(r) for r in res.regimes],
        "leverage_mix": dict(zip(map(str, res.scenario.leverages), np.round(res.leverage_mix, 6).tolist())),
        "brackets": brackets.resolve(sym, sc.start_date, fallback=True)[1]},
        indent=2, default=list).encode())
