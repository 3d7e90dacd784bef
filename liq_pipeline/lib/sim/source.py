"""The `simulated` source: a scenario simulated once into its own archive-layout folder under
data/raw/simulated/<scenario id>/, then served like the `files` source (the generated files are the
raw files as pulled). The scenario id hashes every parameter, seed included, so reruns agree."""
from __future__ import annotations

import datetime as dt
import fcntl
import shutil
import tempfile
from pathlib import Path

from ..errors import InputError
from ..sources.base import Pull, RawFile
from ..sources.mirror import MirrorSource
from ..rawfiles import sha256_of
from .scenario import Scenario


class SimulatedSource(MirrorSource):
    name = "simulated"

    def __init__(self, raw_root: Path, scenario: Scenario, intervals: list[str] | None = None):
        self.scenario = scenario
        super().__init__(raw_root, intervals)
        self.mirror = self.raw_root / self.name / scenario.scenario_id()   # the generated files are the mirror
        self.intervals = None

    def _ensure(self) -> None:
        if (self.mirror / "scenario.json").exists():
            return
        lock_path = self.raw_root / self.name / ".lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # concurrent partition runs: one simulates, the others wait
            if (self.mirror / "scenario.json").exists():
                return
            from .emit import write_mirror
            from .market import simulate

            tmp = Path(tempfile.mkdtemp(dir=self.mirror.parent, prefix=".gen-"))
            try:
                write_mirror(simulate(self.scenario), tmp)
                tmp.rename(self.mirror)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    def check_symbol(self, symbol: str, day: dt.date | None = None) -> None:
        if symbol != self.scenario.symbol:
            raise InputError(f"symbol {symbol}: the simulated scenario is for {self.scenario.symbol}")

    def _check_day(self, symbol: str, day: dt.date) -> None:
        sc = self.scenario
        self.check_symbol(symbol)
        last = sc.start_date + dt.timedelta(days=sc.days - 1)
        if not sc.start_date <= day <= last:
            raise InputError(f"partition {day}|{symbol}: outside the simulated scenario {sc.start_date}..{last} "
                             f"(liq run --source simulated simulates exactly --start..--end)")

    def has_day(self, symbol: str, day: dt.date) -> bool:
        """The simulated market has exactly its scenario's days (it starts with no history)."""
        sc = self.scenario
        return symbol == sc.symbol and sc.start_date <= day < sc.start_date + dt.timedelta(days=sc.days)

    def fetch(self, rel: str) -> bytes | None:
        p = self.mirror / rel
        return p.read_bytes() if p.is_file() else None

    def origin(self, rel: str) -> str:
        return f"simulated:{self.scenario.scenario_id()}/{rel}"

    def listdir(self, rel: str) -> list[str] | None:
        p = self.mirror / rel
        return sorted(x.name for x in p.iterdir()) if p.is_dir() else []

    def _rawfile(self, rel: str, fmt: str, **extra) -> RawFile:
        p = self.mirror / rel
        return RawFile(self.raw_path(rel), self.origin(rel), sha256_of(p), p.stat().st_size, fmt, **extra)

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
