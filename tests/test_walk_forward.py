"""The walk-forward protocol (bench/walk_forward.py) on any root and window of real data, against any interval of
liquidation bars: a vendor's 4h series (Coinglass's Binance-only BTC comes so) is scored at 4h only, with the same
figures as the same liquidations in 30-minute bars, and every choice is made on days before the fold it is used on."""
import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import realdata  # noqa: E402
import walk_forward as wf  # noqa: E402

START, END = dt.date(2026, 4, 5), dt.date(2026, 4, 28)
CANDIDATES = {"decay_half_life_hours": [24.0, 72.0], "flow_weight": [1.0]}


@pytest.fixture(scope="module")
def root(real, tmp_path_factory):
    """The real samples' klines, OI and funding, with their 30-minute and daily liquidation bars and the 30-minute
    ones summed to 4h."""
    root = tmp_path_factory.mktemp("root")
    (root / "futures").symlink_to(real / "futures")
    bars = root / "liquidationBars/BTCUSDT"
    bars.mkdir(parents=True)
    for iv in ("30m", "1d"):
        (bars / iv).symlink_to(real / "liquidationBars/BTCUSDT" / iv)
    b30 = realdata.load(real, "2026-04")["bars_30m"]
    four = b30.groupby(b30.ts.dt.floor("4h"))[["long_usd", "short_usd"]].sum().rename_axis("timestamp").reset_index()
    four["timestamp"] = four["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    (bars / "4h").mkdir()
    four.to_csv(bars / "4h/BTCUSDT-liquidations-binance-4h.csv", index=False)
    return root


def test_a_vendors_4h_bars_are_scored_at_4h_as_the_same_liquidations_in_30m_bars(root, monkeypatch):
    data = realdata.load(root, "2026-04")
    made, predictions = {}, wf.predictions          # the two runs share one estimate per configuration

    def once(data, cfg, start, end):
        if cfg not in made:
            made[cfg] = predictions(data, cfg, start, end)
        return made[cfg]
    monkeypatch.setattr(wf, "predictions", once)
    assert set(data["bars_4h"].venue) == {"binance"}
    printed = []
    fine = wf.run(data, START, END, n_folds=1, fold_days=5, bars="30m", candidates=CANDIDATES, out=lambda *a: None)
    coarse = wf.run(data, START, END, n_folds=1, fold_days=5, bars="4h", candidates=CANDIDATES, out=printed.append)
    assert {h for h, _, _ in fine} == {1, 4} and {h for h, _, _ in coarse} == {4}
    assert set(coarse) == {k for k in fine if k[0] == 4}
    for key, s in coarse.items():
        assert s["n"] == fine[key]["n"] == 30                    # 5 test days of 6 bars
        for name in ("spearman", "naive", "partial"):
            assert s[name] == pytest.approx(fine[key][name], abs=1e-12), (key, name)
    # the configuration is chosen on the days before the fold, never on it
    assert any("fit 2026-04-12..2026-04-23  test 2026-04-24..2026-04-28" in line for line in printed), printed
    assert any("liquidation bars of 4h (binance), scored at 4h" in line for line in printed)


def test_a_window_too_short_for_its_folds_or_bars_without_4h_multiples_are_refused(root):
    with pytest.raises(SystemExit, match="leave 5 fit day"):
        wf.folds(START, END, 2, 6)
    assert wf.folds(START, END, 1, 5) == [(dt.date(2026, 4, 24), END)]
    data = realdata.load(root, "2026-04")
    quiet = dict(candidates=CANDIDATES, out=lambda *a: None)
    with pytest.raises(SystemExit, match=r"--bars 1h: no liquidationBars/BTCUSDT/1h/\*.csv in the root \(it has: 1d, 30m, 4h\)"):
        wf.run(data, START, END, 1, 5, bars="1h", **quiet)
    with pytest.raises(SystemExit, match="chosen on 4h bars, which 1d bars cannot make"):
        wf.run(data, START, END, 1, 5, bars="1d", **quiet)


def test_the_placebo_is_a_function_of_each_bars_own_move():
    """Summed into 4h bars, the placebo is the 4h move where it passes 1 % (else 0), not the hourly moves' sum: that
    one is a function of the path, which scores beyond a 4h bar's move whatever the control."""
    import numpy as np
    import pandas as pd
    from liq_pipeline.lib.validation.skill import bars_of, side_moves
    rng = np.random.default_rng(2)
    idx = pd.date_range("2026-04-05", periods=48, freq="1h", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.008, 48)))
    opn = np.r_[100.0, close[:-1]]
    hourly = pd.DataFrame({"open": opn, "high": np.maximum(opn, close) * 1.004, "low": np.minimum(opn, close) * 0.996,
                           "real_long": 1.0, "real_short": 1.0}, index=idx)
    for hours in (1, 4):
        bars = bars_of(wf.move_placebo(hourly, hours), hours)
        for side, move in side_moves(bars).items():
            assert np.array_equal(bars[f"pred_{side}"].to_numpy(), np.where(move > 0.01, move, 0.0))
            assert (move > 0.01).any() and (move <= 0.01).any()
    # the path placebo differs at 4h: the hours' moves summed are not the bar's move
    hour_moves = side_moves(hourly)["long"]
    path = bars_of(hourly.assign(pred_long=np.where(hour_moves > 0.01, hour_moves, 0.0)), 4)["pred_long"]
    assert not np.array_equal(path.to_numpy(), bars_of(wf.move_placebo(hourly, 4), 4)["pred_long"].to_numpy())
