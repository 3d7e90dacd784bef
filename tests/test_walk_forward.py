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
