"""The tape sensor: days the forceOrder recorder has finished (its file for a UTC day that is over) flow into
liquidation_events with no manual step. It watches $LIQ_TAPES_DIR (the recorder's --out folder) and requests a
run of the tape job, per symbol partition, for each day file that is new or has grown since it last looked (the
cursor remembers each file's size); the run reads the tapes with the `files` source."""
import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg

from ..lib.io import layout
from .jobs import tape_job
from .partitions import partition_key

TAPES_ENV = "LIQ_TAPES_DIR"


def finished_tapes(tapes: Path, today: dt.date) -> dict[dt.date, tuple[str, int]]:
    """Day -> (file name, size), for the recorder's files of days before `today` (UTC)."""
    out = {}
    for f in sorted((Path(tapes) / "forceOrder").glob("forceOrder-*.jsonl")):
        try:
            day = dt.date.fromisoformat(f.name[len("forceOrder-"):-len(".jsonl")])
        except ValueError:
            continue                                # not a tape of ours
        if day < today and layout.force_order_tape(day).name == f.name:
            out[day] = (f.name, f.stat().st_size)
    return out


@dg.sensor(job=tape_job, minimum_interval_seconds=900,
           default_status=dg.DefaultSensorStatus.RUNNING if os.environ.get(TAPES_ENV) else dg.DefaultSensorStatus.STOPPED)
def tape_sensor(context: dg.SensorEvaluationContext):
    tapes = os.environ.get(TAPES_ENV)
    if not tapes:
        return dg.SkipReason(f"${TAPES_ENV} is not set: point it at the recorder's --out folder")
    symbols = sorted(context.instance.get_dynamic_partitions("symbol"))
    if not symbols:
        return dg.SkipReason("no symbols yet: `liq run --symbols …` adds them")
    seen = json.loads(context.cursor) if context.cursor else {}
    found = finished_tapes(Path(tapes), dt.datetime.now(dt.UTC).date())
    changed = {day: (name, size) for day, (name, size) in found.items() if seen.get(name) != size}
    if not changed:
        return dg.SkipReason(f"no new or grown tape among {len(found)} finished day(s) in {tapes}")
    config = {"resources": {"source": {"config": {"feed": {"files": {"path": str(Path(tapes).resolve())}}}}}}
    requests = []
    for day, (name, size) in sorted(changed.items()):
        requests += [dg.RunRequest(run_key=f"tape|{day}|{sym}|{size}", partition_key=str(partition_key(day, sym)),
                                   run_config=config, tags={"liq/tape": name}) for sym in symbols]
    return dg.SensorResult(run_requests=requests,
                           cursor=json.dumps({**seen, **dict(changed.values())}, sort_keys=True))
