"""Work that does not depend on its neighbours (a day's cleaning or validation, a gate's batch) on every core.

A range step was one thread on a 2-core machine: the other core idled while a step cleaned, validated or gated
65 independent days. `submit` hands such work to a process pool shared by every step of the process (spawned
once, so each worker imports pandas and great-expectations once, not per step); the step keeps the order of
its days and its writes, taking results back in order (`ordered`, `in_order`).

Workers: $LIQ_WORKERS, else the cores. One worker, or a process that may not have children (a daemonic one, as
in Celery's prefork pool), runs the work in place, at once: the same code path, no pool.
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import importlib
import multiprocessing
import multiprocessing.util
import os
import threading
from collections.abc import Callable, Iterable, Iterator

from . import heap

WORKERS_VAR = "LIQ_WORKERS"
# Fewer days than this in a process's runs are worked in place: starting the workers (each imports pandas,
# great-expectations and scipy) costs more than they save on a short range.
POOL_MIN_DAYS = 8

_pool: cf.ProcessPoolExecutor | None = None
_lock = threading.Lock()
_short = False        # this process's runs are too short for the pool (start)


def workers() -> int:
    """How many processes work in parallel here: $LIQ_WORKERS, else the cores."""
    value = os.environ.get(WORKERS_VAR, "").strip()
    try:
        n = int(value) if value else (os.cpu_count() or 1)
    except ValueError:
        raise ValueError(f"{WORKERS_VAR}={value!r}: expected a whole number of processes") from None
    return max(1, n)


def _in_place() -> bool:
    return _short or workers() == 1 or multiprocessing.current_process().daemon


def _exit_with_parent() -> None:
    """End this worker when the process that started it ends, even killed (kill -9 runs none of its exit hooks):
    the worker holds its task queue's write end too, so it would otherwise wait for work forever."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (parent.join(), os._exit(0)), name="exit-with-parent", daemon=True).start()


def _ready() -> None:
    """A worker's start: follow its parent, and import what the work needs (great-expectations takes seconds)
    before it is asked."""
    _exit_with_parent()
    heap.tune_collector()
    from .io import quality
    importlib.import_module(f"{__package__}.validation.periods")
    quality.warm()


def _executor() -> cf.ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # spawn, not fork: the caller is threaded (Dagster's run, the CLI's progress poller)
            _pool = cf.ProcessPoolExecutor(workers(), mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_ready)
            # A process that is itself a multiprocessing child (a symbol's run under `liq run`, a step under
            # Dagster's multiprocess executor) joins its children when it ends, before the pool's own exit hook
            # would stop them: without this finalizer, which runs first, it would wait for its idle workers forever.
            multiprocessing.util.Finalize(None, shutdown, exitpriority=100)
        return _pool


def start(days: int | None = None) -> None:
    """Start every worker now (each imports its libraries while the caller does something else, such as pulling
    raw data), not at the first parallel step. `days`: how many days of work this process has; fewer than
    POOL_MIN_DAYS are worked in place."""
    global _short
    _short = days is not None and days < POOL_MIN_DAYS
    if not _in_place():
        pool = _executor()
        for _ in range(workers()):   # the pool starts a worker per task while none is idle
            pool.submit(int)


def submit(fn: Callable, *args, **kwargs) -> cf.Future:
    """fn(*args, **kwargs) in a worker (fn and its arguments must pickle), or here and now when in place."""
    if _in_place():
        done: cf.Future = cf.Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as exc:
            done.set_exception(exc)
        return done
    return _executor().submit(fn, *args, **kwargs)


def in_order(submitted: Iterable[tuple[object, cf.Future]]) -> Iterator[tuple[object, object]]:
    """(key, result) for each (key, future) that `submitted` yields, in its order. It is advanced only while fewer
    than two futures per worker are in flight, so a producer submitting a year of days holds a few at a time. A
    future's error is raised at its turn; an error of `submitted` itself after the results of what it submitted
    before it. Futures not yet taken are cancelled where they have not started."""
    pending: collections.deque = collections.deque()
    submitted, stopped = iter(submitted), None
    try:
        while True:
            while stopped is None and len(pending) < 2 * workers():
                try:
                    pending.append(next(submitted))
                except StopIteration:
                    stopped = True
                except Exception as exc:        # the producer's error comes after what it produced before it
                    stopped = exc
            if not pending:
                if isinstance(stopped, Exception):
                    raise stopped
                return
            key, future = pending.popleft()
            yield key, future.result()
    finally:
        for _, future in pending:
            future.cancel()


def ordered(fn: Callable, items: Iterable, *args) -> Iterator:
    """fn(item, *args) for every item, computed in parallel, yielded in the items' order (in_order: an item's error
    is raised at its turn, after the items before it, and at most two items per worker are in flight)."""
    for _, result in in_order((item, submit(fn, item, *args)) for item in items):
        yield result


def shutdown() -> None:
    """Stop the workers (tests that change $LIQ_WORKERS; the pool is otherwise closed at exit)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None
