"""Time the validation suite on a data root a `liq run` made: one day and one month, load and each model.
Usage: python bench/validation_speed.py --data-dir DIR [--symbol BTCUSDT] --month 2026-05"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from liq_pipeline.lib.io.storage import DataLayout
from liq_pipeline.lib.validation import suite
from liq_pipeline.lib.validation.periods import month_days


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--symbol", default="BTCUSDT")
    ap.add_argument("--month", required=True)
    a = ap.parse_args()
    days = month_days(dt.date.fromisoformat(a.month + "-01"))
    layout = DataLayout(a.data_dir.resolve())
    # as the assets run it: a day without the report-only sections (periods.validate_day), the month with them
    for label, period, reps, report in (("one day", days[14:15], 100, False), ("the month", days, 400, True)):
        data, t_load = timed(lambda: suite.load(layout, a.symbol, period))
        rows = {k: len(v) for k, v in data.items() if len(v)}
        print(f"{label} ({period[0]}..{period[-1]}): load {t_load:.2f} s ({rows})")
        for model in suite.MODELS:
            res, t = timed(lambda: suite.validate(data, model, reps=reps, report=report))
            print(f"  {model:6s} validate {t:6.2f} s  grade {res['grade']}  score "
                  f"{'n/a' if res['score'] is None else format(res['score'], '.1f')}")


if __name__ == "__main__":
    main()
