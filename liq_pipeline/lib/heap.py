"""The garbage collector of a pipeline process (the CLI, a symbol's run process, a step worker), set by those entry
points, never at import.

Such a process holds a large heap for its whole life: Dagster, great-expectations, pandas and scipy are millions
of objects once imported. Python's cyclic collector, at its default thresholds, runs a young-generation pass
every 700 allocations and now and then a full pass over that whole heap, and one more full pass at exit to free
memory the operating system is about to take back anyway: a noticeable share of a short `liq run`
(bench/pipeline_speed.py shows the whole command).

Reference counting still frees at once everything that is not in a cycle; only cyclic garbage waits longer,
at most a few tens of thousands of container objects.
"""
from __future__ import annotations

import atexit
import gc

YOUNG_THRESHOLD = 50_000       # allocations between young-generation passes (Python's default: 700)
OLDER_THRESHOLD = 20           # passes of a generation between passes of the next (default: 10)


_keep_exit_pass = False


def tune_collector(skip_exit_pass: bool = True) -> None:
    """Collect less often, and skip the full pass at exit (idempotent). A process that once asked to keep that last
    pass keeps it (a test process that calls the CLI in-process: duckdb's bindings report as leaked whatever is
    still alive when they unload, and a frozen heap is never freed)."""
    global _keep_exit_pass
    _keep_exit_pass = _keep_exit_pass or not skip_exit_pass
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
    atexit.unregister(gc.freeze)
    if not _keep_exit_pass:
        # exit hooks run before the interpreter's last collection; a frozen heap is left out of it
        atexit.register(gc.freeze)
