"""Parsers on the real samples in ../shared/data/real, and on the malformed inputs users will meet."""

import pandas as pd
import pytest

from liq_pipeline.lib.io import parse
from liq_pipeline.lib.errors import InputError
from liq_pipeline.lib.io.rawfiles import read_zip_csv, verify_checksum

from .conftest import UM


def _csv(path):
    return read_zip_csv(path)


def test_klines_with_header(real):
    p = UM / "monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2026-04.zip"
    df = parse.parse_klines(_csv(p), "BTCUSDT", "1h", str(p))
    first = df.iloc[0]
    # the first line of the file: 1775347200000,67271.1,67279.2,67131.1,67177.0,1420.572,...
    assert first.open_time == pd.Timestamp("2026-04-05 00:00", tz="UTC")
    assert (first.open, first.high, first.low, first.close, first.volume) == (67271.1, 67279.2, 67131.1, 67177.0, 1420.572)
    assert first.trades == 33011 and first.taker_buy_volume == 705.466
    assert str(df.open_time.dtype) == "datetime64[ms, UTC]"


def test_klines_without_header_as_in_old_monthly_files(real):
    p = UM / "monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01.zip"
    data = _csv(p)
    headerless = data.split(b"\n", 1)[1]
    a = parse.parse_klines(data, "BTCUSDT", "1h", "with")
    b = parse.parse_klines(headerless, "BTCUSDT", "1h", "without")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 31 * 24


def test_metrics_rows_out_of_order_are_parsed_and_stamped_at_interval_end(real):
    p = UM / "daily/metrics/BTCUSDT/BTCUSDT-metrics-2026-04-05.zip"
    data = _csv(p)
    lines = data.decode().splitlines()
    shuffled = "\n".join([lines[0], *reversed(lines[1:])]).encode()
    df = parse.parse_metrics(shuffled, "BTCUSDT", str(p))
    assert len(df) == 288 and not df.ts.is_monotonic_increasing
    row = df[df.ts == pd.Timestamp("2026-04-05 00:00", tz="UTC")].iloc[0]
    assert (row.oi_contracts, row.oi_usd) == (91402.972, 6148641365.25)


def test_funding_jitter_is_rounded_but_kept(real):
    p = UM / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-01.zip"
    df = parse.parse_funding(_csv(p), "BTCUSDT", str(p))
    assert df.calc_time.iloc[0] == pd.Timestamp("2025-01-01 00:00:00.015", tz="UTC")
    assert df.ts.iloc[0] == pd.Timestamp("2025-01-01 00:00", tz="UTC")
    assert (df.ts.dt.minute == 0).all() and (df.ts.dt.hour % 8 == 0).all()
    assert df.funding_rate.iloc[0] == 0.0001


def test_agg_trades_with_empty_trade_ids(real):
    p = UM / "daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-26.zip"
    df = parse.parse_agg_trades(_csv(p), "BTCUSDT", str(p))
    assert df.first_trade_id.isna().all()
    assert df.agg_trade_id.iloc[0] == 2541757614 and df.price.iloc[0] == 104943.5
    assert not df.is_buyer_maker.iloc[0]


def test_agg_trades_without_header_as_before_2022(real):
    p = UM / "daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-26.zip"
    data = _csv(p)
    pd.testing.assert_frame_equal(parse.parse_agg_trades(data, "BTCUSDT", "a"),
                                  parse.parse_agg_trades(data.split(b"\n", 1)[1], "BTCUSDT", "b"))


def test_force_orders_without_ap_and_side_mapping(real):
    p = real / "forceOrder/forceOrder-2025-06-18.jsonl"   # its one line lacks "ap"
    df = parse.parse_force_orders(p.read_bytes(), str(p))
    assert len(df) == 1 and pd.isna(df.avg_price.iloc[0])
    row = df.iloc[0]
    assert row.side == "long"            # S=SELL: a long was liquidated
    assert row.notional_usd == pytest.approx(3.06336 * 150)   # falls back to the order price
    p = real / "forceOrder/forceOrder-2025-01-26.jsonl"
    df = parse.parse_force_orders(p.read_bytes(), str(p))
    first = df.iloc[0]
    assert (first.symbol, first.side, first.price, first.avg_price, first.qty) == ("LRCUSDT", "long", 0.16815, 0.17057, 226)
    p = real / "forceOrder/forceOrder-2025-01-27.jsonl"
    btc = parse.parse_force_orders(p.read_bytes(), str(p), symbol="BTCUSDT")
    assert len(btc) == 31 and (btc.symbol == "BTCUSDT").all()


def test_force_order_malformed_line_names_the_row():
    data = b'{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"SELL","p":"1","q":"1","T":1}}\n{"e":"forceOr\n'
    with pytest.raises(InputError, match=r"tape.jsonl, row 2"):
        parse.parse_force_orders(data, "tape.jsonl")


def test_liquidation_bars_iso_and_epoch_ms(real):
    p = real / "liquidationBars/BTCUSDT/30m/BTCUSDT-liquidations-binance+bybit+okx-30m.csv"
    df = parse.parse_liquidation_bars(p.read_bytes(), "BTCUSDT", "30m", "binance+bybit+okx", str(p))
    assert df.ts.iloc[1] == pd.Timestamp("2026-04-05 00:30", tz="UTC") and df.long_usd.iloc[1] == 7944.32078
    assert (df.short_usd == 0).any()    # zero bars are real values, kept
    ms = b"timestamp,long_usd,short_usd\n1775347200000,1.5,2.5\n"
    one = parse.parse_liquidation_bars(ms, "BTCUSDT", "30m", "v", "ms.csv")
    assert one.ts.iloc[0] == pd.Timestamp("2026-04-05", tz="UTC")


@pytest.mark.parametrize("line,match", [
    (b"1775347200000,67271.1,abc,67131.1,67177.0,1420.572,1775350799999,1,1,1,1,0", r"row 3, column high: 'abc'"),
    (b"1775347200000,67271.1,67279.2,67131.1,67177.0,1420.572,1775350799999,1,1,1,1,0,9,9", r"row 3: 14 fields, expected 12"),
    (b"1775347200000,67271.1", r"row 3: 2 fields, expected 12"),
])
def test_malformed_kline_rows_name_file_and_row(real, line, match):
    data = _csv(UM / "monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2026-04.zip").split(b"\n")
    bad = b"\n".join([data[0], data[1], line, *data[2:5]])
    with pytest.raises(InputError, match=match) as exc:
        parse.parse_klines(bad, "BTCUSDT", "1h", "BTCUSDT-1h-2026-04.csv")
    assert "BTCUSDT-1h-2026-04.csv" in str(exc.value)


def test_truncated_zip_and_checksum_mismatch_name_the_file(real, tmp_path):
    src = UM / "monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2026-04.zip"
    cut = tmp_path / "BTCUSDT-1h-2026-04.zip"
    cut.write_bytes(src.read_bytes()[:-200])
    with pytest.raises(InputError, match=f"{cut}: not a readable zip"):
        read_zip_csv(cut)
    checksum = (src.parent / (src.name + ".CHECKSUM")).read_text()
    with pytest.raises(InputError, match="BTCUSDT-1h-2026-04.zip: checksum mismatch"):
        verify_checksum(cut.read_bytes(), checksum, str(cut))
    assert verify_checksum(src.read_bytes(), checksum, str(src)) == checksum.split()[0]


def test_rest_pages_parse_to_the_same_columns_as_archive_files():
    kl = b'[[1775347200000,"67271.1","67279.2","67131.1","67177.0","1420.572",1775350799999,"95478378.1839",33011,"705.466","47418639.8781","0"]]'
    df = parse.parse_rest_page("klines", kl, "BTCUSDT", "1h", "page.json")
    assert df.open.iloc[0] == 67271.1 and df.trades.iloc[0] == 33011
    oi = b'[{"symbol":"BTCUSDT","sumOpenInterest":"91402.972","sumOpenInterestValue":"6148641365.25","timestamp":1775347200000}]'
    df = parse.parse_rest_page("open_interest", oi, "BTCUSDT", None, "oi.json")
    assert df.oi_contracts.iloc[0] == 91402.972 and df.ts.iloc[0] == pd.Timestamp("2026-04-05", tz="UTC")
    fr = b'[{"symbol":"BTCUSDT","fundingTime":1775347200008,"fundingRate":"0.00002407","markPrice":"67000"}]'
    df = parse.parse_rest_page("funding", fr, "BTCUSDT", None, "f.json")
    assert df.funding_rate.iloc[0] == 2.407e-05 and df.ts.iloc[0] == pd.Timestamp("2026-04-05", tz="UTC")
    ag = b'[{"a":5,"p":"100.5","q":"2","f":10,"l":12,"T":1775347200000,"m":true}]'
    df = parse.parse_rest_page("agg_trades", ag, "BTCUSDT", None, "a.json")
    assert df.is_buyer_maker.iloc[0] and df.last_trade_id.iloc[0] == 12
