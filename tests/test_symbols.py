"""Symbols beyond BTCUSDT: bracket tables refreshed from the signed endpoint (a real HTTP server on 127.0.0.1), the
formula on a second symbol's table against hand-computed levels, the fallback tiers named wherever they are used,
an unknown symbol refused before it becomes a partition, and a simulated market for any symbol."""
import datetime as dt
import json

import dagster as dg
import numpy as np
import pytest
from click.testing import CliRunner

from liq_pipeline.cli import main
from liq_pipeline.lib.market import brackets
from liq_pipeline.lib.errors import InputError
from liq_pipeline.lib.market.liqprice import liquidation_price
from liq_pipeline.lib.sim.market import simulate
from liq_pipeline.lib.sim.profiles import profile, scenario_for
from liq_pipeline.lib.sim.scenario import Scenario

from .fake_binance import FakeBinance
from .test_e2e_files import liq

# Binance-shaped brackets for a second symbol (test data: the shape and the cum rule are Binance's)
ETH = [{"bracket": 1, "initialLeverage": 100, "notionalCap": 10000, "notionalFloor": 0, "maintMarginRatio": 0.005, "cum": 0.0},
       {"bracket": 2, "initialLeverage": 75, "notionalCap": 100000, "notionalFloor": 10000, "maintMarginRatio": 0.0065, "cum": 15.0},
       {"bracket": 3, "initialLeverage": 50, "notionalCap": 500000, "notionalFloor": 100000, "maintMarginRatio": 0.01, "cum": 365.0},
       {"bracket": 4, "initialLeverage": 25, "notionalCap": 1000000, "notionalFloor": 500000, "maintMarginRatio": 0.02, "cum": 5365.0}]


@pytest.fixture
def bracket_dir(tmp_path, monkeypatch):
    d = tmp_path / "brackets"
    monkeypatch.setenv(brackets.BRACKETS_DIR_VAR, str(d))
    return d


def refresh(fake, *args):
    return CliRunner().invoke(main, ["brackets", "refresh", "--url", fake.url, *args], catch_exceptions=False)


def test_refresh_signs_the_call_and_writes_snapshots_that_runs_read(bracket_dir):
    with FakeBinance(symbols=()) as fake:
        fake.brackets = {"ETHUSDT": ETH, "UNIUSDT": ETH[:2]}
        run = refresh(fake, "--symbols", "ETHUSDT,UNIUSDT", "--api-key", "test-key", "--api-secret", "test-secret")
        assert run.exit_code == 0, run.output
        assert fake.count("/fapi/v1/leverageBracket") == 1          # both symbols in one signed call
        assert "test-secret" not in run.output and "test-secret" not in "".join(fake.requests)
    today = dt.datetime.now(dt.UTC).date()
    path = bracket_dir / f"brackets-ETHUSDT-{today}.csv"
    assert path.read_text().startswith(f"# ETHUSDT notional brackets (Binance USD-M), GET {fake.url}/fapi/v1/leverageBracket")
    table, where = brackets.resolve("ETHUSDT", today)
    assert where.startswith(f"brackets-ETHUSDT-{today}.csv (refreshed") and not brackets.is_fallback(where)
    assert table["mmr"].tolist() == [0.005, 0.0065, 0.01, 0.02] and table["cum"].tolist() == [0, 15, 365, 5365]
    assert "UNIUSDT" in brackets.known_symbols()                     # shipped with none; refreshed, it is known


def test_refresh_records_and_warns_of_an_adjusted_account_only(bracket_dir):
    with FakeBinance(symbols=()) as fake:
        fake.brackets, fake.coefs = {"ETHUSDT": ETH, "UNIUSDT": ETH}, {"ETHUSDT": 1.5, "UNIUSDT": "1"}
        run = refresh(fake, "--all", "--api-key", "test-key", "--api-secret", "test-secret")
    assert run.exit_code == 0, run.output
    assert "warning: ETHUSDT notionalCoef 1.5" in run.output and "UNIUSDT notionalCoef" not in run.output
    today = dt.datetime.now(dt.UTC).date()
    assert "# notionalCoef 1.5: this account's brackets are adjusted" in (bracket_dir / f"brackets-ETHUSDT-{today}.csv").read_text()
    assert "notionalCoef" not in (bracket_dir / f"brackets-UNIUSDT-{today}.csv").read_text()


def test_refresh_refuses_a_bad_secret_a_broken_table_and_an_unknown_symbol(bracket_dir):
    with FakeBinance(symbols=()) as fake:
        fake.brackets = {"ETHUSDT": ETH, "BADUSDT": [dict(ETH[0]), dict(ETH[1], cum=16.0)]}
        run = refresh(fake, "--symbols", "ETHUSDT", "--api-key", "test-key", "--api-secret", "wrong")
        assert run.exit_code == 1 and "-1022" in run.output and "Signature" in run.output, run.output
        run = refresh(fake, "--symbols", "BADUSDT", "--api-key", "test-key", "--api-secret", "test-secret")
        assert run.exit_code == 1 and "bracket 2 cum 16.0 breaks continuity" in run.output, run.output
        run = refresh(fake, "--symbols", "ETHUSDT,NOPEUSDT", "--api-key", "test-key", "--api-secret", "test-secret")
        assert run.exit_code == 1 and "no brackets for NOPEUSDT" in run.output, run.output
    assert not bracket_dir.exists() or not list(bracket_dir.iterdir())     # nothing half-written


def test_formula_on_a_second_symbols_table_against_hand_computed_levels(bracket_dir):
    with FakeBinance(symbols=()) as fake:
        fake.brackets = {"ETHUSDT": ETH}
        assert refresh(fake, "--symbols", "ETHUSDT", "--api-key", "test-key", "--api-secret", "test-secret").exit_code == 0
    eth = brackets.load("ETHUSDT", dt.datetime.now(dt.UTC).date())
    # long 10 ETH at 3,000, 20x: notional 30k -> bracket 2 (MMR 0.65%, cum 15); at LP the notional (~28.7k) stays in it
    long_lp = (3_000 * (1 - 1 / 20) - 15 / 10) / (1 - 0.0065)
    assert long_lp == pytest.approx(2_867.1364, abs=1e-4)
    assert liquidation_price([True], [3_000], [10], [20], eth)[0] == pytest.approx(long_lp, abs=1e-9)
    # short 10 ETH at 3,000, 20x: (3,150 + 1.5) / 1.0065
    assert liquidation_price([False], [3_000], [10], [20], eth)[0] == pytest.approx(3_131.1475, abs=1e-4)
    # long 2 ETH at 3,000, 50x: notional 6k -> bracket 1 (0.5%, cum 0); the table decides, not BTCUSDT's (0.4%)
    assert liquidation_price([True], [3_000], [2], [50], eth)[0] == pytest.approx(3_000 * 0.98 / 0.995, abs=1e-9)
    # the fallback tiers, by hand: long 100 at 150, 10x: notional 15k -> bracket 3 (5%, cum 300)
    ena, where = brackets.resolve("UNIUSDT", fallback=True)
    assert brackets.is_fallback(where) and "UNIUSDT" in where
    assert liquidation_price([True], [150], [100], [10], ena)[0] == pytest.approx((135 - 3) / 0.95, abs=1e-9)
    assert liquidation_price([False], [150], [100], [10], ena)[0] == pytest.approx((165 + 3) / 1.05, abs=1e-9)


def test_shipped_snapshots_cover_the_large_perpetuals_with_their_provenance():
    shipped = {f.name for f in brackets.shipped_dir().glob("brackets-*USDT-*.csv")}
    symbols = {name.split("-")[1] for name in shipped}
    assert len(symbols) >= 20 and {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT"} <= symbols
    for name in shipped:
        text = (brackets.shipped_dir() / name).read_text()
        assert text.startswith("# ") and "leverageBracket" in text.split("bracket,")[0], name   # says where it is from
        table, where = brackets.resolve(name.split("-")[1])           # loads: columns present, cum continuous
        assert where.endswith("(shipped)") and table["notional_floor"].iloc[0] == 0
        assert (table["notional_floor"].to_numpy()[1:] == table["notional_cap"].to_numpy()[:-1]).all(), name
    # hand-computed on the shipped tables: long 10 ETH at 3,000, 20x: notional 30k -> bracket 1 (0.4%, cum 0, 150x)
    eth = brackets.load("ETHUSDT")
    assert liquidation_price([True], [3_000], [10], [20], eth)[0] == pytest.approx(2_850 / 0.996, abs=1e-9)
    # short 50,000 DOGE at 0.20, 25x: notional 10k -> bracket 1 (0.65%, cum 0): (0.208 + 0) / 1.0065
    doge = brackets.load("DOGEUSDT")
    assert liquidation_price([False], [0.20], [50_000], [25], doge)[0] == pytest.approx(0.208 / 1.0065, abs=1e-12)
    # long 1,000 SOL at 150, 10x: notional 150k -> bracket 2 (0.65%, cum 75): (135 - 0.075) / 0.9935
    sol = brackets.load("SOLUSDT")
    assert liquidation_price([True], [150], [1_000], [10], sol)[0] == pytest.approx((135 - 0.075) / 0.9935, abs=1e-9)
    # short 20 XAU at 4,000, 50x: notional 80k -> bracket 2 (0.65%, cum 75): (4,080 + 75/20) / 1.0065
    xau = brackets.load("XAUUSDT")
    assert liquidation_price([False], [4_000], [20], [50], xau)[0] == pytest.approx((4_080 + 3.75) / 1.0065, abs=1e-9)


# The largest perpetuals by open interest, as a public tracker ranked them: the coins visible at the top of seven stored
# copies of deriexs.com/open-interests (cross-exchange totals, not Binance's own ranking; the pages carry no date, so
# each is named by its BTC price: Nov 2025 .. Feb 2026). Binance's own top 20 needs its live API (`liq brackets
# refresh --top 20`); this is the offline check that the shipped tables cover what the market held most of.
PUBLIC_OI_TOP = {
    "BTC 103,683": "BTC ETH SOL XRP BNB DOGE HYPE SUI ZEC ADA LINK ASTER ENA",
    "BTC 102,900": "BTC ETH SOL XRP BNB DOGE HYPE ZEC SUI ADA LINK LTC FIL",
    "BTC 95,668": "BTC ETH SOL XRP BNB DOGE ZEC HYPE SUI LTC ADA ASTER LINK",
    "BTC 95,088": "BTC ETH SOL XRP BNB DOGE HYPE ZEC BCH LTC ADA SUI PEPE",
    "BTC 90,668": "BTC ETH SOL XRP BNB DOGE HYPE ZEC BCH SUI ADA PEPE LINK",
    "BTC 88,640": "BTC ETH SOL XRP BNB DOGE HYPE ZEC BCH SUI ADA LINK LTC",
    "BTC 67,940": "BTC ETH SOL XRP BNB HYPE DOGE BCH XAUT SUI WLFI ADA LTC",
}


def test_every_coin_a_public_tracker_ranked_at_the_top_by_open_interest_has_a_shipped_table():
    shipped = {f.name.split("-")[1] for f in brackets.shipped_dir().glob("brackets-*USDT-*.csv")}
    perpetual = {"PEPE": "1000PEPEUSDT"}                     # Binance trades PEPE per 1,000
    for snapshot, coins in PUBLIC_OI_TOP.items():
        missing = [c for c in coins.split() if perpetual.get(c, f"{c}USDT") not in shipped]
        assert not missing, f"{snapshot}: no shipped table for {missing}"


def test_a_symbol_without_a_table_is_refused_unless_the_fallback_is_asked_for():
    with pytest.raises(InputError, match=r"symbol UNIUSDT: no bracket table .*--bracket-fallback"):
        brackets.resolve("UNIUSDT")
    assert brackets.funding_cap("UNIUSDT") == 0.03      # a fallback's rate says nothing of this symbol's cap


def test_cli_refuses_a_real_symbol_without_brackets_before_it_becomes_a_partition(dagster_env):
    src = dagster_env / "archive"
    (src / "futures/um/daily/klines/UNIUSDT/1h").mkdir(parents=True)     # the source lists the symbol
    proc = liq("run", "--source", "files", "--path", str(src), "--symbols", "UNIUSDT", "--start", "2026-04-05",
               "--end", "2026-04-05", env_root=dagster_env, check=False)
    assert proc.returncode == 1 and proc.stderr.count("symbol UNIUSDT: no bracket table") == 1, proc.stderr
    with dg.DagsterInstance.get() as instance:
        assert not instance.has_dynamic_partition("symbol", "UNIUSDT")


def test_any_symbol_gets_its_own_simulated_market():
    assert profile("BTCUSDT") == {}                                      # the reference market is unchanged
    assert scenario_for("BTCUSDT", days=1, start="2026-04-05") == Scenario.default(days=1, start="2026-04-05")
    eth, pepe = (simulate(scenario_for(s, days=1, start="2026-04-05")) for s in ("ETHUSDT", "PEPEUSDT"))
    for res in (eth, pepe):
        sc = res.scenario
        closes = res.klines["close"].to_numpy()
        assert 0.8 < closes[-1] / sc.initial_price < 1.25                 # its own price scale
        assert len(res.liquidations) > 0 and len(res.positions) > 0
        # every position's liquidation price is the exact one under the tiers it traded on: ETHUSDT's shipped
        # table, and the fallback for PEPEUSDT, which has none
        pos = res.positions
        table = brackets.load(sc.symbol, fallback=True)
        lp = liquidation_price(pos["side"].eq("long").to_numpy(), pos["entry_price"].to_numpy(),
                               pos["qty"].to_numpy(), pos["leverage"].to_numpy(), table)
        np.testing.assert_allclose(lp, pos["liq_price"].to_numpy(), rtol=1e-9)
    assert eth.scenario.stream != pepe.scenario.stream
    r1, r2 = (np.diff(np.log(r.klines["close"].to_numpy())) for r in (eth, pepe))
    assert abs(np.corrcoef(r1, r2)[0, 1]) < 0.2                           # not one path rescaled


def test_a_simulated_market_names_the_tiers_it_trades_on(tmp_path):
    from liq_pipeline.lib.sim.source import SimulatedSource

    src = SimulatedSource(tmp_path, lambda s: scenario_for(s, days=1, start="2026-04-05"), any_symbol=True)
    pulled, _ = (src.pull("klines", sym, dt.date(2026, 4, 5)) for sym in ("SOLUSDT", "PEPEUSDT"))
    meta = {sym: json.loads((src.market(sym).mirror / "scenario.json").read_text()) for sym in ("SOLUSDT", "PEPEUSDT")}
    assert meta["SOLUSDT"]["brackets"] == "brackets-SOLUSDT-2026-10-07.csv (shipped)"
    assert meta["PEPEUSDT"]["brackets"] == "FALLBACK brackets-fallback.csv: no bracket table for PEPEUSDT"
    # the contract's tick: 0.001 for this market's price scale, so the klines carry 3 decimals, not BTC's 1
    from liq_pipeline.lib.io.clean import clean_partition
    df, _ = clean_partition("klines", "SOLUSDT", dt.date(2026, 4, 5),
                            {"source": "simulated", "files": [f.to_dict() for f in pulled.files]}, tmp_path)
    assert (df["close"] * 1000).round(6).mod(1).eq(0).all() and not (df["close"] * 10).round(6).mod(1).eq(0).all()
    with pytest.raises(InputError, match="not a valid USD-M symbol"):
        src.pull("klines", "sol/../x", dt.date(2026, 4, 5))


def contract(symbol, tick, step, kind="PERPETUAL", status="TRADING"):
    return {"symbol": symbol, "status": status, "contractType": kind, "baseAsset": symbol[:-4], "quoteAsset": "USDT",
            "pricePrecision": 4, "quantityPrecision": 3, "onboardDate": 1569398400000,
            "filters": [{"filterType": "PRICE_FILTER", "tickSize": tick, "minPrice": "0.1"},
                        {"filterType": "LOT_SIZE", "stepSize": step, "maxQty": "1000"},
                        {"filterType": "MIN_NOTIONAL", "notional": "5"}]}


def test_exchange_info_gives_contract_details_and_refuses_what_it_does_not_list(bracket_dir, dagster_env):
    from liq_pipeline.lib.market import contracts

    with FakeBinance(symbols=()) as fake:
        fake.exchange_info = {"timezone": "UTC", "symbols": [
            contract("BTCUSDT", "0.10", "0.001"), contract("SOLUSDT", "0.0100", "1"), contract("UNIUSDT", "0.0001", "1"),
            contract("ETHUSDT_260327", "0.01", "0.001", kind="CURRENT_QUARTER"),
            contract("XYZUSDT", "0.0001", "1", status="SETTLING")]}
        run = CliRunner().invoke(main, ["symbols", "refresh", "--url", fake.url], catch_exceptions=False)
    assert run.exit_code == 0 and "5 contracts, 3 trading perpetuals" in run.output, run.output
    sol = contracts.contract("SOLUSDT")
    assert sol["tick_size"] == "0.0100" and sol["onboard_date"] == "2019-09-25"       # kept as Binance wrote them
    assert (contracts.decimals(sol["tick_size"]), contracts.decimals(sol["step_size"])) == (2, 0)
    assert {k: profile("SOLUSDT")[k] for k in ("price_decimals", "qty_decimals")} == {"price_decimals": 2, "qty_decimals": 0}
    assert profile("BTCUSDT") == {}                              # its listed tick and lot are the defaults
    contracts.check_listed("SOLUSDT")
    with pytest.raises(InputError, match="XYZUSDT: exchange-info-.* lists it as PERPETUAL SETTLING"):
        contracts.check_listed("XYZUSDT")
    with pytest.raises(InputError, match="ETHUSDT_260327|not a valid"):
        contracts.check_listed("ETHUSDT_260327")
    proc = liq("run", "--symbols", "NOPEUSDT", "--start", "2026-04-05", "--end", "2026-04-05", env_root=dagster_env,
               check=False)
    assert proc.returncode == 1 and proc.stderr.count("symbol NOPEUSDT: not a USD-M symbol in exchange-info-") == 1
    with dg.DagsterInstance.get() as instance:
        assert not instance.has_dynamic_partition("symbol", "NOPEUSDT")
    listing = CliRunner().invoke(main, ["symbols", "list", "--format", "json"], catch_exceptions=False)
    rows = {r["symbol"]: r for r in json.loads(listing.output)}
    assert rows["UNIUSDT"]["brackets"].startswith("FALLBACK") and rows["SOLUSDT"]["brackets"].endswith("(shipped)")
    assert "XYZUSDT" not in rows and rows["SOLUSDT"]["tick_size"] == "0.0100"


def test_refresh_top_n_ranks_trading_perpetuals_by_open_interest_in_usd(bracket_dir):
    with FakeBinance(symbols=()) as fake:
        fake.exchange_info = {"symbols": [contract("BTCUSDT", "0.10", "0.001"), contract("ETHUSDT", "0.01", "0.001"),
                                          contract("SOLUSDT", "0.0100", "1"),
                                          contract("OLDUSDT", "0.01", "1", status="SETTLING")]}
        # contracts × mark: BTC $7.0B, ETH $6.8B, SOL $1.5B; OLDUSDT is large but not trading
        fake.open_interest = {"BTCUSDT": (100_000, 70_000.0), "ETHUSDT": (2_000_000, 3_400.0),
                              "SOLUSDT": (10_000_000, 150.0), "OLDUSDT": (1e12, 1.0)}
        fake.brackets = {"BTCUSDT": ETH, "ETHUSDT": ETH, "SOLUSDT": ETH[:2]}
        run = refresh(fake, "--top", "2", "--api-key", "test-key", "--api-secret", "test-secret")
    assert run.exit_code == 0, run.output
    assert "largest perpetuals by open interest: BTCUSDT $7.00B, ETHUSDT $6.80B" in run.output
    written = sorted(p.name.split("-")[1] for p in bracket_dir.iterdir())
    assert written == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.parametrize("kind", ["simulated", "files", "archive", "binance", "auto"])
def test_a_typo_is_refused_on_every_source(kind, real, tmp_path):
    """What `liq run` asks each source before a symbol becomes a partition: a typo of a real symbol is no market."""
    from liq_pipeline.defs.resources import FEEDS

    day = dt.date(2026, 4, 5)
    with FakeBinance(archive_root=real) as fake:
        settings = {"simulated": {"start": str(day), "days": 1}, "files": {"path": str(real), "intervals": ["1h"]},
                    "archive": {"url": f"{fake.url}/data", "intervals": ["1h"]},
                    "binance": {"url": fake.url, "intervals": ["1h"]},
                    "auto": {"archive_url": f"{fake.url}/data", "rest_url": fake.url, "intervals": ["1h"]}}[kind]
        src = FEEDS[kind](**settings).open(tmp_path / "raw")
        src.check_symbol("BTCUSDT", day)                                  # the real one is there
        with pytest.raises(InputError, match="symbol BTCUSDX: "):
            src.check_symbol("BTCUSDX", day)
    assert not (tmp_path / "raw").exists() or not any("BTCUSDX" in str(p) for p in (tmp_path / "raw").rglob("*"))


def test_the_simulated_market_runs_a_symbol_without_a_table_only_when_asked_and_says_so(dagster_env):
    args = ("run", "--source", "simulated", "--symbols", "PEPEUSDT", "--start", "2026-04-05", "--end", "2026-04-05")
    typo = liq(*args, env_root=dagster_env, check=False)
    assert typo.returncode == 1 and typo.stdout == "", typo.stdout
    assert typo.stderr.count("symbol PEPEUSDT: the simulated market has no bracket table for it") == 1, typo.stderr
    assert "--any-symbol" in typo.stderr
    with dg.DagsterInstance.get() as instance:
        assert not instance.has_dynamic_partition("symbol", "PEPEUSDT")
    asked = liq(*args, "--any-symbol", env_root=dagster_env)
    assert "PEPEUSDT: --any-symbol: simulated on the FALLBACK tiers" in asked.stdout
    with pytest.raises(AssertionError, match="--any-symbol: not a setting of --source files"):
        liq("run", "--source", "files", "--path", str(dagster_env), "--symbols", "PEPEUSDT", "--any-symbol",
            "--start", "2026-04-05", "--end", "2026-04-05", env_root=dagster_env)
