"""The `simulated` source: a market per symbol (its scenario: lib/sim/profiles), each simulated once into its own
archive-layout folder under data/raw/simulated/<scenario id>/, then served like the `files` source (the
generated files are the raw files as pulled). The scenario id hashes every parameter, seed included, so reruns
agree."""
from __future__ import annotations

import datetime as dt
import fcntl
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ..market import brackets
from ..errors import InputError
from ..params import ParameterError, parse_symbol
from ..sources.base import Pull, RawFile
from ..sources.mirror import MirrorSource
from ..io.rawfiles import sha256_of
from ..io.storage import cache_dir, is_remote, read_bytes, write_bytes_atomic
from .scenario import Scenario


class SimulatedSource:
    """Every symbol's market: `scenario` is one Scenario (that symbol only) or a function of the symbol."""
    name = "simulated"

    def __init__(self, raw_root: Path, scenario: Scenario | Callable[[str], Scenario], intervals: list[str] | None = None,
                 any_symbol: bool = False):
        self.raw_root, self.intervals, self.any_symbol = raw_root, intervals, any_symbol
        self._scenario_for = scenario if callable(scenario) else None
        self._only = None if callable(scenario) else scenario
        self._markets: dict[str, ScenarioMarket] = {}

    def market(self, symbol: str) -> "ScenarioMarket":
        if symbol not in self._markets:
            self.check_symbol(symbol)
            sc = self._only if self._only is not None else self._scenario_for(symbol)
            self._markets[symbol] = ScenarioMarket(self.raw_root, sc, self.intervals)
        return self._markets[symbol]

    def check_symbol(self, symbol: str, day: dt.date | None = None) -> None:
        """A symbol with a bracket table gets a market of its own (its own scenario); another well-formed one only
        when asked for (`any_symbol`), so a typo is refused like on every other source. A fixed scenario has only
        its own symbol."""
        try:
            parse_symbol(symbol)
        except ParameterError as exc:
            raise InputError(str(exc)) from None
        if self._only is not None:
            if symbol != self._only.symbol:
                raise InputError(f"symbol {symbol}: the simulated scenario is for {self._only.symbol}")
            return
        known = brackets.known_symbols()
        if symbol not in known and not self.any_symbol:
            raise InputError(f"symbol {symbol}: the simulated market has no bracket table for it (it has "
                             f"{', '.join(known)}); a typo? --any-symbol simulates it on the fallback tiers")

    def has_day(self, symbol: str, day: dt.date) -> bool:
        return self.market(symbol).has_day(symbol, day)

    def where_days(self, symbol: str) -> str:
        sc = self.market(symbol).scenario
        return f"the simulated market has its scenario's days, {sc.start_date}..{sc.last_date}"

    def pull(self, dataset: str, symbol: str, day: dt.date) -> Pull:
        return self.market(symbol).pull(dataset, symbol, day)


class ScenarioMarket(MirrorSource):
    """One scenario's market, simulated once into its mirror folder and served from there."""
    name = "simulated"

    def __init__(self, raw_root: Path, scenario: Scenario, intervals: list[str] | None = None):
        self.scenario = scenario
        super().__init__(raw_root, intervals)
        self.mirror = self.raw_root / self.name / scenario.scenario_id()   # the generated files are the mirror
        self.intervals = None
        self._generated = False

    def _ensure(self) -> None:
        if not self._generated:          # asked once: on object storage every exists() is a request
            self._generate()
            self._generated = True

    def _generate(self) -> None:
        if (self.mirror / "scenario.json").exists():
            return
        # one lock per scenario: concurrent runs of one symbol wait for its simulation, other symbols' do not
        lock_path = cache_dir(self.raw_root) / self.name / f".{self.scenario.scenario_id()}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (self.mirror / "scenario.json").exists():
                return
            from .emit import write_mirror
            from .market import simulate

            # generated whole in a local folder, then published: renamed in place, or uploaded to object storage
            # with scenario.json (what marks it complete) last
            local = not is_remote(self.mirror)
            tmp = Path(tempfile.mkdtemp(dir=self.mirror.parent if local else None, prefix=".gen-"))
            try:
                write_mirror(simulate(self.scenario), tmp)
                if local:
                    tmp.rename(self.mirror)
                else:
                    files = sorted((p for p in tmp.rglob("*") if p.is_file()), key=lambda p: p.name == "scenario.json")
                    for p in files:
                        write_bytes_atomic(self.mirror / p.relative_to(tmp).as_posix(), p.read_bytes())
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    def check_symbol(self, symbol: str, day: dt.date | None = None) -> None:
        if symbol != self.scenario.symbol:
            raise InputError(f"symbol {symbol}: the simulated scenario is for {self.scenario.symbol}")

    def _check_day(self, symbol: str, day: dt.date) -> None:
        sc = self.scenario
        self.check_symbol(symbol)
        if not sc.start_date <= day <= sc.last_date:
            raise InputError(f"partition {day}|{symbol}: outside the simulated scenario {sc.start_date}..{sc.last_date} "
                             f"(liq run --source simulated simulates exactly --start..--end)")

    def has_day(self, symbol: str, day: dt.date) -> bool:
        """The simulated market has exactly its scenario's days (it starts with no history)."""
        sc = self.scenario
        return symbol == sc.symbol and sc.start_date <= day <= sc.last_date

    def fetch(self, rel: str) -> bytes | None:
        try:
            return read_bytes(self.mirror / rel)
        except FileNotFoundError:
            return None

    def origin(self, rel: str) -> str:
        return f"simulated:{self.scenario.scenario_id()}/{rel}"

    def listdir(self, rel: str) -> list[str] | None:
        p = self.mirror / rel
        return sorted(x.name for x in p.iterdir()) if p.is_dir() else []

    def _rawfile(self, rel: str, fmt: str, **extra) -> RawFile:
        data = read_bytes(self.mirror / rel)        # a day's file, a few MB: on object storage one GET, no HEAD
        return RawFile(self.raw_path(rel), self.origin(rel), sha256_of(data), len(data), fmt, **extra)

    def pull(self, dataset: str, symbol: str, day: dt.date) -> Pull:
        self._check_day(symbol, day)
        self._ensure()
        return super().pull(dataset, symbol, day)

    # The generated tapes, bars and truth are already in place: record them as they are (no content-addressed copy).
    def _pull_truth(self, spec, symbol, day):
        kind = spec.truth_file
        return Pull([self._rawfile(f"truth/{kind}/{symbol}/{symbol}-{kind}-{day}.parquet", "truth-parquet")])

    def _pull_tape(self, spec, symbol, day):
        return Pull([self._rawfile(f"forceOrder/forceOrder-{day}.jsonl", "force-order-jsonl")])

    def _pull_bars(self, spec, symbol, day):
        rel = f"liquidationBars/{symbol}/30m/{symbol}-liquidations-simulated-30m.csv"
        return Pull([self._rawfile(rel, "liquidation-bars-csv", interval="30m", venue="simulated")])


class GeneratedMarkets:
    """The simulated markets a data root already holds (what `liq run --source simulated` generated under its raw
    layer), read like the `files` source: what `liq serve --source simulated` cuts at its clock. A symbol's newest
    market is used where it has several (other seeds or spans)."""
    name = "simulated"

    def __init__(self, generated_root: Path, scratch: Path):
        self.generated_root, self.scratch = Path(generated_root), Path(scratch)
        self._files: dict = {}

    def _market(self, symbol: str):
        from ..sources.mirror import FilesSource
        if symbol not in self._files:
            parse_symbol(symbol)
            found = sorted(self.generated_root.glob(f"{symbol}-*/scenario.json"), key=lambda p: p.stat().st_mtime)
            if not found:
                raise InputError(f"symbol {symbol}: no simulated market of it in {self.generated_root}; "
                                 f"`liq run --source simulated --symbols {symbol}` makes one")
            self._files[symbol] = FilesSource(self.scratch, found[-1].parent)
        return self._files[symbol]

    def check_symbol(self, symbol: str, day: dt.date | None = None) -> None:
        self._market(symbol)

    def pull(self, dataset: str, symbol: str, day: dt.date) -> Pull:
        return self._market(symbol).pull(dataset, symbol, day)
