"""REST and archive clients against a real HTTP server on 127.0.0.1 (Binance-shaped, with faults)."""
import datetime as dt
import shutil
import time

import pytest

from liq_pipeline.lib.io.clean import clean_partition
from liq_pipeline.lib.errors import InputError, SourceError
from liq_pipeline.lib.sources.archive import ArchiveSource
from liq_pipeline.lib.sources.auto import AutoSource
from liq_pipeline.lib.sources.binance_rest import BinanceRestSource
from liq_pipeline.lib.sources.http import BinanceHttp

from .fake_binance import FakeBinance

DAY = dt.date(2026, 4, 5)
KL = "futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2026-04.zip"


def fast_http(**kw):
    return BinanceHttp(retries=kw.pop("retries", 3), backoff=0.01, timeout=kw.pop("timeout", (2, 2)), **kw)


def rest(fake, tmp_path, **kw):
    return BinanceRestSource(tmp_path / "raw", fake.url, intervals=kw.pop("intervals", ["1m"]),
                             http=kw.pop("http", None) or fast_http(), today=dt.date(2026, 4, 20), **kw)


def manifest(pull, source="binance"):
    return {"source": source, "files": [f.to_dict() for f in pull.files]}


def test_rest_klines_paginate_and_parse(tmp_path):
    with FakeBinance(page_cap=500) as fake:
        src = rest(fake, tmp_path)
        pulled = src.pull("klines", "BTCUSDT", DAY)
        assert len(pulled.files) == 3                      # 1440 bars at 500 a page
        assert fake.count("/fapi/v1/klines") == 3
        df, report = clean_partition("klines", "BTCUSDT", DAY, manifest(pulled), tmp_path / "raw")
        assert len(df) == 1440 and df.open_time.is_unique and report.gaps == {}
        assert df.open_time.iloc[0].isoformat() == "2026-04-05T00:00:00+00:00"


def test_rest_open_interest_and_funding(tmp_path):
    with FakeBinance() as fake:
        src = rest(fake, tmp_path)
        oi, _ = clean_partition("open_interest", "BTCUSDT", DAY, manifest(src.pull("open_interest", "BTCUSDT", DAY)), tmp_path / "raw")
        fu, _ = clean_partition("funding", "BTCUSDT", DAY, manifest(src.pull("funding", "BTCUSDT", DAY)), tmp_path / "raw")
        assert len(oi) == 288 and len(fu) == 3
        assert (fu.ts.dt.hour % 8 == 0).all() and (fu.calc_time.dt.microsecond > 0).all()


def test_rest_open_interest_older_than_30_days_is_refused(tmp_path):
    with FakeBinance() as fake:
        src = rest(fake, tmp_path)
        with pytest.raises(InputError, match="openInterestHist keeps only 30 days"):
            src.pull("open_interest", "BTCUSDT", dt.date(2026, 3, 1))


def test_unknown_symbol_is_named(tmp_path):
    with FakeBinance() as fake:
        with pytest.raises(InputError, match="symbol DOGEXUSDT: Binance USD-M does not list it"):
            rest(fake, tmp_path).pull("klines", "DOGEXUSDT", DAY)


def test_429_with_retry_after_is_honoured(tmp_path):
    with FakeBinance() as fake:
        fake.fault("/fapi/v1/fundingRate", 429, b'{"code":-1003}', {"Retry-After": "1"})
        t = time.monotonic()
        pulled = rest(fake, tmp_path).pull("funding", "BTCUSDT", DAY)
        assert time.monotonic() - t >= 1.0
        # the 429, its retry, then one empty page that ends the paging
        assert fake.count("/fapi/v1/fundingRate") == 3 and pulled.files


def test_418_stops_at_once_with_a_clear_message(tmp_path):
    with FakeBinance() as fake:
        fake.fault("/fapi/v1/fundingRate", 418, b'{"code":-1003}', {"Retry-After": "7200"}, times=5)
        with pytest.raises(SourceError, match="HTTP 418 — Binance has banned this IP"):
            rest(fake, tmp_path).pull("funding", "BTCUSDT", DAY)
        assert fake.count("/fapi/v1/fundingRate") == 1


def test_5xx_is_retried_then_succeeds(tmp_path):
    with FakeBinance() as fake:
        fake.fault("/fapi/v1/fundingRate", 500, b"oops", times=2)
        assert rest(fake, tmp_path).pull("funding", "BTCUSDT", DAY).files
        assert fake.count("/fapi/v1/fundingRate") == 4          # 2 failures, the page, the empty last page


def test_5xx_forever_gives_up_boundedly(tmp_path):
    with FakeBinance() as fake:
        fake.fault("/fapi/v1/fundingRate", 503, b"down", times=50)
        with pytest.raises(SourceError, match="HTTP 503 after retries|gave up after retries"):
            rest(fake, tmp_path).pull("funding", "BTCUSDT", DAY)
        assert fake.count("/fapi/v1/fundingRate") == 4      # 1 try + 3 retries


def test_slow_response_times_out_and_is_retried(tmp_path):
    with FakeBinance() as fake:
        fake.fault("/fapi/v1/fundingRate", 200, b"[]", delay=1.5)
        src = rest(fake, tmp_path, http=fast_http(timeout=(1, 0.5)))
        assert src.pull("funding", "BTCUSDT", DAY).files
        assert fake.count("/fapi/v1/fundingRate") == 3          # the slow one, its retry, the empty last page


def test_used_weight_header_pauses_before_the_limit(tmp_path):
    slept = []
    with FakeBinance() as fake:
        fake.weight = 2200                                  # next answers report >= 90% of 2400
        src = rest(fake, tmp_path, http=fast_http(sleep=slept.append))
        src.pull("funding", "BTCUSDT", DAY)
        assert slept and all(0 < s <= 61 for s in slept)


@pytest.fixture
def archive_copy(real, tmp_path):
    root = tmp_path / "archive"
    for rel in (KL, KL + ".CHECKSUM"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real / rel, root / rel)
    return root


def test_archive_verifies_and_never_downloads_twice(archive_copy, tmp_path):
    with FakeBinance(archive_root=archive_copy) as fake:
        src = ArchiveSource(tmp_path / "raw", f"{fake.url}/data", intervals=["1h"], http=fast_http())
        first = src.pull("klines", "BTCUSDT", DAY)
        assert first.files[0].sha256 == (archive_copy / (KL + ".CHECKSUM")).read_text().split()[0]
        assert (tmp_path / "raw" / "archive" / KL).read_bytes() == (archive_copy / KL).read_bytes()
        again = src.pull("klines", "BTCUSDT", DAY + dt.timedelta(days=1))  # same monthly file
        assert again.files[0].sha256 == first.files[0].sha256
        assert fake.count(f"/data/{KL}") == 1               # the month's zip was fetched once
        assert fake.count(f"/data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-{DAY}.zip") == 1  # tried first, 404
        assert len(fake.requests) == 3                       # day 2: served from the mirror, nothing asked


def test_archive_confirms_a_symbol_with_the_request_its_day_check_reuses(archive_copy, real, tmp_path):
    """Over HTTP the archive cannot be listed: a symbol is confirmed by its first day's kline CHECKSUM, and
    `liq run`'s check of that day (has_day) does not ask for it again."""
    for rel in ("futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-04.zip.CHECKSUM",
                f"futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-{DAY}.zip.CHECKSUM"):
        (archive_copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real / rel, archive_copy / rel)
    with FakeBinance(archive_root=archive_copy) as fake:
        src = ArchiveSource(tmp_path / "raw", f"{fake.url}/data", intervals=["1h"], http=fast_http())
        src.check_symbol("BTCUSDT", DAY)
        checksum = f"/data/{KL}.CHECKSUM"
        assert fake.count(checksum) == 1
        assert src.has_day("BTCUSDT", DAY)
        assert fake.count(checksum) == 1
        with pytest.raises(InputError, match=r"symbol BTCUSTD: the source has no 1h klines for it on 2026-04-05"):
            src.check_symbol("BTCUSTD", DAY)


def test_archive_truncated_zip_is_rejected_and_not_stored(archive_copy, tmp_path):
    with FakeBinance(archive_root=archive_copy) as fake:
        fake.fault(f"/data/{KL}", 200, (archive_copy / KL).read_bytes()[:-300])
        src = ArchiveSource(tmp_path / "raw", f"{fake.url}/data", intervals=["1h"], http=fast_http())
        with pytest.raises(InputError, match=r"BTCUSDT-1h-2026-04.zip: checksum mismatch"):
            src.pull("klines", "BTCUSDT", DAY)
        assert not (tmp_path / "raw" / "archive" / KL).exists()


def test_archive_wrong_checksum_is_rejected(archive_copy, tmp_path):
    (archive_copy / (KL + ".CHECKSUM")).write_text("0" * 64 + "  BTCUSDT-1h-2026-04.zip\n")
    with FakeBinance(archive_root=archive_copy) as fake:
        src = ArchiveSource(tmp_path / "raw", f"{fake.url}/data", intervals=["1h"], http=fast_http())
        with pytest.raises(InputError, match="checksum mismatch \\(CHECKSUM says 0000"):
            src.pull("klines", "BTCUSDT", DAY)


def test_archive_missing_day_names_what_it_looked_for(archive_copy, tmp_path):
    with FakeBinance(archive_root=archive_copy) as fake:
        src = ArchiveSource(tmp_path / "raw", f"{fake.url}/data", intervals=["1h"], http=fast_http())
        with pytest.raises(FileNotFoundError, match=r"partition 2026-05-01\|BTCUSDT: no klines 1h file.*BTCUSDT-1h-2026-05.zip"):
            src.pull("klines", "BTCUSDT", dt.date(2026, 5, 1))


def test_auto_falls_back_to_rest_for_days_the_archive_lacks(archive_copy, tmp_path):
    with FakeBinance(archive_root=archive_copy) as fake:
        auto = AutoSource(ArchiveSource(tmp_path / "raw", f"{fake.url}/data", intervals=["1h"], http=fast_http()),
                          rest(fake, tmp_path, intervals=["1h"]))
        old = auto.pull("klines", "BTCUSDT", DAY)
        assert old.files[0].format == "archive-zip"
        recent = auto.pull("klines", "BTCUSDT", dt.date(2026, 5, 2))
        assert recent.files[0].format == "rest-json" and "REST used" in recent.note
