"""The worker pool range steps share (lib/parallel): order kept, errors at their item's turn, in place when one
worker, and a multiprocessing child that used it still exits (it used to wait for its idle workers forever)."""
import multiprocessing
import os

import pytest

from liq_pipeline.lib import parallel
from liq_pipeline.lib.errors import InputError


def slow_square(x: int, fail_at: int | None = None) -> tuple[int, int]:
    import time
    time.sleep(0.05 * (x % 3))          # later items often finish first: the order must still be the items'
    if x == fail_at:
        raise InputError(f"item {x} is bad")
    return x * x, os.getpid()


@pytest.fixture(scope="module")
def two_workers():
    # one pool for the module's tests: each worker imports great-expectations as it starts (seconds)
    before = os.environ.get(parallel.WORKERS_VAR)
    os.environ[parallel.WORKERS_VAR] = "2"
    parallel.shutdown()
    yield
    parallel.shutdown()
    if before is None:
        del os.environ[parallel.WORKERS_VAR]
    else:
        os.environ[parallel.WORKERS_VAR] = before


def test_results_come_in_the_items_order_from_other_processes(two_workers):
    out = list(parallel.ordered(slow_square, range(10)))
    assert [sq for sq, _ in out] == [x * x for x in range(10)]
    assert os.getpid() not in {pid for _, pid in out}


def collector_thresholds(_item) -> tuple:
    import gc
    return gc.get_threshold()


def test_workers_collect_as_the_pipeline_sets_it(two_workers):
    # a worker holds the pipeline's whole heap: default thresholds walk it again and again (lib/heap)
    from liq_pipeline.lib import heap
    want = (heap.YOUNG_THRESHOLD, heap.OLDER_THRESHOLD, heap.OLDER_THRESHOLD)
    assert list(parallel.ordered(collector_thresholds, range(4))) == [want] * 4


def test_the_heap_is_frozen_before_the_last_collection_at_exit():
    import subprocess
    import sys
    # exit hooks run last registered first: this one runs after tune_collector's (called twice, as a process with
    # two entry points may)
    code = ("import atexit, gc; from liq_pipeline.lib import heap; "
            "atexit.register(lambda: print(gc.get_freeze_count() > 0, gc.get_threshold())); "
            "heap.tune_collector(); heap.tune_collector()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    from liq_pipeline.lib import heap
    assert out.strip() == f"True {(heap.YOUNG_THRESHOLD, heap.OLDER_THRESHOLD, heap.OLDER_THRESHOLD)}"


def test_an_error_is_raised_at_its_items_turn_after_the_items_before_it(two_workers):
    got = []
    with pytest.raises(InputError, match="item 4 is bad"):
        for sq, _ in parallel.ordered(slow_square, range(10), 4):
            got.append(sq)
    assert got == [0, 1, 4, 9]


def test_a_producers_error_comes_after_what_it_submitted_before_it(two_workers):
    # as the model step's: the book submits each day's tables, then a day fails (no bracket table for it)
    def days():
        for x in range(5):
            yield x, parallel.submit(slow_square, x)
        raise InputError("day 5 has no bracket table")

    got = []
    with pytest.raises(InputError, match="day 5"):
        for x, (sq, _) in parallel.in_order(days()):
            got.append((x, sq))
    assert got == [(x, x * x) for x in range(5)]


def test_one_worker_runs_in_place(monkeypatch):
    monkeypatch.setenv(parallel.WORKERS_VAR, "1")
    parallel.shutdown()
    assert {pid for _, pid in parallel.ordered(slow_square, range(3))} == {os.getpid()}
    assert parallel.submit(slow_square, 3).result()[0] == 9
    with pytest.raises(InputError):
        parallel.submit(slow_square, 2, 2).result()


def test_a_short_range_is_worked_in_place_and_a_long_one_in_the_pool(two_workers):
    # a few days' run does not pay for the workers' start; parallel.start(days) says how long the runs are
    try:
        parallel.start(parallel.POOL_MIN_DAYS - 1)
        assert {pid for _, pid in parallel.ordered(slow_square, range(4))} == {os.getpid()}
        parallel.start(parallel.POOL_MIN_DAYS)
        assert os.getpid() not in {pid for _, pid in parallel.ordered(slow_square, range(4))}
    finally:
        parallel.start()


def test_a_bad_worker_count_is_named(monkeypatch):
    monkeypatch.setenv(parallel.WORKERS_VAR, "two")
    with pytest.raises(ValueError, match="LIQ_WORKERS='two'"):
        parallel.workers()


def _child_uses_the_pool() -> None:
    assert parallel.submit(slow_square, 3).result()[0] == 9


def test_a_multiprocessing_child_that_used_the_pool_exits(monkeypatch):
    # as a symbol's run under `liq run` does: the child's pool must be stopped before the child joins its children
    monkeypatch.setenv(parallel.WORKERS_VAR, "2")
    child = multiprocessing.get_context("spawn").Process(target=_child_uses_the_pool)
    child.start()
    child.join(timeout=60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0


def test_workers_end_when_their_parent_is_killed(tmp_path):
    # kill -9 of a `liq run` (the crash-safety tests do it) runs no exit hook: its workers must not stay behind
    import signal
    import subprocess
    import sys
    import time
    code = ("import sys\nfrom liq_pipeline.lib import parallel\nfrom tests.test_parallel import slow_square\n"
            "print(' '.join(sorted({str(pid) for _, pid in parallel.ordered(slow_square, range(8))})), flush=True)\n"
            "import time\ntime.sleep(600)\n")
    env = {**os.environ, parallel.WORKERS_VAR: "2"}
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env,
                              cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert workers and parent.pid not in workers
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers)
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
