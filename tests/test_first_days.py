"""Any day can be a first day: on every day of the real OI window, a pipeline that starts there (with the history
the source has before it replayed into the book, or with none at all) passes every model gate on that day."""
import datetime as dt

import pandas as pd
import pytest

from bench.realdata import load
from liq_pipeline.lib.market import brackets
from liq_pipeline.lib import params
from liq_pipeline.lib.io import quality, schemas
from liq_pipeline.lib.market.liqprice import BracketArrays
from liq_pipeline.lib.model.config import ModelConfig
from liq_pipeline.lib.model.estimate import estimate_day, replay_history
from liq_pipeline.lib.model.levels import rollup
from liq_pipeline.lib.model.profile import PROFILE_DAYS, trailing_profile

FIRST, LAST = dt.date(2026, 4, 5), dt.date(2026, 6, 22)      # the days with 5-minute OI in ../shared/data/real
TABLES = ("heatmap", "heatmap_levels", "predicted_liquidations", "model_snapshots")


@pytest.fixture(scope="module")
def market(real):
    frames = load(real, "2026-0[4-7]")
    return frames["klines"], frames["oi"], frames["funding"]


def _first_day(market, day: dt.date, with_history: bool):
    kl, oi, fu = market
    start, end = pd.Timestamp(day, tz="UTC"), pd.Timestamp(day + dt.timedelta(days=1), tz="UTC")
    since = start - pd.Timedelta(days=PROFILE_DAYS)
    br = BracketArrays.of(brackets.load("BTCUSDT", day))
    cfg = ModelConfig()        # what the pipeline runs on real data
    past = kl[(kl.open_time >= since) & (kl.open_time < start)] if with_history else kl.head(0)
    prev, days = replay_history(past, oi[(oi.ts >= since) & (oi.ts < start)], fu[(fu.ts >= since) & (fu.ts < start)],
                                cfg, br) if with_history else (None, 0)
    yesterday = start - pd.Timedelta(days=1)
    est = estimate_day(day, kl[(kl.open_time >= start) & (kl.open_time < end)],
                       oi[(oi.ts >= yesterday) & (oi.ts < end)], fu[(fu.ts >= yesterday) & (fu.ts < end)],
                       trailing_profile(past)[0], prev, cfg, br)
    out = {"heatmap": est.heatmap, "heatmap_levels": rollup(est.heatmap), "predicted_liquidations": est.predicted,
           "model_snapshots": est.snapshots}
    return est, days, {t: schemas.conform(df.assign(symbol="BTCUSDT", config_key="k"), t) for t, df in out.items()}


@pytest.mark.parametrize("with_history", [False, True], ids=["cold", "replayed history"])
def test_every_day_of_the_real_oi_window_passes_every_gate_as_a_first_day(market, with_history):
    days = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    frames = {t: {} for t in TABLES}
    warmth = {}
    for day in days:
        est, warmth[day], out = _first_day(market, day, with_history)
        assert est.cold_start is not with_history or day == FIRST     # the window's first day has no history
        for t in TABLES:
            frames[t][day] = out[t]
    # no estimate only where the source has no OI at all since the day before (06-16..06-19), never a made-up one
    oi = market[1]
    no_oi = {d for d in days if not oi.ts.between(pd.Timestamp(d, tz="UTC") - pd.Timedelta(days=1),
                                                  pd.Timestamp(d, tz="UTC") + pd.Timedelta(days=1)).any()}
    empty = {d for d in days if not len(frames["heatmap"][d])}
    assert empty <= no_oi and len(empty) < 5, sorted(empty)
    if with_history:   # as much history as the data has, up to the profile's window
        assert warmth[FIRST] == 0 and warmth[FIRST + dt.timedelta(days=3)] == 3 and warmth[LAST] == PROFILE_DAYS
    for t in TABLES:
        suite = t if t.startswith("model_") else f"model_{t}"
        failed = {d: r.summary() for d, r in quality.run_suite_by_partition(suite, frames[t]).items() if not r.success}
        assert not failed, failed


def test_the_history_a_first_day_gets_is_what_the_source_has_before_it_without_a_gap(real, tmp_path):
    from liq_pipeline.lib.sim.scenario import Scenario
    from liq_pipeline.lib.sim.source import SimulatedSource
    from liq_pipeline.lib.plan import history_to_pull
    from liq_pipeline.lib.sources.base import history_days
    from liq_pipeline.lib.sources.mirror import FilesSource
    from liq_pipeline.lib.io.storage import DataLayout

    files = FilesSource(tmp_path / "raw", real)

    def span(first):
        days = history_days(files, "BTCUSDT", first, PROFILE_DAYS)
        return (days[0], days[-1], len(days)) if days else ()

    assert span(FIRST) == ()                                                  # the OI files start there
    assert span(dt.date(2026, 4, 10)) == (FIRST, dt.date(2026, 4, 9), 5)
    assert span(dt.date(2026, 5, 20)) == (dt.date(2026, 4, 20), dt.date(2026, 5, 19), PROFILE_DAYS)
    assert span(dt.date(2026, 6, 23)) == (dt.date(2026, 6, 20), dt.date(2026, 6, 22), 3)   # no metrics file for 06-19
    assert not list((tmp_path / "raw").rglob("*.zip"))                        # found without pulling anything
    sim = SimulatedSource(tmp_path / "raw", Scenario.default(seed=1, start="2026-04-05", days=3))
    assert history_days(sim, "BTCUSDT", dt.date(2026, 4, 5), PROFILE_DAYS) == []
    assert history_days(sim, "BTCUSDT", dt.date(2026, 4, 7), PROFILE_DAYS) == [dt.date(2026, 4, 5), dt.date(2026, 4, 6)]
    # a data root that already holds the day before pulls nothing
    layout = DataLayout(tmp_path / "data")
    assert len(history_to_pull(layout, files, "BTCUSDT", dt.date(2026, 4, 10))) == 5
    layout.write(pd.DataFrame({"x": [1]}), "clean", "klines", "BTCUSDT", dt.date(2026, 4, 9))
    assert history_to_pull(layout, files, "BTCUSDT", dt.date(2026, 4, 10)) == []


def test_a_run_asks_the_source_for_every_day_first_and_each_source_says_where_its_days_come_from(real, tmp_path):
    """`liq run` refuses a range with a day the source lacks before any partition: the real samples' OI has a gap
    (no metrics files 2026-06-15..19) and ends 06-22, though their klines go on to 07-31."""
    from liq_pipeline.lib.sim.scenario import Scenario
    from liq_pipeline.lib.sim.source import SimulatedSource
    from liq_pipeline.lib.sources.auto import AutoSource
    from liq_pipeline.lib.sources.archive import ArchiveSource
    from liq_pipeline.lib.sources.base import missing_days
    from liq_pipeline.lib.sources.binance_rest import OI_HISTORY_DAYS, BinanceRestSource
    from liq_pipeline.lib.sources.mirror import FilesSource

    june = [dt.date(2026, 6, 10) + dt.timedelta(days=i) for i in range(16)]          # 06-10..06-25
    files = FilesSource(tmp_path / "raw", real)
    lacking = missing_days(files, "BTCUSDT", june)
    assert lacking == [dt.date(2026, 6, d) for d in (15, 16, 17, 18, 19, 23, 24, 25)]
    assert params.describe_days(lacking) == "2026-06-15..2026-06-19, 2026-06-23..2026-06-25"
    assert files.where_days("BTCUSDT") == f"looked in {real / 'futures/um'}"
    assert not list((tmp_path / "raw").rglob("*.zip"))                        # found without pulling anything

    sim = SimulatedSource(tmp_path / "raw", Scenario.default(seed=1, start="2026-04-05", days=3))
    assert missing_days(sim, "BTCUSDT", [dt.date(2026, 4, d) for d in range(4, 9)]) == [dt.date(2026, 4, 4),
                                                                                     dt.date(2026, 4, 8)]
    assert sim.where_days("BTCUSDT").endswith("2026-04-05..2026-04-07")
    today = dt.date(2026, 11, 23)
    rest = BinanceRestSource(tmp_path / "raw", "http://127.0.0.1:9", today=today)
    assert missing_days(rest, "BTCUSDT", [today - dt.timedelta(days=n) for n in (OI_HISTORY_DAYS + 1, OI_HISTORY_DAYS, 1, 0)]) \
        == [today - dt.timedelta(days=OI_HISTORY_DAYS + 1), today]
    auto = AutoSource(ArchiveSource(tmp_path / "raw", "http://127.0.0.1:9"), rest)
    assert "--source archive has older days" in rest.where_days("BTCUSDT") and \
        auto.where_days("BTCUSDT").startswith("the archive (looked in http://127.0.0.1:9/futures/um), else Binance REST")
