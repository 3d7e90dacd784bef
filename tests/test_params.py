import datetime as dt

import pytest

from liq_pipeline.lib import params
from liq_pipeline.lib.params import ParameterError, parse_date_range, parse_interval, parse_symbols


def test_symbols_are_normalised_and_deduplicated():
    assert parse_symbols("btcusdt, ETHUSDT,BTCUSDT") == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.parametrize("bad", ["../etc", "BTC/USDT", "BTC USDT", "", "A", "X" * 21, "BTC;rm"])
def test_symbols_that_could_be_paths_or_code_are_rejected(bad):
    with pytest.raises(ParameterError, match="symbol"):
        parse_symbols(bad)


def test_impossible_date_ranges_name_the_parameter():
    with pytest.raises(ParameterError, match="end 2026-04-01 is before start 2026-04-05"):
        parse_date_range("2026-04-05", "2026-04-01")
    with pytest.raises(ParameterError, match="start: '2026-13-01'"):
        parse_date_range("2026-13-01", "2026-04-01")
    with pytest.raises(ParameterError, match="before 2019-09-08"):
        parse_date_range("2018-01-01", "2018-01-02")
    with pytest.raises(ParameterError, match="not a finished UTC day"):
        parse_date_range("2026-04-01", "2026-04-10", today=dt.date(2026, 4, 10))
    assert len(parse_date_range("2026-04-01", "2026-04-10", today=dt.date(2026, 4, 11))) == 10


def test_interval_must_be_a_binance_interval():
    assert parse_interval("1h") == "1h"
    with pytest.raises(ParameterError, match="intervals: '7m'"):
        parse_interval("7m", "intervals")


D0 = dt.date(2026, 4, 5)


@pytest.mark.parametrize("days, spans, text", [
    ([], [], ""), ([D0], [(D0, D0)], "2026-04-05"),
    ([D0 + dt.timedelta(days=2), D0, D0 + dt.timedelta(days=1), D0 + dt.timedelta(days=5)],
     [(D0, D0 + dt.timedelta(days=2)), (D0 + dt.timedelta(days=5),) * 2], "2026-04-05..2026-04-07, 2026-04-10")])
def test_days_group_into_consecutive_spans(days, spans, text):
    assert params.day_spans(days) == spans and params.describe_days(days) == text


@pytest.mark.parametrize("value, says", [("2026-04-31", "start: '2026-04-31' is no such day"),
                                         ("2026-02-29", "start: '2026-02-29' is no such day"),
                                         ("20260401", "start: '20260401' is not a date in YYYY-MM-DD form"),
                                         ("2026-4-1", "not a date in YYYY-MM-DD form"),
                                         ("yesterday", "not a date in YYYY-MM-DD form")])
def test_a_date_in_the_right_form_that_does_not_exist_is_named_as_such(value, says):
    with pytest.raises(ParameterError, match=says):
        params.parse_date(value, "start")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_outputs_get_the_mode_the_umask_gives_not_the_temp_files_0600(tmp_path, umask):
    import os

    import pandas as pd

    from liq_pipeline.lib.io import storage
    old = os.umask(umask)
    try:
        storage.write_bytes_atomic(tmp_path / "report.json", b"{}")
        part = storage.write_partition(pd.DataFrame({"x": [1]}), tmp_path, "clean", "t", "BTCUSDT", dt.date(2026, 4, 5))
        plain = tmp_path / "plain"
        plain.write_bytes(b"")
    finally:
        os.umask(old)
    want = plain.stat().st_mode & 0o777
    assert want == 0o666 & ~umask
    assert {(tmp_path / "report.json").stat().st_mode & 0o777, part.stat().st_mode & 0o777} == {want}
